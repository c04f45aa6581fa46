//! Request and response bodies of the gateway's REST API. JSON is snake_case; every call
//! carries `call_sid` and `status`.

use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentStatus};
use crate::ids::{AgentId, CallSid, LeadId, NumberId};
use crate::lead::{Lead, TranscriptRole, TranscriptTurn};
use crate::media::MediaJoin;
use crate::number::PhoneNumber;
use crate::phone::E164;
use crate::record::CallRecord;
use crate::status::CallStatus;

/// `POST /v1/calls`: place an outbound call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OutboundCallRequest {
    /// Who to call.
    pub to: E164,
    /// Which business number to call from (must be outbound-capable).
    pub from_number_id: NumberId,
    /// The lead being called, if any.
    #[serde(default)]
    pub lead_id: Option<LeadId>,
    /// Hand the call to this AI agent (one the number's provider has configured, e.g. an
    /// ElevenLabs agent) instead of the calling agent.
    #[serde(default)]
    pub ai_agent: Option<String>,
}

/// The reply to an action or an outbound call: the record as it stands and how to join
/// the audio. Status changes are confirmed later on the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallActionResponse {
    /// The call.
    pub call: CallRecord,
    /// How to join the audio.
    pub media: MediaJoin,
}

/// Where a transfer goes: a JSON string is an E.164 number, a JSON integer an agent id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum TransferTarget {
    /// An outside number.
    Number(E164),
    /// Another agent of the same business.
    Agent(AgentId),
}

impl TransferTarget {
    /// Stored form: the number, or `agent:<id>`.
    pub fn to_stored(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Agent(a) => format!("agent:{a}"),
        }
    }

    /// Parse the stored form.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s.strip_prefix("agent:") {
            Some(id) => id.parse().ok().map(Self::Agent),
            None => s.parse().ok().map(Self::Number),
        }
    }
}

/// `POST /v1/calls/{call_sid}/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Number (string) or agent id (integer).
    pub to: TransferTarget,
}

/// `POST /v1/calls/{call_sid}/dtmf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DtmfRequest {
    /// Digits 0-9, `*`, `#`, A-D and `w` (half-second pause); at most 64.
    pub digits: String,
}

impl DtmfRequest {
    /// Check the digits; returns a message for people when they are not valid.
    pub fn validate(&self) -> Result<(), String> {
        if self.digits.is_empty() || self.digits.len() > 64 {
            return Err("digits must be 1 to 64 characters".into());
        }
        match self
            .digits
            .chars()
            .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | 'w'))
        {
            Some(c) => Err(format!("{c:?} is not a DTMF digit (0-9, *, #, A-D, w)")),
            None => Ok(()),
        }
    }
}

/// Start or stop recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordingAction {
    /// Start recording.
    Start,
    /// Stop recording.
    Stop,
}

/// `POST /v1/calls/{call_sid}/recording`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordingRequest {
    /// start or stop.
    pub action: RecordingAction,
}

/// `GET /v1/calls` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CallListQuery {
    /// Only calls in this status.
    #[serde(default)]
    pub status: Option<CallStatus>,
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only calls older than this one (the previous page's `next_before`).
    #[serde(default)]
    pub before: Option<CallSid>,
}

/// A page of call history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallList {
    /// The calls.
    pub calls: Vec<CallRecord>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<CallSid>,
}

/// `GET /v1/calls/{call_sid}`: the call with its lead and transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallDetail {
    /// The call (flattened: `call_sid`, `status`, ... are top-level).
    #[serde(flatten)]
    pub call: CallRecord,
    /// Its lead, if known.
    pub lead: Option<Lead>,
    /// Its transcript, in order.
    pub transcript: Vec<TranscriptTurn>,
    /// Its audit trail: actions asked for and refused, supervisors joining and leaving,
    /// consult steps; oldest first.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// One line of a call's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HistoryEntry {
    /// When (ms since epoch).
    pub at: i64,
    /// Which kind of event.
    pub kind: crate::StreamEventKind,
    /// Who did it, when a person did.
    pub agent_id: Option<crate::AgentId>,
    /// What happened, in words ("Sam started listening").
    pub what: String,
}

