//! The SQL store shared by SQLite and PostgreSQL. Queries use `$N` placeholders, which
//! both accept; per-database behaviour comes from the [`Backend`].

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};
use switchboard_core::api::{
    CallList, CallListQuery, LeadQuery, QueueEntry, TokenInfo, TranscriptTurnIn, TransferTarget,
};
use switchboard_core::{
    Agent, AgentId, AgentRole, AgentStatus, BusinessId, CallAction, CallError, CallRecord, CallSid, CallStatus, Lead,
    LeadId, NormalizedCallEvent, NumberId, PhoneNumber, ProviderId, QueueId, StreamEvent, StreamEventKind,
    TranscriptTurn,
};
use tokio::sync::Notify;

mod admin;
mod ingest;
mod supervision;

use super::rows::{
    AGENT_SELECT, AgentRow, CALL_COLUMNS, CALL_INSERT, CALL_SELECT, CALL_UPDATE, CallRow, EVENT_SELECT, EventRow,
    LEAD_SELECT, LeadRow, NUMBER_SELECT, NumberRow, TURN_SELECT, TurnRow, bind_call,
};
use crate::policy;

use super::group::{Group, Member};
use super::{
    FloorData, Ingested, NewLead, NewNumber, Principal, ProviderRow, Store, StoreError, StoreResult, Supervision,
    TokenCheck,
};

/// What differs between the databases.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + Sized + 'static {
    /// `sqlite` or `postgres`.
    const NAME: &'static str;
    /// Whether concurrent writers share one transaction (`group.rs`): for a
    /// database with one writer connection, where each commit's wait for the disk would
    /// otherwise be paid once per write.
    const GROUP_COMMIT: bool;
    /// Open the pools (writer, reader) and run migrations.
    async fn open(url: &str) -> StoreResult<(Self, AnyPool, AnyPool)>;
    /// Appended to `SELECT`s that read a row the transaction will update.
    fn for_update(&self) -> &'static str;
    /// Run first in a read-only transaction whose reads must all see one snapshot.
    fn snapshot(&self) -> Option<&'static str>;
    /// Append one event to `business`'s log inside `tx` (`NotFound` when there is no such
    /// business). When it gets its number is the backend's choice: SQLite's one writer
    /// numbers it here, PostgreSQL in [`Backend::committed`], so that a business's
    /// concurrent writers never wait for each other. Either way a reader sees a business's
    /// events only numbered and in order, and a rolled-back event never.
    async fn append(&self, tx: &mut AnyConnection, event: NewEvent<'_>) -> StoreResult<()>;
    /// For a provider event that changes its call, in one statement where the database
    /// can (PostgreSQL: data-modifying CTEs): record `receipt`, and only if it is new,
    /// write `rec` and append `event`. `Some(false)`: the receipt was there (a redelivery),
    /// nothing written; `Some(true)`: all three written. `None`, the default: the caller
    /// runs them one by one. On PostgreSQL each statement is a round trip: one instead of
    /// three saves the gateway's CPU and the webhook's latency (the server's CPU goes
    /// mostly to the rows and index entries written, which stay the same).
    async fn receipt_update_append(
        &self,
        _tx: &mut AnyConnection,
        _receipt: Receipt<'_>,
        _rec: &CallRecord,
        _event: NewEvent<'_>,
    ) -> Result<Option<bool>, sqlx::Error> {
        Ok(None)
    }
    /// For a provider event that starts a call, in one statement where the database can:
    /// record `receipt`, and only if it is new, insert `rec` (unless a concurrent writer
    /// stored the same call first), link its lead to it and append `event`. `None`, the
    /// default: the caller runs them one by one.
    async fn receipt_insert_append(
        &self,
        _tx: &mut AnyConnection,
        _receipt: Receipt<'_>,
        _rec: &CallRecord,
        _event: NewEvent<'_>,
    ) -> Result<Option<Created>, sqlx::Error> {
        Ok(None)
    }
    /// Called after a commit that appended events: when it returns they are numbered
    /// (unless numbering failed, which is logged and left to [`Backend::settle`]) and the
    /// feeder has been woken.
    async fn committed(&self);
    /// Number events whose writer committed them but died before they were numbered.
    async fn settle(&self) -> StoreResult<()>;
    /// What the realtime feeder waits on.
    fn commits(&self) -> Arc<Notify>;
}

