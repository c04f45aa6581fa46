//! The business's own phone numbers.

use serde::{Deserialize, Serialize};

use crate::ids::{NumberId, ProviderId};
use crate::phone::E164;

/// What a number can be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NumberCapabilities {
    /// Customers can call it.
    pub inbound: bool,
    /// Agents can call out from it.
    pub outbound: bool,
}

/// What a provider can do with a call; the desktop disables the controls it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProviderCapabilities {
    /// Receives calls.
    pub inbound: bool,
    /// Places calls.
    pub outbound: bool,
    /// Hold and resume.
    pub hold: bool,
    /// Transfer to a number.
    pub transfer_to_number: bool,
    /// Transfer to another agent.
    pub transfer_to_agent: bool,
    /// Send DTMF.
    pub dtmf: bool,
    /// Record calls.
    pub recording: bool,
    /// Streams live transcript turns.
    pub transcripts: bool,
    /// Places calls handled by an AI agent (`ai_agent` on `POST /v1/calls`).
    #[serde(default)]
    pub ai_agents: bool,
    /// Supervisors can listen, whisper and barge (`/v1/calls/{call_sid}/monitor`).
    #[serde(default)]
    pub monitor: bool,
    /// Attended transfer: consult, conference, complete, cancel
    /// (`/v1/calls/{call_sid}/consult`).
    #[serde(default)]
    pub warm_transfer: bool,
}

/// A business phone number and the provider that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PhoneNumber {
    /// Id.
    pub id: NumberId,
    /// The number.
    pub e164: E164,
    /// Label shown in the number selector ("Sales US").
    pub label: String,
    /// Provider carrying it.
    pub provider_id: ProviderId,
    /// That provider's configured name.
    pub provider: String,
    /// That provider's kind (simulator, twilio, asterisk, livekit).
    pub provider_kind: String,
    /// Inbound/outbound capability.
    pub capabilities: NumberCapabilities,
    /// Preselected for outbound calls.
    pub is_default: bool,
    /// What its provider can do (all false when the provider is not running).
    #[serde(default)]
    pub provider_capabilities: ProviderCapabilities,
}