impl HistoryEntry {
    /// The audit line for a stream event about a call; `None` for events that are not part
    /// of the trail (status updates, transcript turns).
    pub fn from_event(ev: &crate::StreamEvent) -> Option<Self> {
        use crate::StreamEventKind as K;
        let d = &ev.data;
        let text = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
        let what = match ev.kind {
            K::CallAction => format!("{} asked for", text("action").replace('_', " ")),
            K::CallActionFailed => format!(
                "{} refused: {}",
                text("action").replace('_', " "),
                d.pointer("/error/message")
                    .and_then(|v| v.as_str())
                    .unwrap_or("no reason given")
            ),
            K::CallMonitor => match text("change").as_str() {
                "start" => format!("{} started monitoring ({})", text("name"), text("mode")),
                "switch" => format!("{} switched to {}", text("name"), text("mode")),
                _ => format!("{} stopped monitoring", text("name")),
            },
            K::CallConsult => match text("step").as_str() {
                "start" => format!("consult started with {}", text("to")),
                "accept" => format!("{} picked up the consult", text("to")),
                "conference" => "three-way conference".to_owned(),
                "complete" => format!("transferred to {} after a consult", text("to")),
                _ => "consult cancelled".to_owned(),
            },
            _ => return None,
        };
        Some(Self {
            at: ev.at,
            kind: ev.kind,
            agent_id: d.get("agent_id").and_then(|v| serde_json::from_value(v.clone()).ok()),
            what,
        })
    }
}

/// `POST` and `PATCH /v1/calls/{call_sid}/monitor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MonitorRequest {
    /// listen, whisper or barge.
    pub mode: crate::MonitorMode,
}

/// `POST /v1/calls/{call_sid}/consult`: start an attended transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsultRequest {
    /// Number (string) or agent id (integer).
    pub to: TransferTarget,
}

/// `GET /v1/settings`: the business's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BusinessSettings {
    /// Agents are shown when a supervisor listens to their call (whisper and barge are
    /// always shown). Off by default: covert quality monitoring.
    pub announce_listening: bool,
}

/// `PATCH /v1/settings` (admins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// See [`BusinessSettings::announce_listening`].
    pub announce_listening: Option<bool>,
}

/// `GET /v1/floor` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FloorQuery {
    /// Where "today" starts for the queue figures (ms since the epoch; the supervisor's
    /// local midnight). Default: midnight UTC. At most 7 days back.
    #[serde(default)]
    pub day_start: Option<i64>,
}

/// A waiting call in `GET /v1/queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueEntry {
    /// The call (flattened).
    #[serde(flatten)]
    pub call: CallRecord,
    /// The caller's lead name, when the number is a known lead.
    pub lead_name: Option<String>,
}

/// `GET /v1/queue`: ringing and queued inbound calls, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueResponse {
    /// Waiting calls.
    pub calls: Vec<QueueEntry>,
}

/// `GET /v1/numbers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NumbersResponse {
    /// The business's numbers.
    pub numbers: Vec<PhoneNumber>,
}

/// `GET /v1/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentsResponse {
    /// The business's agents.
    pub agents: Vec<Agent>,
}

/// `PUT /v1/agents/me/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentStatusRequest {
    /// The new status.
    pub status: AgentStatus,
}

/// `PUT /v1/calls/{call_sid}/wrapup`: the agent's outcome and notes, saved with the call.
/// Send an `Idempotency-Key` header to make retries safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WrapUpRequest {
    /// Outcome, e.g. `resolved`, `follow_up`, `sale`, `not_interested` (1 to 64 characters).
    pub disposition: String,
    /// Free-form notes (at most 10,000 characters).
    #[serde(default)]
    pub notes: Option<String>,
}