/// The store. `write` is the pool transactions use; `read` serves plain reads (for SQLite
/// they differ: one writer connection, several readers under WAL).
#[derive(Debug)]
pub struct SqlStore<B: Backend> {
    backend: B,
    write: AnyPool,
    read: AnyPool,
    /// Present when the backend group-commits: every write transaction goes through it.
    /// The few single-statement writes run on `write` directly (seeding, tokens); with one
    /// writer connection they wait for it between two batches.
    group: Option<Group>,
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A pooled connection unused for this long is pinged before it is handed out.
const CHECK_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Shared pool options: bounded waits so a stuck database becomes an error, not a hang.
/// sqlx pings every connection when it goes back to the pool and, by default, again when
/// it is taken out: two round trips per transaction on top of its statements. A
/// connection taken out right after it was returned (the pool under load) was just found
/// alive, so only one that sat idle (the database may have restarted meanwhile) is pinged
/// again; a dead one is dropped and another taken, as before.
pub(super) fn pool_options(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// An event about to be appended (see [`Backend::append`]).
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub business: BusinessId,
    pub kind: StreamEventKind,
    pub call_sid: Option<&'a CallSid>,
    /// The payload's JSON text.
    pub payload: &'a str,
    pub created_at: i64,
}

/// The receipt of a provider event: the key that makes its redelivery a no-op.
#[derive(Debug, Clone, Copy)]
pub struct Receipt<'a> {
    pub provider: ProviderId,
    pub event_id: &'a str,
    pub received_at: i64,
}

/// What storing a new call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Stored, with its receipt and stream event.
    Stored,
    /// The event's receipt was there: a redelivery, nothing written.
    Redelivered,
    /// A concurrent writer stored the same call (same ids) first; the receipt is written,
    /// and the caller rolls back and correlates again.
    Raced,
}

/// A write in progress: the transaction plus the events it appended.
struct Tx<'b, B: Backend> {
    tx: Writing,
    backend: &'b B,
    appended: usize,
}

/// Where a write happens: its own transaction, or its turn in a shared one.
enum Writing {
    Own(Transaction<'static, Any>),
    Shared(Member),
}

impl<B: Backend> Tx<'_, B> {
    /// The connection to run the write's statements on.
    fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.tx {
            Writing::Own(tx) => tx,
            Writing::Shared(member) => member.conn(),
        }
    }

    /// Undo the write (and, for a shared transaction, give up the turn: a write that
    /// rolls back and then writes something else must do it in a new `Tx`).
    async fn rollback(self) -> StoreResult<()> {
        match self.tx {
            Writing::Own(tx) => Ok(tx.rollback().await?),
            Writing::Shared(member) => member.rollback().await,
        }
    }

    async fn append(
        &mut self,
        business: BusinessId,
        kind: StreamEventKind,
        call_sid: Option<&CallSid>,
        data: &serde_json::Value,
    ) -> StoreResult<()> {
        let payload = data.to_string();
        let event = NewEvent {
            business,
            kind,
            call_sid,
            payload: &payload,
            created_at: now_ms(),
        };
        let backend = self.backend;
        backend.append(self.conn(), event).await?;
        self.appended += 1;
        Ok(())
    }

    async fn commit(self) -> StoreResult<()> {
        match self.tx {
            Writing::Own(tx) => tx.commit().await?,
            Writing::Shared(member) => member.commit().await?,
        }
        if self.appended > 0 {
            self.backend.committed().await;
        }
        Ok(())
    }
}

fn record_json(rec: &CallRecord) -> serde_json::Value {
    serde_json::to_value(rec).unwrap_or(serde_json::Value::Null)
}

impl<B: Backend> SqlStore<B> {
    /// Connect and migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let (backend, write, read) = B::open(url).await?;
        let group = B::GROUP_COMMIT.then(|| Group::new(write.clone()));
        Ok(Self {
            backend,
            write,
            read,
            group,
        })
    }

    async fn begin(&self) -> StoreResult<Tx<'_, B>> {
        let tx = match &self.group {
            Some(group) => Writing::Shared(group.begin().await?),
            None => Writing::Own(self.write.begin().await?),
        };
        Ok(Tx {
            tx,
            backend: &self.backend,
            appended: 0,
        })
    }

    async fn call_in_tx(
        &self,
        tx: &mut AnyConnection,
        filter: &str,
        binds: &[Bind<'_>],
    ) -> StoreResult<Option<CallRecord>> {
        let sql = format!(
            "SELECT {} FROM call_records c WHERE {filter}{}",
            *CALL_SELECT,
            self.backend.for_update()
        );
        let mut q = sqlx::query_as::<_, CallRow>(&sql);
        for b in binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.to_string()),
            };
        }
        q.fetch_optional(&mut *tx).await?.map(CallRecord::try_from).transpose()
    }

    async fn fetch_calls(&self, sql: &str, binds: &[Bind<'_>]) -> StoreResult<Vec<CallRecord>> {
        let mut q = sqlx::query_as::<_, CallRow>(sql);
        for b in binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.to_string()),
            };
        }
        q.fetch_all(&self.read)
            .await?
            .into_iter()
            .map(CallRecord::try_from)
            .collect()
    }
}

