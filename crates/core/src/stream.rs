//! The realtime event stream (`GET /v1/events?since=ID`): every change, in order, each with
//! an increasing id a client resumes from.

use serde::{Deserialize, Serialize};

use crate::ids::CallSid;

/// What kind of change an event carries; `data` holds the matching payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamEventKind {
    /// A new call record; `data` is the [`crate::CallRecord`].
    CallCreated,
    /// A call record changed; `data` is the whole record after the change.
    CallUpdated,
    /// An agent asked for an action; `data` has `action`, `agent_id` and the record.
    CallAction,
    /// The provider refused an action; `data` has `action` and `error`.
    CallActionFailed,
    /// A transcript turn arrived; `data` is the [`crate::TranscriptTurn`].
    TranscriptTurn,
    /// An agent's status changed; `data` is the [`crate::Agent`].
    AgentStatus,
    /// A lead changed; `data` is the [`crate::Lead`].
    LeadUpdated,
    /// A webhook named a call we do not know; `data` says what arrived (audit trail).
    WebhookRejected,
    /// An admin added, changed or removed a provider; `data` has `provider_id`, `name`,
    /// `change` and the admin's `agent_id` (the config itself is not repeated). Every
    /// gateway replica reloads that provider when it reads this.
    ProviderChanged,
    /// An admin added, changed or removed a number; `data` has `number_id`, `change` and
    /// the number as it now stands (absent once removed).
    NumberChanged,
    /// A supervisor started, switched or stopped monitoring a call; `data` has the
    /// supervisor's `agent_id` and `name`, `change` (start, switch, stop), `mode` and the
    /// `call` after the change.
    CallMonitor,
    /// A step of an attended transfer; `data` has `agent_id`, `step`, `to` and the `call`
    /// after it.
    CallConsult,
    /// An admin changed the business's settings; `data` has them and the admin's `agent_id`.
    SettingsChanged,
    /// An admin changed a queue (its name or answer-time target); `data` has the `queue`
    /// and the admin's `agent_id`.
    QueueChanged,
}

impl StreamEventKind {
    /// The snake_case name stored in `call_events.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CallCreated => "call_created",
            Self::CallUpdated => "call_updated",
            Self::CallAction => "call_action",
            Self::CallActionFailed => "call_action_failed",
            Self::TranscriptTurn => "transcript_turn",
            Self::AgentStatus => "agent_status",
            Self::LeadUpdated => "lead_updated",
            Self::WebhookRejected => "webhook_rejected",
            Self::ProviderChanged => "provider_changed",
            Self::NumberChanged => "number_changed",
            Self::CallMonitor => "call_monitor",
            Self::CallConsult => "call_consult",
            Self::SettingsChanged => "settings_changed",
            Self::QueueChanged => "queue_changed",
        }
    }

    /// Parse a stored name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            Self::CallCreated,
            Self::CallUpdated,
            Self::CallAction,
            Self::CallActionFailed,
            Self::TranscriptTurn,
            Self::AgentStatus,
            Self::LeadUpdated,
            Self::WebhookRejected,
            Self::ProviderChanged,
            Self::NumberChanged,
            Self::CallMonitor,
            Self::CallConsult,
            Self::SettingsChanged,
            Self::QueueChanged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One change on the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StreamEvent {
    /// Increasing cursor; reconnect with `since=<last id seen>`.
    pub id: i64,
    /// What changed.
    pub kind: StreamEventKind,
    /// The call concerned, if any.
    pub call_sid: Option<CallSid>,
    /// When the gateway recorded it (ms since epoch).
    pub at: i64,
    /// The payload; see [`StreamEventKind`].
    pub data: serde_json::Value,
}
