//! PostgreSQL backend: for real deployments and several gateway replicas.
//!
//! Rows being changed are locked with `FOR UPDATE`. Events are numbered per business, but
//! not by the transaction that appends them: it inserts its events without a number, so
//! writers of one business never wait for each other. Right after its commit, the writer
//! has every committed event numbered (see [`Numbering`]): one statement, under an
//! advisory lock that every replica shares, gives each unnumbered event its business's
//! next numbers (in insertion order) and bumps its head in `event_heads`, and then NOTIFYs
//! `switchboard_events`. Numbers therefore become visible in order, all of a run at once,
//! and a reader resuming from "the last number I saw" can never skip one. Writers that
//! commit while a run is under way are covered by the next run, which the first of them
//! makes for all: under load, one numbering run serves many webhooks.
//!
//! A process killed between its commit and the numbering leaves unnumbered events behind;
//! the realtime feeder of any replica numbers them when it starts and whenever it is idle
//! ([`Backend::settle`]). Every replica LISTENs and wakes its realtime feeder, which reads
//! the numbered rows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{Mutex, Notify};

use switchboard_core::CallRecord;

use super::rows::{CALL_COLUMNS, CALL_UPDATE, bind_call};
use super::sql::{Backend, Created, NewEvent, Receipt, pool_options};
use super::{StoreError, StoreResult};

/// The LISTEN/NOTIFY channel (`number_events`, migrations 0011 and 0012, NOTIFYs it by name).
pub const CHANNEL: &str = "switchboard_events";

/// One numbering run: every committed, unnumbered event gets its business's next number
/// (in insertion order, after the business's newest), under an advisory lock every replica
/// shares, and [`CHANNEL`] is NOTIFYed when any was; answers how many it numbered. A
/// function of migration 0011, so that a run is one round trip; called outside a
/// transaction, it holds the lock until its own commit, and its numbering statement takes
/// its snapshot after the lock is granted, so it sees every run before it. (0012 rewrote
/// the function as small statements: its one set-based statement cost more to start than
/// to run on the few events a run usually finds.)
const NUMBER: &str = "SELECT number_events()";

/// Where [`bind_write`] binds its parameters after the record's columns (`$1..$n`, as in
/// `rows::CALL_UPDATE` and `rows::CALL_INSERT`), and the lead to link after them.
const PROVIDER: usize = 1;
const EVENT_ID: usize = 2;
const KIND: usize = 3;
const PAYLOAD: usize = 4;
const CREATED_AT: usize = 5;
const RECEIVED_AT: usize = 6;
const LEAD: usize = 7;

/// The placeholder of the parameter `after` places past the record's columns.
fn param(after: usize) -> String {
    format!("${}", CALL_COLUMNS.len() + after)
}

/// One statement around a call's write: the event's receipt first; then `written`, CTEs of
/// which the one named `written` writes the call only when the receipt is new and returns
/// its `business_id`; then the (unnumbered) stream event for a call written; then `answer`.
fn with_receipt(written: &str, answer: &str) -> String {
    format!(
        "WITH receipt AS ( \
             INSERT INTO webhook_receipts (provider_id, event_id, call_sid, received_at) \
             VALUES ({provider}, {event_id}, $1, {received_at}) ON CONFLICT DO NOTHING RETURNING 1), \
         {written}, \
         appended AS ( \
             INSERT INTO call_events (business_id, call_sid, kind, payload, created_at) \
             SELECT business_id, $1, {kind}, {payload}, {created_at} FROM written RETURNING 1) \
         {answer}",
        provider = param(PROVIDER),
        event_id = param(EVENT_ID),
        received_at = param(RECEIVED_AT),
        kind = param(KIND),
        payload = param(PAYLOAD),
        created_at = param(CREATED_AT),
    )
}

/// [`Backend::receipt_update_append`] as one statement; answers how many events it
/// appended (0 for a redelivery).
static RECEIPT_UPDATE_APPEND: LazyLock<String> = LazyLock::new(|| {
    with_receipt(
        &format!(
            "written AS ({} AND EXISTS (SELECT 1 FROM receipt) RETURNING business_id)",
            *CALL_UPDATE
        ),
        "SELECT COUNT(*) FROM appended",
    )
});

/// [`Backend::receipt_insert_append`] as one statement: the call is inserted unless a
/// concurrent writer stored it first, and the lead (NULL for none) is linked only to an
/// inserted call. Answers how many receipts and calls it wrote.
static RECEIPT_INSERT_APPEND: LazyLock<String> = LazyLock::new(|| {
    let values: Vec<String> = (1..=CALL_COLUMNS.len()).map(|i| format!("${i}")).collect();
    with_receipt(
        &format!(
            "written AS ( \
                 INSERT INTO call_records ({columns}) SELECT {values} WHERE EXISTS (SELECT 1 FROM receipt) \
                 ON CONFLICT DO NOTHING RETURNING business_id), \
             linked AS ( \
                 UPDATE leads SET call_sid = $1, updated_at = {received_at} \
                 WHERE id = {lead} AND business_id = $2 AND EXISTS (SELECT 1 FROM written) RETURNING 1)",
            columns = CALL_COLUMNS.join(", "),
            values = values.join(", "),
            received_at = param(RECEIVED_AT),
            lead = param(LEAD),
        ),
        "SELECT (SELECT COUNT(*) FROM receipt), (SELECT COUNT(*) FROM written)",
    )
});

