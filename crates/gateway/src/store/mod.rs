//! Storage: the [`Store`] trait the rest of the gateway uses, and its SQL implementation
//! for SQLite (the embedded default) and PostgreSQL (replicas).
//!
//! Both databases share one dialect-neutral SQL layer ([`sql::SqlStore`]) because the
//! queries are the same; what truly differs lives in a [`sql::Backend`]: connection setup
//! (WAL and a single writer for SQLite), row locking and cross-process event ordering
//! (`FOR UPDATE` and an advisory lock for PostgreSQL), and how commits are announced
//! (an in-process wake-up, or `NOTIFY`). One contract test suite runs against both.
//!
//! Every write is one transaction that also appends its `call_events` rows, so a change
//! and its stream event are stored together or not at all. On SQLite, concurrent writes
//! share one commit (`group.rs`): each is a savepoint of a shared transaction, and none is
//! acknowledged before that transaction is on disk.

mod group;
pub mod postgres;
mod rows;
pub mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_core::api::{
    CallList, CallListQuery, LeadQuery, QueueEntry, TokenInfo, TranscriptTurnIn, TransferTarget,
};
use switchboard_core::{
    Agent, AgentId, AgentRole, AgentStatus, BusinessId, CallAction, CallError, CallRecord, CallSid, CallStatus, Lead,
    LeadId, LeadStatus, NormalizedCallEvent, NumberId, PhoneNumber, ProviderId, QueueId, StreamEvent, TranscriptTurn,
};
use tokio::sync::Notify;

/// Who is calling the API, from their bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The tenant: every query is scoped to it.
    pub business_id: BusinessId,
    /// The agent.
    pub agent_id: AgentId,
    /// Their role.
    pub role: AgentRole,
    /// The token they presented (to revoke it on sign-out).
    pub token_id: i64,
    /// Their business is the operator's own: its admins may create businesses.
    pub platform: bool,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// Good: this is who holds it.
    Valid(Principal),
    /// It was good until its expiry time.
    Expired,
    /// An admin revoked it, or its holder signed out.
    Revoked,
    /// No such token.
    Unknown,
}

/// A configured provider as stored (config still holds `secret:` references).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRow {
    /// Id.
    pub id: ProviderId,
    /// Owner.
    pub business_id: BusinessId,
    /// Unique name; webhooks address the provider by it.
    pub name: String,
    /// simulator, twilio, asterisk, livekit.
    pub kind: String,
    /// Provider-specific JSON.
    pub config: serde_json::Value,
    /// Taking calls.
    pub enabled: bool,
    /// What the running instance can do; set by the gateway on the row its instance
    /// carries (never stored here), and recorded on every call that instance starts.
    pub capabilities: Option<switchboard_core::ProviderCapabilities>,
}

impl ProviderRow {
    /// Same stored settings (name, kind, config, enabled) as `other`.
    pub fn same_settings(&self, other: &Self) -> bool {
        (self.id, &self.name, &self.kind, &self.config, self.enabled)
            == (other.id, &other.name, &other.kind, &other.config, other.enabled)
    }
}

/// A number to create.
#[derive(Debug, Clone)]
pub struct NewNumber {
    /// The number.
    pub e164: switchboard_core::E164,
    /// Label for the selector.
    pub label: String,
    /// Carrying provider.
    pub provider_id: ProviderId,
    /// Can receive calls.
    pub inbound: bool,
    /// Can place calls.
    pub outbound: bool,
    /// Preselected.
    pub is_default: bool,
}

/// A lead to create.
#[derive(Debug, Clone)]
pub struct NewLead {
    /// Phone (E.164).
    pub phone: switchboard_core::E164,
    /// Name.
    pub name: String,
    /// Company.
    pub company: Option<String>,
    /// Status.
    pub status: LeadStatus,
    /// Notes.
    pub notes: Option<String>,
}

/// What happened to an ingested provider event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// It started a new call record.
    Created,
    /// It changed an existing record.
    Updated,
    /// It was new but changed nothing (late or already implied).
    Unchanged,
    /// The same event was stored before.
    Duplicate,
}

