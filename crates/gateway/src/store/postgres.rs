//! PostgreSQL backend: for real deployments and several gateway replicas.
//!
//! Rows being changed are locked with `FOR UPDATE`. A business's event numbers come from
//! its own row (`businesses.event_seq`), bumped inside the appending transaction: the row
//! lock serialises that business's appends until commit, so its numbers become visible in
//! order and a reader resuming from "the last number I saw" can never skip one, while other
//! businesses append in parallel. Each commit sends `NOTIFY switchboard_events`; every
//! replica LISTENs and wakes its realtime feeder, which reads the new rows.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgListener;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::Notify;

use super::StoreResult;
use super::sql::{Backend, NewEvent, pool_options};

/// The LISTEN/NOTIFY channel.
pub const CHANNEL: &str = "switchboard_events";

/// Number, insert and announce one event (see [`Backend::append`]); NULL when there is
/// no such business. `pg_notify` in `FROM` runs once and gives the one row.
const APPEND: &str = "WITH s AS (UPDATE businesses SET event_seq = event_seq + 1 WHERE id = $1::BIGINT RETURNING event_seq), \
     i AS (INSERT INTO call_events (business_id, seq, call_sid, kind, payload, created_at) \
           SELECT $1::BIGINT, event_seq, $2::TEXT, $3::TEXT, $4::TEXT, $5::BIGINT FROM s RETURNING seq) \
     SELECT (SELECT seq FROM i) FROM pg_notify('switchboard_events', '')";

/// The PostgreSQL backend.
#[derive(Debug)]
pub struct Postgres {
    commits: Arc<Notify>,
}

#[async_trait]
impl Backend for Postgres {
    const NAME: &'static str = "postgres";

    async fn open(url: &str) -> StoreResult<(Self, AnyPool, AnyPool)> {
        let pool = pool_options(16).connect(url).await?;
        sqlx::migrate!("../../migrations/gateway-postgres").run(&pool).await?;
        let commits = Arc::new(Notify::new());
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        tokio::spawn(listen(listener, commits.clone()));
        Ok((Self { commits }, pool.clone(), pool))
    }

    fn for_update(&self) -> &'static str {
        " FOR UPDATE"
    }

    fn snapshot(&self) -> Option<&'static str> {
        Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    }

    async fn append(&self, tx: &mut Transaction<'static, Any>, ev: NewEvent<'_>) -> StoreResult<Option<i64>> {
        // One round trip: number, insert and announce. The business's row stays locked
        // from here to commit, so this is the only statement in that window besides the
        // commit itself: ingest's throughput for one business is one over that window.
        // The notification is delivered at commit, to every replica's listener (ours
        // included), and PostgreSQL folds a transaction's identical ones into one.
        let seq: Option<i64> = sqlx::query_scalar(APPEND)
            .bind(ev.business.get())
            .bind(ev.call_sid.map(|s| s.to_string()))
            .bind(ev.kind.as_str())
            .bind(ev.payload)
            .bind(ev.created_at)
            .fetch_one(&mut **tx)
            .await?;
        Ok(seq)
    }

    fn committed(&self) {
        // Our own NOTIFY wakes the feeder through the listener; waking it here as well
        // only saves the round trip.
        self.commits.notify_one();
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