/// `sql` (one of the two statements above) with its parameters bound, in the order of
/// [`PROVIDER`] .. [`RECEIVED_AT`]; [`RECEIPT_INSERT_APPEND`] adds the [`LEAD`].
fn bind_write<'q>(
    sql: &'q str,
    receipt: Receipt<'q>,
    rec: &'q CallRecord,
    event: NewEvent<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    bind_call(sqlx::query(sql), rec, receipt.received_at)
        .bind(receipt.provider.get())
        .bind(receipt.event_id)
        .bind(event.kind.as_str())
        .bind(event.payload)
        .bind(event.created_at)
        .bind(receipt.received_at)
}

/// Numbers committed events (see the module doc).
#[derive(Debug)]
struct Numbering {
    pool: AnyPool,
    /// Runs this process has finished.
    runs: AtomicU64,
    /// One run at a time in this process; the writers queued behind a run are mostly
    /// covered by the run after it, which the first of them makes.
    turn: Mutex<()>,
}

impl Numbering {
    /// Return once a run that started after this call has finished (so every event
    /// committed before the call has its number).
    async fn after_commit(&self) -> StoreResult<()> {
        let seen = self.runs.load(Ordering::Acquire);
        let _turn = self.turn.lock().await;
        // A run in flight when we looked may have started before our commit; the one
        // after it (finished as seen + 2) cannot have.
        if self.runs.load(Ordering::Acquire) >= seen + 2 {
            return Ok(());
        }
        let result = self.run().await;
        self.runs.fetch_add(1, Ordering::Release);
        result.map(|_| ())
    }

    async fn run(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(NUMBER).fetch_one(&self.pool).await?)
    }
}

/// The PostgreSQL backend.
#[derive(Debug)]
pub struct Postgres {
    commits: Arc<Notify>,
    numbering: Numbering,
}

#[async_trait]
impl Backend for Postgres {
    const NAME: &'static str = "postgres";
    // Each writer has its own connection, and the server already flushes the WAL of
    // concurrent commits together.
    const GROUP_COMMIT: bool = false;

    async fn open(url: &str) -> StoreResult<(Self, AnyPool, AnyPool)> {
        let pool = pool_options(16).connect(url).await?;
        sqlx::migrate!("../../migrations/gateway-postgres").run(&pool).await?;
        let commits = Arc::new(Notify::new());
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        tokio::spawn(listen(listener, commits.clone()));
        let numbering = Numbering {
            pool: pool.clone(),
            runs: AtomicU64::new(0),
            turn: Mutex::new(()),
        };
        Ok((Self { commits, numbering }, pool.clone(), pool))
    }

    fn for_update(&self) -> &'static str {
        " FOR UPDATE"
    }

    fn snapshot(&self) -> Option<&'static str> {
        Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    }

    async fn append(&self, tx: &mut AnyConnection, ev: NewEvent<'_>) -> StoreResult<()> {
        // Unnumbered: no lock taken, nothing for the business's other writers to wait on.
        sqlx::query(
            "INSERT INTO call_events (business_id, seq, call_sid, kind, payload, created_at) \
             VALUES ($1, NULL, $2, $3, $4, $5)",
        )
        .bind(ev.business.get())
        .bind(ev.call_sid.map(|s| s.to_string()))
        .bind(ev.kind.as_str())
        .bind(ev.payload)
        .bind(ev.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_foreign_key_violation() => StoreError::NotFound("business"),
            _ => StoreError::Database(e),
        })?;
        Ok(())
    }

    async fn receipt_update_append(
        &self,
        tx: &mut AnyConnection,
        receipt: Receipt<'_>,
        rec: &CallRecord,
        event: NewEvent<'_>,
    ) -> Result<Option<bool>, sqlx::Error> {
        use sqlx::Row;
        let row = bind_write(&RECEIPT_UPDATE_APPEND, receipt, rec, event)
            .fetch_one(&mut *tx)
            .await?;
        Ok(Some(row.try_get::<i64, _>(0)? == 1))
    }

    async fn receipt_insert_append(
        &self,
        tx: &mut AnyConnection,
        receipt: Receipt<'_>,
        rec: &CallRecord,
        event: NewEvent<'_>,
    ) -> Result<Option<Created>, sqlx::Error> {
        use sqlx::Row;
        let row = bind_write(&RECEIPT_INSERT_APPEND, receipt, rec, event)
            .bind(rec.lead_id.map(|l| l.get()))
            .fetch_one(&mut *tx)
            .await?;
        let (receipts, calls): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok(Some(match (receipts, calls) {
            (0, _) => Created::Redelivered,
            (_, 0) => Created::Raced,
            _ => Created::Stored,
        }))
    }

    async fn committed(&self) {
        if let Err(e) = self.numbering.after_commit().await {
            // The events are stored; the feeder's next idle pass numbers them.
            tracing::warn!(error = %e, "could not number committed events yet; the feeder will");
        }
        // Our own NOTIFY wakes the feeder through the listener; waking it here as well
        // only saves the round trip.
        self.commits.notify_one();
    }

    async fn settle(&self) -> StoreResult<()> {
        let numbered = self.numbering.run().await?;
        if numbered > 0 {
            tracing::info!(numbered, "numbered events a writer had left unnumbered");
        }
        Ok(())
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }
}

/// Forward notifications as wake-ups. PgListener reconnects by itself; a notification
/// lost during a reconnect is covered by the wake-up sent right after it, since the
/// feeder reads everything after its cursor rather than trusting notification payloads.
async fn listen(mut listener: PgListener, commits: Arc<Notify>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => commits.notify_one(),
            Ok(None) => {
                tracing::warn!("PostgreSQL listener connection lost; reconnecting");
                commits.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL listener failed; retrying");
                commits.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
