//! Leads and the transcript turns of their calls, joined by `call_sid`.

use serde::{Deserialize, Serialize};

use crate::ids::{CallSid, LeadId};

/// Where a lead stands in the sales or support funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Never reached.
    New,
    /// Spoken to.
    Contacted,
    /// Worth pursuing.
    Qualified,
    /// Not a fit.
    Unqualified,
    /// Became a customer.
    Converted,
}

impl LeadStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Contacted => "contacted",
            Self::Qualified => "qualified",
            Self::Unqualified => "unqualified",
            Self::Converted => "converted",
        }
    }

    /// Parse a stored name; unknown names read as `New` rather than failing a page.
    pub fn from_name(s: &str) -> Self {
        match s {
            "contacted" => Self::Contacted,
            "qualified" => Self::Qualified,
            "unqualified" => Self::Unqualified,
            "converted" => Self::Converted,
            _ => Self::New,
        }
    }
}

/// A person the business talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lead {
    /// Id.
    pub id: LeadId,
    /// Their phone number (E.164).
    pub phone: String,
    /// Full name.
    pub name: String,
    /// Company, if any.
    pub company: Option<String>,
    /// Funnel status.
    pub status: LeadStatus,
    /// Free-form notes.
    pub notes: Option<String>,
    /// The latest call with this lead.
    pub call_sid: Option<CallSid>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last changed (ms since epoch).
    pub updated_at: i64,
}

/// Who spoke a transcript turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TranscriptRole {
    /// The customer.
    Caller,
    /// The human agent.
    Agent,
    /// An AI voice agent.
    Ai,
    /// System notices (hold, transfer...).
    System,
}

impl TranscriptRole {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Agent => "agent",
            Self::Ai => "ai",
            Self::System => "system",
        }
    }

    /// Parse a stored name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "caller" => Some(Self::Caller),
            "agent" => Some(Self::Agent),
            "ai" => Some(Self::Ai),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// One utterance of a call's transcript. `(call_sid, sequence)` is unique, so a
/// redelivered turn is stored once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TranscriptTurn {
    /// The call it belongs to.
    pub call_sid: CallSid,
    /// Who spoke.
    pub role: TranscriptRole,
    /// What was said.
    pub content: String,
    /// When (ms since epoch).
    pub occurred_at: i64,
    /// Order within the call, from 0.
    pub sequence: i64,
}
