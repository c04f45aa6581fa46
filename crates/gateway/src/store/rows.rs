//! Row shapes and their conversion to domain types. Columns are named once here, and the
//! insert/update statements for call records are generated from that one list so the
//! binding order cannot drift.

use std::sync::LazyLock;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, FromRow};
use switchboard_core::record::MergeState;
use switchboard_core::{
    Agent, AgentRole, AgentStatus, CallError, CallErrorCode, CallRecord, CallSid, Lead, LeadStatus, NumberCapabilities,
    PhoneNumber, ProviderCapabilities, StreamEvent, StreamEventKind, TranscriptRole, TranscriptTurn,
};

use super::StoreError;

/// Columns of `call_records`, `call_sid` first (it keys updates).
pub const CALL_COLUMNS: [&str; 39] = [
    "call_sid",
    "business_id",
    "direction",
    "status",
    "status_at",
    "status_seq",
    "status_event",
    "from_number",
    "to_number",
    "service_number",
    "lead_id",
    "agent_id",
    "queue_id",
    "number_id",
    "provider_id",
    "telephony_vendor",
    "vendor_call_id",
    "voice_platform",
    "voice_platform_call_id",
    "conversation_id",
    "transfer_to",
    "created_at",
    "answered_at",
    "ended_at",
    "duration_secs",
    "reported_duration_secs",
    "disposition",
    "notes",
    "recording_url",
    "recording_at",
    "error_code",
    "error_message",
    "error_provider_code",
    "error_provider_message",
    "error_retryable",
    "capabilities",
    "monitors",
    "consult",
    "updated_at",
];

/// `c.call_sid, c.business_id, ...` for joins.
pub static CALL_SELECT: LazyLock<String> = LazyLock::new(|| {
    CALL_COLUMNS
        .iter()
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
});

/// `INSERT ... VALUES ($1..$N) ON CONFLICT DO NOTHING`: a concurrent insert of the same
/// vendor call id (two replicas, one redelivered webhook) becomes a no-op the caller sees.
pub static CALL_INSERT: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (1..=CALL_COLUMNS.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO call_records ({}) VALUES ({}) ON CONFLICT DO NOTHING",
        CALL_COLUMNS.join(", "),
        params.join(", ")
    )
});

/// `UPDATE call_records SET business_id = $2, ... WHERE call_sid = $1`.
pub static CALL_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = CALL_COLUMNS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    format!("UPDATE call_records SET {} WHERE call_sid = $1", sets.join(", "))
});

/// Bind a record's values in [`CALL_COLUMNS`] order.
pub fn bind_call<'q>(
    q: Query<'q, Any, AnyArguments<'q>>,
    r: &CallRecord,
    now: i64,
) -> Query<'q, Any, AnyArguments<'q>> {
    let err = r.error.as_ref();
    q.bind(r.call_sid.to_string())
        .bind(r.business_id.get())
        .bind(r.direction.as_str())
        .bind(r.status.as_str())
        .bind(r.status_at)
        .bind(r.merge.status_seq)
        .bind(r.merge.status_event.clone())
        .bind(r.from.clone())
        .bind(r.to.clone())
        .bind(r.service_number.clone())
        .bind(r.lead_id.map(|v| v.get()))
        .bind(r.agent_id.map(|v| v.get()))
        .bind(r.queue_id.map(|v| v.get()))
        .bind(r.number_id.map(|v| v.get()))
        .bind(r.provider_id.map(|v| v.get()))
        .bind(r.telephony_vendor.as_ref().map(|v| v.as_str().to_owned()))
        .bind(r.vendor_call_id.clone())
        .bind(r.voice_platform.as_ref().map(|v| v.as_str().to_owned()))
        .bind(r.voice_platform_call_id.clone())
        .bind(r.conversation_id.clone())
        .bind(r.transfer_to.clone())
        .bind(r.created_at)
        .bind(r.answered_at)
        .bind(r.ended_at)
        .bind(r.duration_secs)
        .bind(r.merge.reported_duration_secs)
        .bind(r.disposition.clone())
        .bind(r.notes.clone())
        .bind(r.recording_url.clone())
        .bind(r.merge.recording_at)
        .bind(err.map(|e| error_code_name(e.code).to_owned()))
        .bind(err.map(|e| e.message.clone()))
        .bind(err.and_then(|e| e.provider_code.clone()))
        .bind(err.and_then(|e| e.provider_message.clone()))
        .bind(err.map(|e| i64::from(e.retryable)))
        .bind(r.capabilities.and_then(|c| serde_json::to_string(&c).ok()))
        .bind(
            (!r.monitors.is_empty())
                .then(|| serde_json::to_string(&r.monitors).ok())
                .flatten(),
        )
        .bind(r.consult.as_ref().and_then(|c| serde_json::to_string(c).ok()))
        .bind(now)
}

