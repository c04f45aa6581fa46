//! Supervisors on a call and the agent's consult: who listens, whispers or barges, and
//! where an attended (warm) transfer stands. Both ride on the [`crate::CallRecord`], so
//! every desktop learns of them from the ordinary call updates.

use serde::{Deserialize, Serialize};

use crate::ids::AgentId;

/// How a supervisor takes part in a call's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// Hears caller and agent; nobody hears the supervisor.
    Listen,
    /// Hears both; only the agent hears the supervisor (coaching).
    Whisper,
    /// Joins the conversation: everyone hears everyone.
    Barge,
}

impl MonitorMode {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Listen => "listen",
            Self::Whisper => "whisper",
            Self::Barge => "barge",
        }
    }

    /// Whether the agent on the call can hear the supervisor.
    pub const fn heard_by_agent(self) -> bool {
        !matches!(self, Self::Listen)
    }
}

impl std::fmt::Display for MonitorMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A supervisor monitoring a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallMonitor {
    /// The supervisor.
    pub agent_id: AgentId,
    /// Their display name, for the agent's indicator.
    pub name: String,
    /// How they take part now.
    pub mode: MonitorMode,
    /// When they joined (ms since epoch).
    pub since: i64,
}

/// Where an attended transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsultState {
    /// The target is being reached; the caller is on hold.
    Ringing,
    /// The agent and the target talk; the caller is on hold and hears neither.
    Talking,
    /// All three hear each other.
    Conference,
}

/// An attended transfer in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Consult {
    /// The agent who started it (the one holding the call).
    pub by: AgentId,
    /// Who is consulted: an E.164 number or `agent:<id>`, as `transfer_to` stores it.
    pub to: String,
    /// Where it stands.
    pub state: ConsultState,
    /// When it reached this state (ms since epoch).
    pub since: i64,
}

impl Consult {
    /// The consulted agent, when the target is one.
    pub fn target_agent(&self) -> Option<AgentId> {
        match crate::api::TransferTarget::from_stored(&self.to)? {
            crate::api::TransferTarget::Agent(a) => Some(a),
            crate::api::TransferTarget::Number(_) => None,
        }
    }
}

/// A step of an attended transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsultStep {
    /// The caller goes on hold and the target is reached.
    Start,
    /// The consulted agent picks up.
    Accept,
    /// Caller, agent and target all together.
    Conference,
    /// The caller is joined to the target and the agent leaves.
    Complete,
    /// The target leaves; the agent is back with the caller.
    Cancel,
}

impl ConsultStep {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Accept => "accept",
            Self::Conference => "conference",
            Self::Complete => "complete",
            Self::Cancel => "cancel",
        }
    }
}