impl WrapUpRequest {
    /// Check lengths; a message for people when they are wrong.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.disposition.trim();
        if d.is_empty() || d.chars().count() > 64 {
            return Err("disposition must be 1 to 64 characters".into());
        }
        if self.notes.as_ref().is_some_and(|n| n.chars().count() > 10_000) {
            return Err("notes must be at most 10,000 characters".into());
        }
        Ok(())
    }
}

/// The dispositions the console offers (the API accepts any short text).
pub const DISPOSITIONS: [(&str, &str); 6] = [
    ("resolved", "Resolved"),
    ("follow_up", "Follow-up needed"),
    ("sale", "Sale"),
    ("not_interested", "Not interested"),
    ("voicemail", "Left voicemail"),
    ("wrong_number", "Wrong number"),
];

/// `GET /v1/leads?phone=` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LeadQuery {
    /// Exact E.164 phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// At most this many (1 to 200, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /v1/leads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeadsResponse {
    /// Matching leads.
    pub leads: Vec<Lead>,
}

/// `GET /v1/leads/{id}`: the lead and its calls, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeadDetail {
    /// The lead (flattened).
    #[serde(flatten)]
    pub lead: Lead,
    /// Its calls, newest first (at most 50).
    pub calls: Vec<CallRecord>,
}

/// `GET /v1/transcripts/{call_sid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TranscriptResponse {
    /// The call.
    pub call_sid: CallSid,
    /// Its turns, in order.
    pub turns: Vec<TranscriptTurn>,
}

/// One turn in a transcript webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TranscriptTurnIn {
    /// Who spoke.
    pub role: TranscriptRole,
    /// What was said.
    pub content: String,
    /// When (ms since epoch).
    pub occurred_at: i64,
    /// Order within the call; a redelivered sequence is ignored.
    pub sequence: i64,
}

/// `POST /webhooks/transcripts/{source}`: turns of one call, by our `call_sid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TranscriptWebhook {
    /// The call.
    pub call_sid: CallSid,
    /// One or more turns.
    pub turns: Vec<TranscriptTurnIn>,
}

/// Every error the API returns: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Machine-readable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_found`, `invalid_request`, `illegal_transition`.
    pub code: String,
    /// What went wrong and how to fix it.
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Health {
    /// Always `ok` when the gateway can reach its database.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// `GET /v1/events/cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventCursor {
    /// The business's newest event id (0 before its first event): stream `since` it.
    pub cursor: i64,
}

/// A bearer token as the admin API lists it: never the token itself or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokenInfo {
    /// Id (to revoke it).
    pub id: i64,
    /// Whose it is.
    pub agent_id: AgentId,
    /// What it is for ("alice's laptop").
    pub label: String,
    /// Issued (ms since epoch).
    pub created_at: i64,
    /// Refused from then on (ms since epoch).
    pub expires_at: i64,
    /// Revoked at (ms since epoch), if it was.
    pub revoked_at: Option<i64>,
}

/// `GET /v1/admin/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokensResponse {
    /// The business's tokens, newest first.
    pub tokens: Vec<TokenInfo>,
}

/// `POST /v1/admin/agents/{id}/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What it is for.
    #[serde(default)]
    pub label: Option<String>,
    /// Lifetime in days, 1 to 365 (default 30).
    #[serde(default)]
    pub ttl_days: Option<u32>,
}

/// A token just issued: the only time it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IssuedToken {
    /// Id (to revoke it).
    pub id: i64,
    /// The bearer token; only its SHA-256 is stored.
    pub token: String,
    /// Refused from then on (ms since epoch).
    pub expires_at: i64,
}

/// `POST /v1/admin/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAgentRequest {
    /// Login name, unique in the business.
    pub name: String,
    /// Name shown to colleagues (default: the login name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Role.
    pub role: crate::agent::AgentRole,
}

/// `POST /v1/admin/businesses` (admins of the operator's own business only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewBusinessRequest {
    /// Unique name.
    pub name: String,
    /// Login name of its first admin.
    pub admin: String,
}

