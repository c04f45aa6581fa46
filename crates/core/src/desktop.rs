//! What the desktop backend (switchboard-agent, behind Tauri commands) and the UI say to
//! each other. Plain serde types, so the wasm UI and the native backend share them.

use serde::{Deserialize, Serialize};

use crate::agent::Agent;
use crate::ids::{CallSid, LeadId, NumberId};
use crate::lead::TranscriptTurn;
use crate::record::CallRecord;

/// Whether the backend can reach the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// Connected to the event stream.
    pub online: bool,
    /// When the cache last received a change (ms since epoch).
    pub last_sync_at: Option<i64>,
    /// Why we are offline, for people.
    pub detail: Option<String>,
}

/// Who is signed in where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Gateway base URL.
    pub gateway_url: String,
    /// The signed-in agent.
    pub agent: Agent,
    /// The token is in the OS keyring (false: in memory only, until the app quits, because
    /// no keyring was available).
    #[serde(default = "remembered_default")]
    pub remembered: bool,
}

fn remembered_default() -> bool {
    true
}

/// Everything the UI needs to draw its frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleState {
    /// Signed in, or not.
    pub session: Option<Session>,
    /// Online, or not.
    pub connection: ConnectionState,
    /// Actions waiting to be sent.
    pub outbox_pending: usize,
    /// Actions the gateway refused.
    pub outbox_failed: usize,
}

/// What the first frame shows, read from the cache before the window opens and handed to
/// the page with it: the queue is on screen without a round trip to the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    /// Session, connection and outbox, as [`ConsoleState`] says them.
    pub state: ConsoleState,
    /// The cached queue.
    pub queue: Vec<CallSummary>,
    /// The cached history (the first page).
    pub history: Vec<CallSummary>,
    /// The business's numbers, for the dialer.
    pub numbers: Vec<crate::number::PhoneNumber>,
    /// The agents, for transfers and the board.
    pub agents: Vec<Agent>,
}

/// A call as the history and the queue show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    /// The call (flattened).
    #[serde(flatten)]
    pub call: CallRecord,
    /// The lead's name, when the call has a known lead.
    pub lead_name: Option<String>,
}

/// A change the UI should show. Sent over a Tauri channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UiEvent {
    /// Online/offline changed.
    Connection(ConnectionState),
    /// A call was created or changed.
    CallChanged(CallRecord),
    /// A new inbound call is ringing (for a notification).
    IncomingCall {
        /// The call.
        call_sid: CallSid,
        /// Who is calling.
        from: String,
        /// The lead's name, if known.
        lead_name: Option<String>,
    },
    /// A transcript turn arrived.
    TranscriptTurn(TranscriptTurn),
    /// An agent's status changed.
    AgentChanged(Agent),
    /// The provider refused an action.
    ActionFailed {
        /// The call.
        call_sid: Option<CallSid>,
        /// What went wrong.
        message: String,
    },
    /// The outbox changed.
    Outbox {
        /// Waiting.
        pending: usize,
        /// Refused.
        failed: usize,
    },
    /// The business's numbers or their providers changed (an admin edited them): reload
    /// the number selector, and the capabilities shown with calls.
    NumbersChanged,
    /// A `tel:` link asked to call this number: open the dialer with it.
    DialRequested {
        /// The number as the link gave it.
        number: String,
    },
    /// The session ended (sign-out, or the token was refused).
    SignedOut {
        /// Why.
        reason: String,
    },
    /// Microphone and speaker levels of the call's audio, about 20 times a second.
    AudioLevels(AudioLevels),
    /// The call's audio transport changed: connecting, connected, reconnecting, closed.
    AudioState {
        /// The call.
        call_sid: CallSid,
        /// The state, for people.
        state: String,
    },
    /// Something about the audio the agent should know (a device went away, ...).
    AudioProblem {
        /// For people.
        message: String,
    },
}

/// The audio devices settings can pick from, and the current choice (`None`: system default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioDeviceList {
    /// Microphones.
    pub inputs: Vec<String>,
    /// Speakers and headsets.
    pub outputs: Vec<String>,
    /// The chosen microphone.
    pub input: Option<String>,
    /// The chosen speaker.
    pub output: Option<String>,
    /// Calls use files instead of devices (demo or test setup), so there is nothing to pick.
    pub files: bool,
}

/// One meter reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AudioLevel {
    /// RMS, dB relative to full scale (-100 is silence).
    pub rms_dbfs: f32,
    /// Peak, dB relative to full scale.
    pub peak_dbfs: f32,
}

/// Both meters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AudioLevels {
    /// What the microphone sends.
    pub input: AudioLevel,
    /// What the speaker plays.
    pub output: AudioLevel,
}

/// Start an outbound call from the dialer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialRequest {
    /// Who to call (validated as E.164 by the backend).
    pub to: String,
    /// From which number.
    pub from_number_id: NumberId,
    /// For which lead.
    pub lead_id: Option<LeadId>,
}

/// Errors of desktop commands, tagged so the UI can match on `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum DesktopError {
    /// Sign in first.
    #[error("not signed in")]
    NotSignedIn,
    /// This needs the gateway and it cannot be reached.
    #[error("{0}")]
    Offline(String),
    /// The gateway said no.
    #[error("{message}")]
    Gateway {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// The gateway's message.
        message: String,
    },
    /// The input is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The OS keyring failed.
    #[error("the system keyring is unavailable: {0}")]
    Keyring(String),
    /// The local cache failed.
    #[error("local cache error: {0}")]
    Cache(String),
}
