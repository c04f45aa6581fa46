//! How a desktop joins a call's audio.

use serde::{Deserialize, Serialize};

/// Returned with call actions so the desktop knows how to connect its audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaJoin {
    /// No audio to join (the provider carries it, or the call is not connected).
    None,
    /// A direct WebRTC peer (the simulator's caller): POST a [`MediaOffer`] to `signal` and
    /// apply the [`MediaAnswer`]; POST again with an ICE-restart offer after a network drop.
    Peer {
        /// Gateway path of the signalling endpoint, e.g. `/v1/calls/{call_sid}/media`.
        signal: String,
    },
    /// A LiveKit room (LiveKit SIP): the caller is a participant in `room`; join it at
    /// `url` with `token`, which grants this room only and expires.
    LiveKit {
        /// The server, `ws(s)://…`.
        url: String,
        /// A room token for this agent.
        token: String,
        /// The room's name.
        room: String,
    },
    /// The audio is on a phone the PBX rings (a desk phone or a softphone registered to
    /// it), not in the desktop: the console tells the agent to take the call there.
    External {
        /// The extension that rings, e.g. `1001`.
        extension: String,
    },
}

/// `POST /v1/calls/{call_sid}/media`: the desktop's SDP offer (complete, non-trickle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MediaOffer {
    /// Session description with all ICE candidates.
    pub sdp: String,
}

/// The far end's SDP answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MediaAnswer {
    /// Session description with all ICE candidates.
    pub sdp: String,
}