/// The new business, its first admin and that admin's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NewBusinessResponse {
    /// Its id.
    pub business_id: i64,
    /// Its first admin.
    pub admin: Agent,
    /// The admin's token.
    pub token: IssuedToken,
}

/// A provider as the admin API shows it. The config is as stored: credentials appear only
/// as `secret:NAME` references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProviderInfo {
    /// Id.
    pub id: crate::ids::ProviderId,
    /// Unique name; its webhooks are addressed `/webhooks/{kind}/{name}`.
    pub name: String,
    /// simulator, twilio, livekit, asterisk, ...
    pub kind: String,
    /// Provider-specific settings.
    pub config: serde_json::Value,
    /// Taking calls (false: stopped by an admin; its calls in progress finish).
    pub enabled: bool,
    /// Running on the gateway that answered.
    pub running: bool,
    /// What it can do (all false when not running).
    pub capabilities: crate::number::ProviderCapabilities,
}

/// `GET /v1/providers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProvidersResponse {
    /// The business's providers, removed ones left out.
    pub providers: Vec<ProviderInfo>,
    /// The kinds this gateway can run.
    pub kinds: Vec<String>,
}

/// `POST /v1/providers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProviderRequest {
    /// Unique name: letters, digits, `.`, `_`, `-`, at most 64.
    pub name: String,
    /// One of the kinds `GET /v1/providers` lists.
    pub kind: String,
    /// Provider-specific settings; every credential a `secret:NAME` reference.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `PATCH /v1/providers/{id}`: what to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    /// A whole new config (replaces the old one).
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// Stop or restart taking calls.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `POST /v1/providers/{id}/check`: the provider asked its real service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProviderCheck {
    /// Everything checked out.
    pub ok: bool,
    /// What is wrong, in the provider's words (empty when ok).
    pub problems: Vec<String>,
}

/// `POST /v1/numbers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewNumberRequest {
    /// The number.
    pub e164: E164,
    /// Label for the number selector.
    pub label: String,
    /// The provider carrying it (of this business).
    pub provider_id: crate::ids::ProviderId,
    /// Customers can call it.
    pub inbound: bool,
    /// Agents can call out from it.
    pub outbound: bool,
    /// Preselected for outbound calls (clears the flag on the others).
    #[serde(default)]
    pub is_default: bool,
}

/// `PATCH /v1/numbers/{id}`: what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NumberPatch {
    /// New label.
    #[serde(default)]
    pub label: Option<String>,
    /// Move it to another provider of the business.
    #[serde(default)]
    pub provider_id: Option<crate::ids::ProviderId>,
    /// Customers can call it.
    #[serde(default)]
    pub inbound: Option<bool>,
    /// Agents can call out from it.
    #[serde(default)]
    pub outbound: Option<bool>,
    /// Preselected for outbound calls.
    #[serde(default)]
    pub is_default: Option<bool>,
}

/// `PATCH /v1/queues/{id}` (admins): a queue's name and answer-time target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct QueuePatch {
    /// New name, 1 to 80 characters.
    pub name: Option<String>,
    /// Seconds within which a call counts as answered in time for the service level (the
    /// "20" of "80/20"), 1 to 3600.
    pub service_level_secs: Option<i64>,
}

impl QueuePatch {
    /// Check the values; returns a message for people when they are not valid.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(n) = &self.name {
            let n = n.trim();
            if n.is_empty() || n.chars().count() > 80 {
                return Err("name must be 1 to 80 characters".into());
            }
        }
        if let Some(s) = self.service_level_secs {
            if !(1..=3_600).contains(&s) {
                return Err("service_level_secs must be between 1 and 3600".into());
            }
        }
        Ok(())
    }
}

/// A queue as `PATCH /v1/queues/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueInfo {
    /// Id.
    pub id: crate::QueueId,
    /// Name.
    pub name: String,
    /// Answer-time target, seconds.
    pub service_level_secs: i64,
}