fn error_code_name(code: CallErrorCode) -> &'static str {
    match code {
        CallErrorCode::Timeout => "TIMEOUT",
        CallErrorCode::Rejected => "REJECTED",
        CallErrorCode::Unavailable => "UNAVAILABLE",
        CallErrorCode::Busy => "BUSY",
        CallErrorCode::NoAnswer => "NO_ANSWER",
        CallErrorCode::InvalidNumber => "INVALID_NUMBER",
        CallErrorCode::AuthFailed => "AUTH_FAILED",
        CallErrorCode::RateLimited => "RATE_LIMITED",
        CallErrorCode::Network => "NETWORK",
        CallErrorCode::ProviderError => "PROVIDER_ERROR",
        CallErrorCode::Unknown => "UNKNOWN",
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn id<T: TryFrom<i64, Error = switchboard_core::IdError>>(v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|e| corrupt("id", e))
}

fn opt_id<T: TryFrom<i64, Error = switchboard_core::IdError>>(v: Option<i64>) -> Result<Option<T>, StoreError> {
    v.map(id).transpose()
}

/// A `call_records` row.
#[derive(Debug, FromRow)]
pub struct CallRow {
    call_sid: String,
    business_id: i64,
    direction: String,
    status: String,
    status_at: i64,
    status_seq: i64,
    status_event: String,
    from_number: String,
    to_number: String,
    service_number: Option<String>,
    lead_id: Option<i64>,
    agent_id: Option<i64>,
    queue_id: Option<i64>,
    number_id: Option<i64>,
    provider_id: Option<i64>,
    telephony_vendor: Option<String>,
    vendor_call_id: Option<String>,
    voice_platform: Option<String>,
    voice_platform_call_id: Option<String>,
    conversation_id: Option<String>,
    transfer_to: Option<String>,
    created_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    duration_secs: Option<i64>,
    reported_duration_secs: Option<i64>,
    disposition: Option<String>,
    notes: Option<String>,
    recording_url: Option<String>,
    recording_at: Option<i64>,
    error_code: Option<String>,
    error_message: Option<String>,
    error_provider_code: Option<String>,
    error_provider_message: Option<String>,
    error_retryable: Option<i64>,
    capabilities: Option<String>,
    monitors: Option<String>,
    consult: Option<String>,
}

impl TryFrom<CallRow> for CallRecord {
    type Error = StoreError;
    fn try_from(r: CallRow) -> Result<Self, StoreError> {
        let error = match r.error_code {
            Some(code) => Some(CallError {
                code: serde_json::from_value(serde_json::Value::String(code)).map_err(|e| corrupt("error_code", e))?,
                message: r.error_message.unwrap_or_default(),
                provider_code: r.error_provider_code,
                provider_message: r.error_provider_message,
                retryable: r.error_retryable == Some(1),
            }),
            None => None,
        };
        Ok(CallRecord {
            call_sid: r.call_sid.parse().map_err(|e| corrupt("call_sid", e))?,
            business_id: id(r.business_id)?,
            direction: r.direction.parse().map_err(|e| corrupt("direction", e))?,
            status: r.status.parse().map_err(|e| corrupt("status", e))?,
            status_at: r.status_at,
            from: r.from_number,
            to: r.to_number,
            service_number: r.service_number,
            lead_id: opt_id(r.lead_id)?,
            agent_id: opt_id(r.agent_id)?,
            queue_id: opt_id(r.queue_id)?,
            number_id: opt_id(r.number_id)?,
            provider_id: opt_id(r.provider_id)?,
            telephony_vendor: r.telephony_vendor.map(Into::into),
            vendor_call_id: r.vendor_call_id,
            voice_platform: r.voice_platform.map(Into::into),
            voice_platform_call_id: r.voice_platform_call_id,
            conversation_id: r.conversation_id,
            transfer_to: r.transfer_to,
            created_at: r.created_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            duration_secs: r.duration_secs,
            disposition: r.disposition,
            notes: r.notes,
            recording_url: r.recording_url,
            error,
            capabilities: r
                .capabilities
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|e| corrupt("capabilities", e))?,
            monitors: r
                .monitors
                .map(|m| serde_json::from_str(&m))
                .transpose()
                .map_err(|e| corrupt("monitors", e))?
                .unwrap_or_default(),
            consult: r
                .consult
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|e| corrupt("consult", e))?,
            merge: MergeState {
                status_seq: r.status_seq,
                status_event: r.status_event,
                reported_duration_secs: r.reported_duration_secs,
                recording_at: r.recording_at,
            },
        })
    }
}

/// Columns of an agent row.
pub const AGENT_SELECT: &str = "id, name, display_name, role, status, status_at";

