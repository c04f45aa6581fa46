//! How a desktop joins a call's audio.

use serde::{Deserialize, Serialize};

/// Returned with call actions so the desktop knows how to connect its audio. More variants
/// (LiveKit room, the simulator's WebRTC peer) come with the media work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaJoin {
    /// No audio to join (the provider carries it, or the call is not connected).
    None,
}
