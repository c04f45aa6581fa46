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
    /// How many times the connection has changed since the backend started. The UI hears
    /// a change as an event and reads the whole state by request, and the two travel
    /// separately: a state read before a change may arrive after its event. The higher
    /// count is the newer ([`ConnectionState::newer_than`]).
    #[serde(default)]
    pub changes: u64,
}

impl ConnectionState {
    /// Whether this reading should replace `current`: it was taken at or after it.
    pub fn newer_than(&self, current: &Self) -> bool {
        self.changes >= current.changes
    }
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

/// `queue` (waiting calls, oldest first: by arrival, then call sid, as the cache orders
/// it) after `changed` changed: the call leaves it, or takes its place in it when it
/// waits for an agent. The UI keeps its queue with this from the events alone, so a call's
/// change costs no round trip to the backend.
pub fn requeue(queue: &mut Vec<CallSummary>, changed: &CallSummary) {
    let key = |s: &CallSummary| (s.call.created_at, s.call.call_sid.clone());
    queue.retain(|s| s.call.call_sid != changed.call.call_sid);
    if changed.call.waits_for_agent() {
        let at = queue.partition_point(|s| key(s) < key(changed));
        queue.insert(at, changed.clone());
    }
}

/// A queue read from the backend, with the call changes the UI has seen lately laid over
/// it: an event and a reply travel apart, so a reply read before a change can arrive after
/// it. A change newer than the reply's copy of its call (or of a call the reply lacks)
/// wins; an older one is what the reply already includes.
pub fn settle_queue(mut read: Vec<CallSummary>, recent: &[CallSummary]) -> Vec<CallSummary> {
    for changed in recent {
        let newer = read
            .iter()
            .find(|s| s.call.call_sid == changed.call.call_sid)
            .is_none_or(|s| s.call.status_at < changed.call.status_at);
        if newer {
            requeue(&mut read, changed);
        }
    }
    read
}

/// A change the UI should show. Sent over a Tauri channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UiEvent {
    /// Online/offline changed.
    Connection(ConnectionState),
    /// A call was created or changed (with its lead's name, for the queue and history).
    CallChanged(CallSummary),
    /// A new inbound call is ringing: for the shell's notification. The page learns of the
    /// call from its `CallChanged` and is not sent this (see [`UiEvent::for_page`]).
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
    /// Microphone and speaker levels of the call's audio, about 10 times a second.
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

impl UiEvent {
    /// Whether the page needs this event. Each message to a web view costs it memory it
    /// keeps for a while, so what only the shell uses stays in the shell.
    pub fn for_page(&self) -> bool {
        !matches!(self, Self::IncomingCall { .. })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::BusinessId;
    use crate::status::{CallStatus, Direction};

    /// Call `n` (sids sort by `n`: one ULID time, rising randomness), arrived at `created_at`.
    fn call(n: u128, created_at: i64, direction: Direction, status: CallStatus) -> CallSummary {
        let mut call = CallRecord::outbound(
            CallSid::from_parts(1, n),
            BusinessId::try_from(1).unwrap(),
            "+14155550100".into(),
            "+14155550101".into(),
            created_at,
        );
        call.direction = direction;
        call.status = status;
        CallSummary { call, lead_name: None }
    }

    fn order(queue: &[CallSummary]) -> Vec<i64> {
        queue.iter().map(|s| s.call.created_at).collect()
    }

    #[test]
    fn a_connection_reading_is_newer_only_when_taken_at_or_after_another() {
        let online = ConnectionState {
            online: true,
            changes: 1,
            ..Default::default()
        };
        let dropped = ConnectionState {
            changes: 2,
            ..Default::default()
        };
        assert!(dropped.newer_than(&online));
        assert!(
            !online.newer_than(&dropped),
            "a read from before the drop does not undo it"
        );
        assert!(online.clone().newer_than(&online), "the same reading again applies");
        // What an older backend (no count) sent reads as the first.
        let old: ConnectionState = serde_json::from_str(r#"{"online":true,"last_sync_at":null,"detail":null}"#)
            .expect("a payload from before the count reads");
        assert_eq!(old.changes, 0);
    }

    #[test]
    fn waiting_calls_take_their_place_by_arrival_and_leave_when_taken() {
        let mut q = Vec::new();
        requeue(&mut q, &call(2, 20, Direction::Inbound, CallStatus::Ringing));
        requeue(&mut q, &call(4, 30, Direction::Inbound, CallStatus::Queued));
        // Arrived earlier, heard of later (a late webhook): still ahead.
        requeue(&mut q, &call(1, 10, Direction::Inbound, CallStatus::Ringing));
        // The same arrival time: the call sid breaks the tie, as the cache's ORDER BY does.
        requeue(&mut q, &call(3, 20, Direction::Inbound, CallStatus::Queued));
        assert_eq!(order(&q), [10, 20, 20, 30]);
        assert!(q[1].call.call_sid < q[2].call.call_sid);
        let second = q[1].call.call_sid.clone();
        // A change that keeps it waiting replaces it in place, never twice.
        let mut again = call(2, 20, Direction::Inbound, CallStatus::Queued);
        again.lead_name = Some("Ada".into());
        requeue(&mut q, &again);
        assert_eq!(order(&q), [10, 20, 20, 30]);
        assert_eq!(q[1].call.call_sid, second);
        assert_eq!(q[1].lead_name.as_deref(), Some("Ada"));
        // Answered, abandoned: gone.
        requeue(&mut q, &call(1, 10, Direction::Inbound, CallStatus::Answered));
        requeue(&mut q, &call(4, 30, Direction::Inbound, CallStatus::Abandoned));
        assert_eq!(order(&q), [20, 20]);
    }

    #[test]
    fn only_inbound_calls_not_yet_taken_wait() {
        let mut q = Vec::new();
        for status in CallStatus::ALL {
            requeue(&mut q, &call(1, 1, Direction::Outbound, status));
            assert!(q.is_empty(), "an outbound call never waits ({status:?})");
            requeue(&mut q, &call(1, 1, Direction::Inbound, status));
            let waits = matches!(status, CallStatus::Ringing | CallStatus::Queued);
            assert_eq!(q.len(), usize::from(waits), "inbound {status:?}");
        }
    }

    #[test]
    fn a_queue_read_before_a_change_does_not_undo_it() {
        let waiting = |n, at| {
            let mut s = call(n, 10 * n as i64, Direction::Inbound, CallStatus::Ringing);
            s.call.status_at = at;
            s
        };
        let taken = |n, at| {
            let mut s = waiting(n, at);
            s.call.status = CallStatus::Answered;
            s
        };
        // Read before call 3 rang and before call 1 was answered.
        let read = vec![waiting(1, 100), waiting(2, 100)];
        let recent = [waiting(3, 150), taken(1, 160), waiting(2, 90)];
        let settled = settle_queue(read, &recent);
        assert_eq!(order(&settled), [20, 30]);
        // Call 2's older change did not replace what the reply said about it.
        assert_eq!(settled[0].call.status_at, 100);
        // A reply that already includes every change is left as it is.
        let read = vec![waiting(2, 100), waiting(3, 150)];
        assert_eq!(settle_queue(read.clone(), &recent), read);
    }
}