/// An `agents` row.
#[derive(Debug, FromRow)]
pub struct AgentRow {
    id: i64,
    name: String,
    display_name: String,
    role: String,
    status: String,
    status_at: i64,
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;
    fn try_from(r: AgentRow) -> Result<Self, StoreError> {
        Ok(Agent {
            id: id(r.id)?,
            name: r.name,
            display_name: r.display_name,
            role: AgentRole::from_name(&r.role).ok_or_else(|| corrupt("role", &r.role))?,
            status: AgentStatus::from_name(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            status_at: r.status_at,
        })
    }
}

/// Columns of a lead row.
pub const LEAD_SELECT: &str = "id, phone, name, company, status, notes, call_sid, created_at, updated_at";

/// A `leads` row.
#[derive(Debug, FromRow)]
pub struct LeadRow {
    id: i64,
    phone: String,
    name: String,
    company: Option<String>,
    status: String,
    notes: Option<String>,
    call_sid: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<LeadRow> for Lead {
    type Error = StoreError;
    fn try_from(r: LeadRow) -> Result<Self, StoreError> {
        Ok(Lead {
            id: id(r.id)?,
            phone: r.phone,
            name: r.name,
            company: r.company,
            status: LeadStatus::from_name(&r.status),
            notes: r.notes,
            call_sid: r
                .call_sid
                .map(|s| s.parse())
                .transpose()
                .map_err(|e| corrupt("lead call_sid", e))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Columns of a number row joined with its provider.
pub const NUMBER_SELECT: &str = "n.id, n.e164, n.label, n.provider_id, p.name AS provider, p.kind AS provider_kind, \
     n.inbound, n.outbound, n.is_default";

/// A `business_phone_numbers` row with its provider.
#[derive(Debug, FromRow)]
pub struct NumberRow {
    id: i64,
    e164: String,
    label: String,
    provider_id: i64,
    provider: String,
    provider_kind: String,
    inbound: i64,
    outbound: i64,
    is_default: i64,
}

impl TryFrom<NumberRow> for PhoneNumber {
    type Error = StoreError;
    fn try_from(r: NumberRow) -> Result<Self, StoreError> {
        Ok(PhoneNumber {
            id: id(r.id)?,
            e164: r.e164.parse().map_err(|e| corrupt("e164", e))?,
            label: r.label,
            provider_id: id(r.provider_id)?,
            provider: r.provider,
            provider_kind: r.provider_kind,
            capabilities: NumberCapabilities {
                inbound: r.inbound == 1,
                outbound: r.outbound == 1,
            },
            is_default: r.is_default == 1,
            // Filled from the running providers where the numbers are served.
            provider_capabilities: ProviderCapabilities::default(),
        })
    }
}

/// Columns of a transcript row.
pub const TURN_SELECT: &str = "call_sid, role, content, occurred_at, sequence";

/// A `conversation_transcripts` row.
#[derive(Debug, FromRow)]
pub struct TurnRow {
    call_sid: String,
    role: String,
    content: String,
    occurred_at: i64,
    sequence: i64,
}

impl TryFrom<TurnRow> for TranscriptTurn {
    type Error = StoreError;
    fn try_from(r: TurnRow) -> Result<Self, StoreError> {
        Ok(TranscriptTurn {
            call_sid: r
                .call_sid
                .parse::<CallSid>()
                .map_err(|e| corrupt("transcript call_sid", e))?,
            role: TranscriptRole::from_name(&r.role).ok_or_else(|| corrupt("role", &r.role))?,
            content: r.content,
            occurred_at: r.occurred_at,
            sequence: r.sequence,
        })
    }
}

/// Columns of an event row.
/// `seq` is the business's own event number: it is what clients see as the event id.
pub const EVENT_SELECT: &str = "seq AS id, business_id, call_sid, kind, payload, created_at";

/// A `call_events` row.
#[derive(Debug, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub business_id: i64,
    call_sid: Option<String>,
    kind: String,
    payload: String,
    created_at: i64,
}

impl TryFrom<EventRow> for StreamEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(StreamEvent {
            id: r.id,
            kind: StreamEventKind::from_name(&r.kind).ok_or_else(|| corrupt("event kind", &r.kind))?,
            call_sid: r
                .call_sid
                .map(|s| s.parse())
                .transpose()
                .map_err(|e| corrupt("event call_sid", e))?,
            at: r.created_at,
            data: serde_json::from_str(&r.payload).map_err(|e| corrupt("event payload", e))?,
        })
    }
}

/// A `telephony_providers` row.
#[derive(Debug, FromRow)]
pub struct ProviderDbRow {
    pub id: i64,
    pub business_id: i64,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub enabled: i64,
}

impl TryFrom<ProviderDbRow> for super::ProviderRow {
    type Error = StoreError;
    fn try_from(r: ProviderDbRow) -> Result<Self, StoreError> {
        Ok(super::ProviderRow {
            id: id(r.id)?,
            business_id: id(r.business_id)?,
            name: r.name,
            kind: r.kind,
            config: serde_json::from_str(&r.config).map_err(|e| corrupt("provider config", e))?,
            enabled: r.enabled == 1,
            capabilities: None,
        })
    }
}
