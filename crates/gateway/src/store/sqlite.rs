//! SQLite backend: the embedded default. WAL mode so readers never wait for the writer;
//! one writer connection, so transactions never fight over the write lock and event ids
//! are assigned in commit order; `synchronous = FULL` so a commit, and with it every
//! acknowledged webhook, survives power loss as well as a crash. The cost of that, one
//! fsync per commit, is shared by concurrent writes through group commit
//! (`group.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{AnyConnection, AnyPool, Executor};
use tokio::sync::Notify;

use super::sql::{Backend, NewEvent, pool_options};
use super::{StoreError, StoreResult};

/// The SQLite backend.
#[derive(Debug)]
pub struct Sqlite {
    commits: Arc<Notify>,
}

fn with_pragmas(max: u32, writer: bool) -> sqlx::any::AnyPoolOptions {
    pool_options(max).after_connect(move |conn, _| {
        Box::pin(async move {
            conn.execute("PRAGMA busy_timeout = 10000").await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            if writer {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
            }
            Ok(())
        })
    })
}

/// Make sure the URL creates a missing file: `sqlite:///x.db` becomes `...?mode=rwc`.
fn creating(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[async_trait]
impl Backend for Sqlite {
    const NAME: &'static str = "sqlite";
    const GROUP_COMMIT: bool = true;

    async fn open(url: &str) -> StoreResult<(Self, AnyPool, AnyPool)> {
        if url.contains(":memory:") {
            return Err(super::StoreError::Invalid(
                "an in-memory SQLite database cannot be shared by the reader and writer pools; use a file".into(),
            ));
        }
        // The writer opens (and creates) the file and switches it to WAL before any reader.
        let write = with_pragmas(1, true).connect(&creating(url)).await?;
        sqlx::migrate!("../../migrations/gateway-sqlite").run(&write).await?;
        let read = with_pragmas(4, false).connect(url).await?;
        Ok((
            Self {
                commits: Arc::new(Notify::new()),
            },
            write,
            read,
        ))
    }

    fn for_update(&self) -> &'static str {
        // One writer connection: the whole write transaction is already exclusive.
        ""
    }

    fn snapshot(&self) -> Option<&'static str> {
        // WAL: a read transaction sees the database as of its first read.
        None
    }

    async fn append(&self, tx: &mut AnyConnection, ev: NewEvent<'_>) -> StoreResult<()> {
        // The one writer connection already orders appends; SQLite has no data-modifying
        // CTEs, so this is two statements (each a function call, not a round trip).
        let Some(seq): Option<i64> = sqlx::query_scalar(
            "INSERT INTO event_heads (business_id, seq) SELECT id, 1 FROM businesses WHERE id = $1 \
                 ON CONFLICT (business_id) DO UPDATE SET seq = seq + 1 RETURNING seq",
        )
        .bind(ev.business.get())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Err(StoreError::NotFound("business"));
        };
        sqlx::query(
            "INSERT INTO call_events (business_id, seq, call_sid, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ev.business.get())
        .bind(seq)
        .bind(ev.call_sid.map(|s| s.to_string()))
        .bind(ev.kind.as_str())
        .bind(ev.payload)
        .bind(ev.created_at)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn committed(&self) {
        self.commits.notify_one();
    }

    async fn settle(&self) -> StoreResult<()> {
        // Numbered inside the writing transaction: nothing is ever left unnumbered.
        Ok(())
    }

    fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }
}
