//! Agents: who they are to the business and whether they can take a call.

use serde::{Deserialize, Serialize};

use crate::ids::AgentId;

/// What an agent may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    /// Takes and places calls.
    Agent,
    /// Also watches the floor and monitors calls.
    Supervisor,
    /// Also configures the business.
    Admin,
}

impl AgentRole {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
        }
    }

    /// Parse a stored name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "supervisor" => Some(Self::Supervisor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Whether an agent can take a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Ready for the next call.
    Available,
    /// On a call.
    Busy,
    /// Finishing notes after a call.
    WrapUp,
    /// On a break.
    Away,
    /// Signed out.
    Offline,
}

impl AgentStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Busy => "busy",
            Self::WrapUp => "wrap_up",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    /// Parse a stored name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "available" => Some(Self::Available),
            "busy" => Some(Self::Busy),
            "wrap_up" => Some(Self::WrapUp),
            "away" => Some(Self::Away),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// An agent as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Agent {
    /// Id.
    pub id: AgentId,
    /// Login name.
    pub name: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: AgentRole,
    /// Current status.
    pub status: AgentStatus,
    /// When the status last changed (ms since epoch).
    pub status_at: i64,
}