/// A bind value for the few dynamically built queries.
#[derive(Clone, Copy)]
enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

fn clamp_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(50).clamp(1, 200))
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    fn commits(&self) -> Arc<Notify> {
        self.backend.commits()
    }

    async fn settle(&self) -> StoreResult<()> {
        self.backend.settle().await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM businesses")
            .fetch_one(&self.read)
            .await?;
        Ok(())
    }

    async fn create_business(&self, name: &str, platform: bool) -> StoreResult<BusinessId> {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO businesses (name, platform, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(name.to_owned())
                .bind(i64::from(platform))
                .bind(now_ms())
                .fetch_one(&self.write)
                .await
                .map_err(|e| unique_as_conflict(e, format!("a business named {name:?} exists already")))?;
        BusinessId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn business_by_name(&self, name: &str) -> StoreResult<Option<BusinessId>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM businesses WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.read)
            .await?;
        id.map(BusinessId::try_from)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn create_agent(
        &self,
        business: BusinessId,
        name: &str,
        display_name: &str,
        role: AgentRole,
    ) -> StoreResult<AgentId> {
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO agents (business_id, name, display_name, role, status, status_at, created_at) \
             VALUES ($1, $2, $3, $4, 'offline', $5, $5) RETURNING id",
        )
        .bind(business.get())
        .bind(name.to_owned())
        .bind(display_name.to_owned())
        .bind(role.as_str())
        .bind(now)
        .fetch_one(&self.write)
        .await
        .map_err(|e| unique_as_conflict(e, format!("this business has an agent named {name:?} already")))?;
        AgentId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn agents_named(&self, name: &str, business: Option<BusinessId>) -> StoreResult<Vec<(BusinessId, Agent)>> {
        let sql = format!(
            "SELECT business_id, {AGENT_SELECT} FROM agents WHERE name = $1 AND ($2 = 0 OR business_id = $2) ORDER BY id"
        );
        let rows: Vec<(i64, AgentRow)> = sqlx::query(&sql)
            .bind(name.to_owned())
            .bind(business.map_or(0, BusinessId::get))
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|row| {
                use sqlx::{FromRow, Row};
                Ok((row.try_get::<i64, _>("business_id")?, AgentRow::from_row(&row)?))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        rows.into_iter()
            .map(|(b, a)| {
                Ok((
                    BusinessId::try_from(b).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    Agent::try_from(a)?,
                ))
            })
            .collect()
    }

    async fn add_token(&self, agent: AgentId, token_hash: &str, label: &str, expires_at: i64) -> StoreResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (agent_id, token_hash, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(agent.get())
        .bind(token_hash.to_owned())
        .bind(label.to_owned())
        .bind(now_ms())
        .bind(expires_at)
        .fetch_one(&self.write)
        .await?;
        Ok(id)
    }

    async fn authenticate(&self, token_hash: &str, now: i64) -> StoreResult<TokenCheck> {
        type Row = (i64, i64, i64, String, i64, i64, Option<i64>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT t.id, a.business_id, a.id, a.role, b.platform, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN agents a ON a.id = t.agent_id JOIN businesses b ON b.id = a.business_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        let Some((token_id, b, a, role, platform, expires_at, revoked_at)) = row else {
            return Ok(TokenCheck::Unknown);
        };
        // Pure policy: revoked beats expired (it says more), both beat a valid agent.
        if revoked_at.is_some() {
            return Ok(TokenCheck::Revoked);
        }
        if now >= expires_at {
            return Ok(TokenCheck::Expired);
        }
        let corrupt = |e: switchboard_core::IdError| StoreError::Corrupt(e.to_string());
        Ok(TokenCheck::Valid(Principal {
            business_id: BusinessId::try_from(b).map_err(corrupt)?,
            agent_id: AgentId::try_from(a).map_err(corrupt)?,
            role: AgentRole::from_name(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
            token_id,
            platform: platform == 1,
        }))
    }

    async fn tokens(&self, business: BusinessId) -> StoreResult<Vec<TokenInfo>> {
        type Row = (i64, i64, String, i64, i64, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, t.agent_id, t.label, t.created_at, t.expires_at, t.revoked_at \
             FROM api_tokens t JOIN agents a ON a.id = t.agent_id WHERE a.business_id = $1 ORDER BY t.id DESC LIMIT 1000",
        )
        .bind(business.get())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(id, agent, label, created_at, expires_at, revoked_at)| {
                Ok(TokenInfo {
                    id,
                    agent_id: AgentId::try_from(agent).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    label,
                    created_at,
                    expires_at,
                    revoked_at,
                })
            })
            .collect()
    }

    async fn revoke_token(&self, business: BusinessId, token_id: i64, now: i64) -> StoreResult<()> {
        // Scoped through the agent: a token id of another business is "not found", the
        // same answer as an id nobody has.
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT t.id FROM api_tokens t JOIN agents a ON a.id = t.agent_id WHERE t.id = $1 AND a.business_id = $2",
        )
        .bind(token_id)
        .bind(business.get())
        .fetch_optional(&self.write)
        .await?;
        if found.is_none() {
            return Err(StoreError::NotFound("token"));
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(token_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn create_provider(
        &self,
        business: BusinessId,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> StoreResult<ProviderId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO telephony_providers (business_id, name, kind, config, enabled, created_at) \
             VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
        )
        .bind(business.get())
        .bind(name.to_owned())
        .bind(kind.to_owned())
        .bind(config.to_string())
        .bind(now_ms())
        .fetch_one(&self.write)
        .await?;
        ProviderId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn providers(&self) -> StoreResult<Vec<ProviderRow>> {
        self.provider_rows(None, true).await
    }

    async fn business_providers(&self, business: BusinessId) -> StoreResult<Vec<ProviderRow>> {
        self.provider_rows(Some(business.get()), false).await
    }

    async fn add_provider(
        &self,
        who: &Principal,
        name: &str,
        kind: &str,
        config: &serde_json::Value,
    ) -> StoreResult<ProviderRow> {
        self.add_provider_row(who, name, kind, config).await
    }

    async fn update_provider(
        &self,
        who: &Principal,
        id: ProviderId,
        config: Option<&serde_json::Value>,
        enabled: Option<bool>,
    ) -> StoreResult<ProviderRow> {
        self.update_provider_row(who, id, config, enabled).await
    }

    async fn remove_provider(&self, who: &Principal, id: ProviderId) -> StoreResult<()> {
        self.remove_provider_row(who, id).await
    }

    async fn add_number(
        &self,
        who: &Principal,
        req: &switchboard_core::api::NewNumberRequest,
    ) -> StoreResult<PhoneNumber> {
        self.add_number_row(who, req).await
    }

    async fn update_number(
        &self,
        who: &Principal,
        id: NumberId,
        patch: &switchboard_core::api::NumberPatch,
    ) -> StoreResult<PhoneNumber> {
        self.update_number_row(who, id, patch).await
    }

    async fn remove_number(&self, who: &Principal, id: NumberId) -> StoreResult<()> {
        self.remove_number_row(who, id).await
    }

    async fn create_number(&self, business: BusinessId, n: &NewNumber) -> StoreResult<NumberId> {
        let mut tx = self.begin().await?;
        if n.is_default {
            // One default per business: the dialer preselects it.
            sqlx::query("UPDATE business_phone_numbers SET is_default = 0 WHERE business_id = $1")
                .bind(business.get())
                .execute(tx.conn())
                .await?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO business_phone_numbers (business_id, provider_id, e164, label, inbound, outbound, is_default, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(business.get())
        .bind(n.provider_id.get())
        .bind(n.e164.to_string())
        .bind(n.label.clone())
        .bind(i64::from(n.inbound))
        .bind(i64::from(n.outbound))
        .bind(i64::from(n.is_default))
        .bind(now_ms())
        .fetch_one(tx.conn())
        .await?;
        tx.commit().await?;
        NumberId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn create_queue(&self, business: BusinessId, name: &str, is_default: bool) -> StoreResult<QueueId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO queues (business_id, name, is_default, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(business.get())
        .bind(name.to_owned())
        .bind(i64::from(is_default))
        .bind(now_ms())
        .fetch_one(&self.write)
        .await?;
        QueueId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn create_lead(&self, business: BusinessId, l: &NewLead) -> StoreResult<LeadId> {
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO leads (business_id, phone, name, company, status, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(business.get())
        .bind(l.phone.to_string())
        .bind(l.name.clone())
        .bind(l.company.clone())
        .bind(l.status.as_str())
        .bind(l.notes.clone())
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        LeadId::try_from(id).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn numbers(&self, business: BusinessId) -> StoreResult<Vec<PhoneNumber>> {
        let sql = format!(
            "SELECT {NUMBER_SELECT} FROM business_phone_numbers n JOIN telephony_providers p ON p.id = n.provider_id \
             WHERE n.business_id = $1 AND n.removed_at IS NULL ORDER BY n.is_default DESC, n.id"
        );
        let rows: Vec<NumberRow> = sqlx::query_as(&sql).bind(business.get()).fetch_all(&self.read).await?;
        rows.into_iter().map(PhoneNumber::try_from).collect()
    }

    async fn agents(&self, business: BusinessId) -> StoreResult<Vec<Agent>> {
        let sql = format!("SELECT {AGENT_SELECT} FROM agents WHERE business_id = $1 ORDER BY display_name, id");
        let rows: Vec<AgentRow> = sqlx::query_as(&sql).bind(business.get()).fetch_all(&self.read).await?;
        rows.into_iter().map(Agent::try_from).collect()
    }

    async fn leads(&self, business: BusinessId, query: &LeadQuery) -> StoreResult<Vec<Lead>> {
        let sql = format!(
            "SELECT {LEAD_SELECT} FROM leads WHERE business_id = $1 AND ($2 = '' OR phone = $2) ORDER BY name, id LIMIT $3"
        );
        let rows: Vec<LeadRow> = sqlx::query_as(&sql)
            .bind(business.get())
            .bind(query.phone.clone().unwrap_or_default())
            .bind(clamp_limit(query.limit))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(Lead::try_from).collect()
    }

    async fn lead(&self, business: BusinessId, id: LeadId) -> StoreResult<Option<Lead>> {
        let sql = format!("SELECT {LEAD_SELECT} FROM leads WHERE business_id = $1 AND id = $2");
        let row: Option<LeadRow> = sqlx::query_as(&sql)
            .bind(business.get())
            .bind(id.get())
            .fetch_optional(&self.read)
            .await?;
        row.map(Lead::try_from).transpose()
    }

    async fn calls_of_lead(&self, business: BusinessId, id: LeadId, limit: u32) -> StoreResult<Vec<CallRecord>> {
        let sql = format!(
            "SELECT {} FROM call_records c WHERE c.business_id = $1 AND c.lead_id = $2 ORDER BY c.call_sid DESC LIMIT $3",
            *CALL_SELECT
        );
        self.fetch_calls(
            &sql,
            &[
                Bind::Int(business.get()),
                Bind::Int(id.get()),
                Bind::Int(i64::from(limit)),
            ],
        )
        .await
    }

    async fn calls(&self, business: BusinessId, query: &CallListQuery) -> StoreResult<CallList> {
        let limit = clamp_limit(query.limit);
        let sql = format!(
            "SELECT {} FROM call_records c WHERE c.business_id = $1 AND ($2 = '' OR c.status = $2) \
             AND ($3 = '' OR c.call_sid < $3) ORDER BY c.call_sid DESC LIMIT $4",
            *CALL_SELECT
        );
        let status = query.status.map_or("", CallStatus::as_str);
        let before = query.before.as_ref().map_or("", CallSid::as_str);
        let calls = self
            .fetch_calls(
                &sql,
                &[
                    Bind::Int(business.get()),
                    Bind::Text(status),
                    Bind::Text(before),
                    Bind::Int(limit),
                ],
            )
            .await?;
        let next_before = (calls.len() as i64 == limit)
            .then(|| calls.last().map(|c| c.call_sid.clone()))
            .flatten();
        Ok(CallList { calls, next_before })
    }

    async fn call(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Option<CallRecord>> {
        let sql = format!(
            "SELECT {} FROM call_records c WHERE c.call_sid = $1 AND c.business_id = $2",
            *CALL_SELECT
        );
        Ok(self
            .fetch_calls(&sql, &[Bind::Text(sid.as_str()), Bind::Int(business.get())])
            .await?
            .pop())
    }

    async fn queue(&self, business: BusinessId) -> StoreResult<Vec<QueueEntry>> {
        let sql = format!(
            "SELECT {}, l.name AS lead_name FROM call_records c LEFT JOIN leads l ON l.id = c.lead_id \
             WHERE c.business_id = $1 AND c.direction = 'inbound' AND c.status IN ('ringing', 'queued') \
             ORDER BY c.created_at, c.call_sid LIMIT 500",
            *CALL_SELECT
        );
        let rows = sqlx::query(&sql).bind(business.get()).fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                use sqlx::{FromRow, Row};
                let call = CallRecord::try_from(CallRow::from_row(row)?)?;
                Ok(QueueEntry {
                    call,
                    lead_name: row.try_get("lead_name")?,
                })
            })
            .collect()
    }

    async fn transcript(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Vec<TranscriptTurn>> {
        let sql = format!(
            "SELECT {TURN_SELECT} FROM conversation_transcripts WHERE business_id = $1 AND call_sid = $2 ORDER BY sequence"
        );
        let rows: Vec<TurnRow> = sqlx::query_as(&sql)
            .bind(business.get())
            .bind(sid.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(TranscriptTurn::try_from).collect()
    }

    async fn events_since(&self, business: BusinessId, since: i64, limit: u32) -> StoreResult<Vec<StreamEvent>> {
        let sql =
            format!("SELECT {EVENT_SELECT} FROM call_events WHERE business_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(business.get())
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(StreamEvent::try_from).collect()
    }

    async fn event_heads(&self) -> StoreResult<Vec<(BusinessId, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT b.id, COALESCE(h.seq, 0) FROM businesses b LEFT JOIN event_heads h ON h.business_id = b.id \
             ORDER BY b.id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(b, seq)| {
                let b = BusinessId::try_from(b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((b, seq))
            })
            .collect()
    }

    async fn floor_data(&self, business: BusinessId, day_start: i64) -> StoreResult<FloorData> {
        use sqlx::{FromRow, Row};
        use switchboard_core::floor::{OfferedCall, QueueDef};
        // One snapshot for all three reads, so a call cannot be both waiting and abandoned.
        let mut tx = self.read.begin().await?;
        if let Some(sql) = self.backend.snapshot() {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        let queues =
            sqlx::query("SELECT id, name, service_level_secs FROM queues WHERE business_id = $1 ORDER BY name")
                .bind(business.get())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| {
                    Ok(QueueDef {
                        id: QueueId::try_from(row.try_get::<i64, _>("id")?)
                            .map_err(|e| StoreError::Corrupt(format!("queue id: {e}")))?,
                        name: row.try_get("name")?,
                        target_secs: row.try_get("service_level_secs")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
        // Which statuses are live is the domain's call, not the query's.
        let live_statuses = CallStatus::ALL
            .iter()
            .filter(|s| !s.is_terminal())
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {}, l.name AS lead_name FROM call_records c LEFT JOIN leads l ON l.id = c.lead_id \
             WHERE c.business_id = $1 AND c.status IN ({live_statuses}) ORDER BY c.created_at LIMIT 5000",
            *CALL_SELECT
        );
        let live = sqlx::query(&sql)
            .bind(business.get())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    CallRecord::try_from(CallRow::from_row(row)?)?,
                    row.try_get("lead_name")?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let offered = sqlx::query(
            "SELECT queue_id, status, created_at, answered_at FROM call_records \
             WHERE business_id = $1 AND created_at >= $2 AND direction = 'inbound'",
        )
        .bind(business.get())
        .bind(day_start)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            Ok(OfferedCall {
                queue_id: row
                    .try_get::<Option<i64>, _>("queue_id")?
                    .and_then(|q| QueueId::try_from(q).ok()),
                status: status
                    .parse::<CallStatus>()
                    .map_err(|_| StoreError::Corrupt(format!("call status {status:?}")))?,
                created_at: row.try_get("created_at")?,
                answered_at: row.try_get("answered_at")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await?;
        Ok(FloorData { queues, live, offered })
    }

    async fn live_calls_of_provider(&self, provider: ProviderId) -> StoreResult<Vec<CallRecord>> {
        let sql = format!(
            "SELECT {} FROM call_records c WHERE c.provider_id = $1 \
             AND c.status IN ('ringing', 'queued', 'answered', 'on_hold', 'transferred') ORDER BY c.call_sid LIMIT 10000",
            *CALL_SELECT
        );
        self.fetch_calls(&sql, &[Bind::Int(provider.get())]).await
    }

    async fn last_event_id(&self, business: BusinessId) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM event_heads WHERE business_id = $1")
            .bind(business.get())
            .fetch_optional(&self.read)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn ingest_call_event(&self, provider: &ProviderRow, ev: &NormalizedCallEvent) -> StoreResult<Ingested> {
        self.ingest_call(provider, ev).await
    }

    async fn ingest_transcript(
        &self,
        provider: &ProviderRow,
        sid: &CallSid,
        turns: &[TranscriptTurnIn],
    ) -> StoreResult<usize> {
        self.ingest_turns(provider, sid, turns).await
    }

    async fn audit_rejected(&self, provider: &ProviderRow, what: serde_json::Value) -> StoreResult<()> {
        self.audit_unknown(provider, what).await
    }

    async fn create_outbound(&self, rec: &CallRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let n = bind_call(sqlx::query(&CALL_INSERT), rec, now_ms())
            .execute(tx.conn())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!("call {} already exists", rec.call_sid)));
        }
        ingest::link_lead(tx.conn(), rec).await?;
        tx.append(
            rec.business_id,
            StreamEventKind::CallCreated,
            Some(&rec.call_sid),
            &record_json(rec),
        )
        .await?;
        tx.commit().await
    }

    async fn begin_action(
        &self,
        who: &Principal,
        sid: &CallSid,
        action: CallAction,
        transfer: Option<&TransferTarget>,
    ) -> StoreResult<CallRecord> {
        let mut tx = self.begin().await?;
        let mut rec = self
            .call_in_tx(
                tx.conn(),
                "c.call_sid = $1 AND c.business_id = $2",
                &[Bind::Text(sid.as_str()), Bind::Int(who.business_id.get())],
            )
            .await?
            .ok_or(StoreError::NotFound("call"))?;
        let actor = policy::Actor::from(who);
        let grant = policy::authorize(actor, policy::Act::Control(action), &rec)?;
        if let Some(agent) = grant.assign {
            rec.agent_id = Some(agent);
        }
        if let Some(target) = transfer {
            let in_business = match target {
                TransferTarget::Agent(agent) => {
                    let found: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM agents WHERE id = $1 AND business_id = $2")
                            .bind(agent.get())
                            .bind(who.business_id.get())
                            .fetch_optional(tx.conn())
                            .await?;
                    found.is_some()
                }
                TransferTarget::Number(_) => false,
            };
            policy::check_transfer(actor, &rec, target, in_business)?;
            rec.transfer_to = Some(target.to_stored());
        }
        bind_call(sqlx::query(&CALL_UPDATE), &rec, now_ms())
            .execute(tx.conn())
            .await?;
        let data = serde_json::json!({ "action": action, "agent_id": who.agent_id, "call": rec });
        tx.append(who.business_id, StreamEventKind::CallAction, Some(sid), &data)
            .await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn wrap_up(
        &self,
        who: &Principal,
        sid: &CallSid,
        disposition: &str,
        notes: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> StoreResult<CallRecord> {
        let mut tx = self.begin().await?;
        let filter = "c.call_sid = $1 AND c.business_id = $2";
        let binds = [Bind::Text(sid.as_str()), Bind::Int(who.business_id.get())];
        let mut rec = self
            .call_in_tx(tx.conn(), filter, &binds)
            .await?
            .ok_or(StoreError::NotFound("call"))?;
        policy::authorize(policy::Actor::from(who), policy::Act::WrapUp, &rec)?;
        if !claim_key(tx.conn(), who.business_id, idempotency_key).await? {
            tx.rollback().await?;
            return Ok(rec);
        }
        rec.disposition = Some(disposition.trim().to_owned());
        rec.notes = notes.map(str::to_owned);
        bind_call(sqlx::query(&CALL_UPDATE), &rec, now_ms())
            .execute(tx.conn())
            .await?;
        tx.append(
            who.business_id,
            StreamEventKind::CallUpdated,
            Some(sid),
            &record_json(&rec),
        )
        .await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn supervise(&self, who: &Principal, sid: &CallSid, change: Supervision<'_>) -> StoreResult<CallRecord> {
        self.supervise_call(who, sid, change).await
    }

    async fn call_history(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Vec<StreamEvent>> {
        self.history_of(business, sid).await
    }

    async fn settings(&self, business: BusinessId) -> StoreResult<switchboard_core::api::BusinessSettings> {
        self.settings_of(business).await
    }

    async fn update_queue(
        &self,
        who: &Principal,
        id: QueueId,
        patch: &switchboard_core::api::QueuePatch,
    ) -> StoreResult<switchboard_core::api::QueueInfo> {
        self.patch_queue(who, id, patch).await
    }

    async fn update_settings(
        &self,
        who: &Principal,
        patch: &switchboard_core::api::SettingsPatch,
    ) -> StoreResult<switchboard_core::api::BusinessSettings> {
        self.patch_settings(who, patch).await
    }

    async fn agent(&self, business: BusinessId, id: AgentId) -> StoreResult<Option<Agent>> {
        let sql = format!("SELECT {AGENT_SELECT} FROM agents WHERE business_id = $1 AND id = $2");
        let row: Option<AgentRow> = sqlx::query_as(&sql)
            .bind(business.get())
            .bind(id.get())
            .fetch_optional(&self.read)
            .await?;
        row.map(Agent::try_from).transpose()
    }

    async fn action_failed(
        &self,
        business: BusinessId,
        sid: &CallSid,
        action: CallAction,
        error: &CallError,
        undo_claim: Option<(AgentId, Option<AgentId>)>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if let Some((claimed_by, owner)) = undo_claim {
            let filter = "c.call_sid = $1 AND c.business_id = $2";
            let binds = [Bind::Text(sid.as_str()), Bind::Int(business.get())];
            let rec = self.call_in_tx(tx.conn(), filter, &binds).await?;
            if let Some(mut rec) = rec.filter(|r| r.agent_id == Some(claimed_by)) {
                rec.agent_id = owner;
                bind_call(sqlx::query(&CALL_UPDATE), &rec, now_ms())
                    .execute(tx.conn())
                    .await?;
                tx.append(business, StreamEventKind::CallUpdated, Some(sid), &record_json(&rec))
                    .await?;
            }
        }
        let data = serde_json::json!({ "action": action, "error": error });
        tx.append(business, StreamEventKind::CallActionFailed, Some(sid), &data)
            .await?;
        tx.commit().await
    }

    async fn set_agent_status(
        &self,
        who: &Principal,
        status: AgentStatus,
        idempotency_key: Option<&str>,
    ) -> StoreResult<Agent> {
        let mut tx = self.begin().await?;
        if !claim_key(tx.conn(), who.business_id, idempotency_key).await? {
            tx.rollback().await?;
            return self
                .agent(who.business_id, who.agent_id)
                .await?
                .ok_or(StoreError::NotFound("agent"));
        }
        sqlx::query("UPDATE agents SET status = $1, status_at = $2 WHERE id = $3 AND business_id = $4")
            .bind(status.as_str())
            .bind(now_ms())
            .bind(who.agent_id.get())
            .bind(who.business_id.get())
            .execute(tx.conn())
            .await?;
        let sql = format!("SELECT {AGENT_SELECT} FROM agents WHERE id = $1");
        let row: AgentRow = sqlx::query_as(&sql)
            .bind(who.agent_id.get())
            .fetch_one(tx.conn())
            .await?;
        let agent = Agent::try_from(row)?;
        let data = serde_json::to_value(&agent).unwrap_or_default();
        tx.append(who.business_id, StreamEventKind::AgentStatus, None, &data)
            .await?;
        tx.commit().await?;
        Ok(agent)
    }
}

/// A unique-key violation is the caller's conflict (a name taken), not a database failure.
fn unique_as_conflict(e: sqlx::Error, message: String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message),
        _ => StoreError::Database(e),
    }
}

/// Record an idempotency key; false when it was used before (the caller then does nothing).
async fn claim_key(tx: &mut AnyConnection, business: BusinessId, key: Option<&str>) -> StoreResult<bool> {
    let Some(key) = key else { return Ok(true) };
    let n = sqlx::query(
        "INSERT INTO idempotency_keys (business_id, key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(business.get())
    .bind(key.to_owned())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

// Keep the column count and the generated statements in step.
const _: () = assert!(CALL_COLUMNS.len() == 39);