/// Result of [`Store::ingest_call_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The call the event belongs to.
    pub call_sid: CallSid,
    /// What it did.
    pub outcome: IngestOutcome,
}

/// Storage failures, by what the caller should do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in this business.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A provider event or transcript named a call we do not know; an audit event was
    /// written.
    #[error("unknown call: {0}")]
    UnknownCall(String),
    /// The action is not allowed in the call's current status.
    #[error("cannot {action} a call that is {status}")]
    IllegalTransition {
        /// What was asked.
        action: CallAction,
        /// Where the call stands.
        status: CallStatus,
    },
    /// Someone else got there first (another agent answered).
    #[error("{0}")]
    Conflict(String),
    /// Not allowed for this agent.
    #[error("{0}")]
    Forbidden(String),
    /// The request names something invalid (e.g. a transfer to an unknown agent).
    #[error("{0}")]
    Invalid(String),
    /// A provider's report cannot be applied as sent (it names a call we do not have, or
    /// a call that is not the one it describes): 400, nothing stored.
    #[error("{0}")]
    BadReport(String),
    /// A stored row does not parse; a bug or a manual edit.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed; retrying may work.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

/// What the floor is computed from (see `switchboard_core::floor`).
#[derive(Debug, Clone, Default)]
pub struct FloorData {
    /// The business's queues.
    pub queues: Vec<switchboard_core::floor::QueueDef>,
    /// Calls not yet over, each with its lead's name.
    pub live: Vec<(CallRecord, Option<String>)>,
    /// Inbound calls offered since the day started.
    pub offered: Vec<switchboard_core::floor::OfferedCall>,
}

/// Everything the gateway stores and reads. Reads are scoped by business; writes append
/// their stream events in the same transaction.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Woken after every commit that appended events (this process's or, with
    /// PostgreSQL, any replica's).
    fn commits(&self) -> Arc<Notify>;
    /// Number events a writer committed but did not live to number (PostgreSQL numbers
    /// after commit); the realtime feeder calls it at start and when idle.
    async fn settle(&self) -> StoreResult<()>;
    /// Can we reach the database?
    async fn ping(&self) -> StoreResult<()>;

    /// Create a business; `platform` marks the operator's own.
    async fn create_business(&self, name: &str, platform: bool) -> StoreResult<BusinessId>;
    /// Find a business by name.
    async fn business_by_name(&self, name: &str) -> StoreResult<Option<BusinessId>>;
    /// Create an agent.
    async fn create_agent(
        &self,
        business: BusinessId,
        name: &str,
        display_name: &str,
        role: AgentRole,
    ) -> StoreResult<AgentId>;
    /// Find agents by login name, optionally within one business.
    async fn agents_named(&self, name: &str, business: Option<BusinessId>) -> StoreResult<Vec<(BusinessId, Agent)>>;
    /// Store a token's hash for an agent; returns the token's id.
    async fn add_token(&self, agent: AgentId, token_hash: &str, label: &str, expires_at: i64) -> StoreResult<i64>;
    /// Who holds this token hash, at time `now`?
    async fn authenticate(&self, token_hash: &str, now: i64) -> StoreResult<TokenCheck>;
    /// The business's tokens, newest first.
    async fn tokens(&self, business: BusinessId) -> StoreResult<Vec<TokenInfo>>;
    /// Revoke a token of the business (a second revoke changes nothing).
    async fn revoke_token(&self, business: BusinessId, token_id: i64, now: i64) -> StoreResult<()>;

    /// Configure a provider.
    async fn create_provider(
        &self,
        business: BusinessId,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> StoreResult<ProviderId>;
    /// All enabled providers (of every business: what a gateway runs).
    async fn providers(&self) -> StoreResult<Vec<ProviderRow>>;
    /// The business's providers, enabled or not; removed ones left out.
    async fn business_providers(&self, business: BusinessId) -> StoreResult<Vec<ProviderRow>>;
    /// Add a provider for `who`'s business, or bring back a removed one of the same name.
    async fn add_provider(
        &self,
        who: &Principal,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> StoreResult<ProviderRow>;
    /// Replace a provider's config and/or enable or disable it.
    async fn update_provider(
        &self,
        who: &Principal,
        id: ProviderId,
        config: Option<&serde_json::Value>,
        enabled: Option<bool>,
    ) -> StoreResult<ProviderRow>;
    /// Remove a provider that carries no number (its row stays for history).
    async fn remove_provider(&self, who: &Principal, id: ProviderId) -> StoreResult<()>;
    /// Add a number, or bring back a removed one.
    async fn add_number(
        &self,
        who: &Principal,
        req: &switchboard_core::api::NewNumberRequest,
    ) -> StoreResult<PhoneNumber>;
    /// Change a number.
    async fn update_number(
        &self,
        who: &Principal,
        id: NumberId,
        patch: &switchboard_core::api::NumberPatch,
    ) -> StoreResult<PhoneNumber>;
    /// Remove a number (its row stays for history).
    async fn remove_number(&self, who: &Principal, id: NumberId) -> StoreResult<()>;
    /// Add a number.
    async fn create_number(&self, business: BusinessId, number: &NewNumber) -> StoreResult<NumberId>;
    /// Add a queue.
    async fn create_queue(&self, business: BusinessId, name: &str, is_default: bool) -> StoreResult<QueueId>;
    /// Add a lead.
    async fn create_lead(&self, business: BusinessId, lead: &NewLead) -> StoreResult<LeadId>;

    /// The business's numbers.
    async fn numbers(&self, business: BusinessId) -> StoreResult<Vec<PhoneNumber>>;
    /// The business's agents.
    async fn agents(&self, business: BusinessId) -> StoreResult<Vec<Agent>>;
    /// Leads, optionally by phone.
    async fn leads(&self, business: BusinessId, query: &LeadQuery) -> StoreResult<Vec<Lead>>;
    /// One lead.
    async fn lead(&self, business: BusinessId, id: LeadId) -> StoreResult<Option<Lead>>;
    /// Calls of a lead, newest first.
    async fn calls_of_lead(&self, business: BusinessId, id: LeadId, limit: u32) -> StoreResult<Vec<CallRecord>>;
    /// A page of history, newest first.
    async fn calls(&self, business: BusinessId, query: &CallListQuery) -> StoreResult<CallList>;
    /// One call.
    async fn call(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Option<CallRecord>>;
    /// Waiting inbound calls, oldest first.
    async fn queue(&self, business: BusinessId) -> StoreResult<Vec<QueueEntry>>;
    /// A call's transcript, in order.
    async fn transcript(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Vec<TranscriptTurn>>;
    /// A business's stream events after `since`, in order.
    async fn events_since(&self, business: BusinessId, since: i64, limit: u32) -> StoreResult<Vec<StreamEvent>>;
    /// Every business with the number of its newest event (feeds the realtime bus).
    async fn event_heads(&self) -> StoreResult<Vec<(BusinessId, i64)>>;
    /// Calls a provider carries that are not over yet (for reconciliation at start-up).
    async fn live_calls_of_provider(&self, provider: ProviderId) -> StoreResult<Vec<CallRecord>>;
    /// The business's newest event id, 0 when there is none.
    async fn last_event_id(&self, business: BusinessId) -> StoreResult<i64>;

    /// Correlate, merge and store one provider event (see `gateway::ingest`).
    async fn ingest_call_event(&self, provider: &ProviderRow, ev: &NormalizedCallEvent) -> StoreResult<Ingested>;
    /// Store transcript turns of a call; returns how many were new.
    async fn ingest_transcript(
        &self,
        provider: &ProviderRow,
        sid: &CallSid,
        turns: &[TranscriptTurnIn],
    ) -> StoreResult<usize>;
    /// Record, as an audit event of the provider's business, a report that was refused
    /// (`what` says which and why).
    async fn audit_rejected(&self, provider: &ProviderRow, what: serde_json::Value) -> StoreResult<()>;
    /// Store a new outbound call before its provider is asked.
    async fn create_outbound(&self, rec: &CallRecord) -> StoreResult<()>;
    /// Check an agent's action against the state machine and ownership, claim the call
    /// where the action needs it, and log the request.
    async fn begin_action(
        &self,
        who: &Principal,
        sid: &CallSid,
        action: CallAction,
        transfer: Option<&TransferTarget>,
    ) -> StoreResult<CallRecord>;
    /// What the floor needs: queues, live calls, and the inbound calls since `day_start`.
    async fn floor_data(&self, business: BusinessId, day_start: i64) -> StoreResult<FloorData>;
    /// Log that the provider refused an action. With `undo_claim` (see
    /// [`crate::policy::undo_claim`]), the call goes back to that owner if `claimed_by`
    /// still has it.
    async fn action_failed(
        &self,
        business: BusinessId,
        sid: &CallSid,
        action: CallAction,
        error: &CallError,
        undo_claim: Option<(AgentId, Option<AgentId>)>,
    ) -> StoreResult<()>;
    /// Set the caller's status. With an idempotency key, a repeat changes nothing.
    async fn set_agent_status(
        &self,
        who: &Principal,
        status: AgentStatus,
        idempotency_key: Option<&str>,
    ) -> StoreResult<Agent>;
    /// Save disposition and notes with a call (its agent, or a supervisor). With an
    /// idempotency key, a repeat changes nothing and returns the record as it is.
    async fn wrap_up(
        &self,
        who: &Principal,
        sid: &CallSid,
        disposition: &str,
        notes: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> StoreResult<CallRecord>;
    /// One agent.
    async fn agent(&self, business: BusinessId, id: AgentId) -> StoreResult<Option<Agent>>;
    /// Record a supervisor's monitoring change or a consult step the provider carried out:
    /// checked again against the call as it stands ([`crate::policy`]), saved on the call
    /// and logged as its audit event.
    async fn supervise(&self, who: &Principal, sid: &CallSid, change: Supervision<'_>) -> StoreResult<CallRecord>;
    /// The audit trail of one call (actions, refusals, monitoring, consults), in order.
    async fn call_history(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Vec<StreamEvent>>;
    /// The business's settings.
    async fn settings(&self, business: BusinessId) -> StoreResult<switchboard_core::api::BusinessSettings>;
    /// Change a queue of the business (admins); logged.
    async fn update_queue(
        &self,
        who: &Principal,
        id: QueueId,
        patch: &switchboard_core::api::QueuePatch,
    ) -> StoreResult<switchboard_core::api::QueueInfo>;
    /// Change the business's settings (admins); logged.
    async fn update_settings(
        &self,
        who: &Principal,
        patch: &switchboard_core::api::SettingsPatch,
    ) -> StoreResult<switchboard_core::api::BusinessSettings>;
}

/// A change [`Store::supervise`] records.
#[derive(Debug, Clone, Copy)]
pub enum Supervision<'a> {
    /// A supervisor (named `name`) starts, switches or stops monitoring.
    Monitor {
        /// Display name shown to the agent.
        name: &'a str,
        /// What changes.
        change: crate::policy::MonitorChange,
    },
    /// A step of an attended transfer (`target` for `Start`).
    Consult {
        /// The step.
        step: switchboard_core::ConsultStep,
        /// The consulted party.
        target: Option<&'a TransferTarget>,
    },
}

/// Open a store from a URL: `sqlite://...` or `postgres://...`. Runs migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(sql::SqlStore::<postgres::Postgres>::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sql::SqlStore::<sqlite::Sqlite>::connect(url).await?))
    } else {
        Err(StoreError::Invalid(format!(
            "unsupported database url {url:?}: use sqlite:///path/to/file.db or postgres://user@host/db"
        )))
    }
}

impl From<crate::policy::Denied> for StoreError {
    fn from(d: crate::policy::Denied) -> Self {
        use crate::policy::Denied;
        match d {
            Denied::WrongState { action, status } => Self::IllegalTransition { action, status },
            Denied::Taken(m) => Self::Conflict(m),
            Denied::NotYours(m) => Self::Forbidden(m),
            Denied::Invalid(m) => Self::Invalid(m),
            Denied::Unsupported(_) => Self::Conflict(d.to_string()),
            Denied::NotNow(m) => Self::Conflict(m),
        }
    }
}
