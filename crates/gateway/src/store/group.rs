//! Group commit for a database with one writer connection (SQLite).
//!
//! With `synchronous = FULL` every commit waits for the disk (one WAL fsync), and with
//! one writer connection those waits add up: each webhook cost a whole fsync. Here
//! concurrent writers share one transaction instead. Each writer's work is a savepoint
//! inside it ([`Group::begin`] .. [`Member::commit`]), taken in turn under one lock, so
//! they still run one at a time, in order, and see each other's changes exactly as if each
//! had committed. A writer that ends its work waits for the shared commit and only then
//! returns, so nothing is acknowledged before it is on disk. A writer that fails or is
//! dropped undoes only its own savepoint.
//!
//! The commit itself is made by one task (the committer), woken by every writer that
//! ends its work; it then takes the same lock. The lock is fair, so every writer already
//! waiting for its turn gets it first and joins the batch: under load, one fsync serves
//! all of them (about 11 webhooks per commit in `cargo xtask bench gateway ingest`), and a
//! lone writer gets its commit after one task wake-up. If the commit fails, every writer
//! of the batch gets the error and nothing of it was stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, watch};

use super::{StoreError, StoreResult};

/// How long a writer waits for its turn before that becomes an error: the same bound as
/// the pool's acquire timeout, so a stuck database is reported rather than hung on.
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of one batch's commit: `None` until it is made.
type Outcome = Option<Result<(), Arc<str>>>;

/// The shared writer: see the module doc.
#[derive(Debug)]
pub(super) struct Group {
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct State {
    pool: AnyPool,
    /// The shared transaction, open while a batch is.
    tx: Option<Transaction<'static, Any>>,
    /// A writer's savepoint is open. Seen by whoever takes the lock next, it was left by
    /// a writer that failed or was dropped in its work: it is rolled back first.
    savepoint_open: bool,
    /// Writers whose work is in `tx` and who wait for its commit.
    members: usize,
    /// Where the open batch's outcome is announced.
    batch: watch::Sender<Outcome>,
    /// Batches committed so far.
    committed: u64,
}

impl Group {
    /// Share `pool`'s (one) connection. Must be called within the Tokio runtime: it
    /// starts the committer.
    pub(super) fn new(pool: AnyPool) -> Self {
        let state = Arc::new(Mutex::new(State {
            pool,
            tx: None,
            savepoint_open: false,
            members: 0,
            batch: watch::Sender::new(None),
            committed: 0,
        }));
        let wake = Arc::new(Notify::new());
        let closed = Arc::new(AtomicBool::new(false));
        tokio::spawn(committer(Arc::downgrade(&state), wake.clone(), closed.clone()));
        Self { state, wake, closed }
    }

    /// Take the writer's turn and open this writer's savepoint in the shared transaction.
    pub(super) async fn begin(&self) -> StoreResult<Member> {
        let mut state = tokio::time::timeout(TURN_TIMEOUT, self.state.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?;
        tidy(&mut state).await;
        let opened = async {
            if state.tx.is_none() {
                state.tx = Some(state.pool.begin().await?);
            }
            let tx = state.tx.as_mut().expect("opened above");
            sqlx::query("SAVEPOINT member").execute(&mut **tx).await
        }
        .await;
        if let Err(e) = opened {
            // Nothing of ours is in the transaction; the committer closes it if it is
            // left with nothing to commit.
            drop(state);
            self.wake.notify_one();
            return Err(e.into());
        }
        state.savepoint_open = true;
        Ok(Member {
            state: Some(state),
            wake: self.wake.clone(),
        })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// One writer's turn: its savepoint in the shared transaction, and the lock.
#[derive(Debug)]
pub(super) struct Member {
    /// `None` once ended.
    state: Option<OwnedMutexGuard<State>>,
    wake: Arc<Notify>,
}

impl Member {
    /// The connection, inside this writer's savepoint.
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        let state = self.state.as_mut().expect("a member holds its turn until it ends");
        state.tx.as_mut().expect("a member's batch is open")
    }

    /// Keep this writer's work and return once it is committed (with its batch).
    pub(super) async fn commit(mut self) -> StoreResult<()> {
        let mut state = self.state.take().expect("a member ends once");
        let tx = state.tx.as_mut().expect("a member's batch is open");
        if let Err(e) = sqlx::query("RELEASE SAVEPOINT member").execute(&mut **tx).await {
            // The savepoint stays open; whoever takes the turn next rolls it back.
            drop(state);
            self.wake.notify_one();
            return Err(e.into());
        }
        state.savepoint_open = false;
        state.members += 1;
        let mut outcome = state.batch.subscribe();
        drop(state);
        self.wake.notify_one();
        let outcome = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| closed_error("the store closed before the commit"))?
            .clone();
        outcome
            .expect("waited for an outcome")
            .map_err(|e| closed_error(&format!("the shared commit failed: {e}")))
    }

    /// Undo this writer's work (only its own) and give up the turn.
    pub(super) async fn rollback(mut self) -> StoreResult<()> {
        let mut state = self.state.take().expect("a member ends once");
        tidy(&mut state).await;
        drop(state);
        // An open transaction with no members left is the committer's to close.
        self.wake.notify_one();
        Ok(())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if self.state.take().is_some() {
            // Ended without commit or rollback (an error, or the request was dropped):
            // the savepoint is still open and is rolled back by whoever takes the turn
            // next, which the committer does now if no writer is waiting.
            self.wake.notify_one();
        }
    }
}

fn closed_error(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(what.to_owned())))
}

/// Roll back a savepoint its writer left open. If even that fails, the shared
/// transaction is beyond repair: abandon it and fail its batch.
async fn tidy(state: &mut State) {
    if !std::mem::take(&mut state.savepoint_open) {
        return;
    }
    let Some(tx) = state.tx.as_mut() else { return };
    let undone = async {
        sqlx::query("ROLLBACK TO SAVEPOINT member").execute(&mut **tx).await?;
        sqlx::query("RELEASE SAVEPOINT member").execute(&mut **tx).await
    }
    .await;
    if let Err(e) = undone {
        tracing::error!(error = %e, "could not undo a failed write; abandoning its batch");
        let tx = state.tx.take().expect("checked above");
        if let Err(e) = tx.rollback().await {
            tracing::warn!(error = %e, "rolling back the abandoned batch failed");
        }
        finish(
            state,
            Err(Arc::from(format!("a write in the same batch broke it: {e}"))),
        );
    }
}

/// Announce the open batch's outcome and start a new one.
fn finish(state: &mut State, outcome: Result<(), Arc<str>>) {
    state.members = 0;
    let done = std::mem::replace(&mut state.batch, watch::Sender::new(None));
    done.send_replace(Some(outcome));
}

/// Commit each batch once its writers have ended their work (see the module doc).
async fn committer(shared: Weak<Mutex<State>>, wake: Arc<Notify>, closed: Arc<AtomicBool>) {
    loop {
        wake.notified().await;
        if closed.load(Ordering::Acquire) {
            return;
        }
        let Some(state) = shared.upgrade() else { return };
        // Queued behind every writer already waiting: they join this batch first.
        let mut state = state.lock_owned().await;
        tidy(&mut state).await;
        let Some(tx) = state.tx.take() else { continue };
        let outcome = if state.members == 0 {
            // Opened, but its writers failed: nothing to keep.
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "rolling back an empty batch failed");
            }
            Ok(())
        } else {
            match tx.commit().await {
                Ok(()) => {
                    state.committed += 1;
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %e, writers = state.members, "a group commit failed; its writers get the error");
                    Err(Arc::from(e.to_string()))
                }
            }
        };
        finish(&mut state, outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A file database (WAL, foreign keys on, as the gateway's writer) with a parent table
    /// and a child whose foreign key is checked only at COMMIT.
    async fn database(dir: &tempfile::TempDir) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("group.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .expect("open the database");
        for ddl in [
            "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE child (name TEXT, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
            "INSERT INTO parent (id) VALUES (1)",
        ] {
            sqlx::query(ddl).execute(&pool).await.expect("schema");
        }
        pool
    }

    /// The database (in a directory that lives as long as the returned handle) and a
    /// group over it.
    async fn fixture() -> (tempfile::TempDir, AnyPool, Arc<Group>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = database(&dir).await;
        let group = Arc::new(Group::new(pool.clone()));
        (dir, pool, group)
    }

    async fn insert(member: &mut Member, name: &str, parent: i64) {
        sqlx::query("INSERT INTO child (name, parent) VALUES ($1, $2)")
            .bind(name.to_owned())
            .bind(parent)
            .execute(member.conn())
            .await
            .expect("insert");
    }

    async fn names(pool: &AnyPool) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM child ORDER BY name")
            .fetch_all(pool)
            .await
            .expect("read")
    }

    async fn committed(group: &Group) -> u64 {
        group.state.lock().await.committed
    }

    /// Start `n` writers that each insert one row with `parent` and commit. Returns once
    /// every one of them is queued for its turn (the test holds the turn meanwhile).
    async fn queue_writers(group: &Arc<Group>, n: usize, parent: i64) -> Vec<tokio::task::JoinHandle<StoreResult<()>>> {
        let queued = Arc::new(AtomicUsize::new(0));
        let writers = (0..n)
            .map(|i| {
                let group = group.clone();
                let queued = queued.clone();
                tokio::spawn(async move {
                    // Counted in the same poll that queues on the lock (the first poll of
                    // `begin` reaches it): nothing between them can yield.
                    queued.fetch_add(1, Ordering::SeqCst);
                    let mut member = group.begin().await?;
                    insert(&mut member, &format!("w{i:02}"), parent).await;
                    member.commit().await
                })
            })
            .collect();
        while queued.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
        writers
    }

    #[tokio::test(flavor = "current_thread")]
    async fn writers_waiting_for_their_turn_share_one_commit() {
        let (_dir, pool, group) = fixture().await;
        let mut first = group.begin().await.expect("first turn");
        insert(&mut first, "first", 1).await;
        let writers = queue_writers(&group, 20, 1).await;
        first.commit().await.expect("first commit");
        for w in writers {
            w.await.expect("writer task").expect("writer commit");
        }
        let rows = names(&pool).await;
        assert_eq!(rows.len(), 21, "every acknowledged write is stored: {rows:?}");
        assert_eq!(committed(&group).await, 1, "21 writers, one commit");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_or_dropped_writer_loses_only_its_own_work() {
        let (_dir, pool, group) = fixture().await;

        let mut kept = group.begin().await.expect("turn");
        insert(&mut kept, "kept", 1).await;
        let kept = tokio::spawn(kept.commit());
        let mut dropped = group.begin().await.expect("turn");
        insert(&mut dropped, "dropped", 1).await;
        drop(dropped);
        let mut undone = group.begin().await.expect("turn");
        insert(&mut undone, "undone", 1).await;
        undone.rollback().await.expect("rollback");
        let mut after = group.begin().await.expect("turn");
        insert(&mut after, "after", 1).await;
        after.commit().await.expect("commit");
        kept.await.expect("task").expect("kept commit");

        assert_eq!(names(&pool).await, ["after", "kept"]);
        // A writer dropped with nobody after it: its savepoint and the batch it opened
        // are rolled back by the committer, which gives the connection back.
        let mut alone = group.begin().await.expect("turn");
        insert(&mut alone, "alone", 1).await;
        drop(alone);
        let mut conn = tokio::time::timeout(Duration::from_secs(5), pool.acquire())
            .await
            .expect("the connection comes back to the pool")
            .expect("acquire");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM child WHERE name = 'alone'")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
        assert_eq!(n, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_whose_last_writer_is_dropped_is_committed_for_the_others() {
        let (_dir, pool, group) = fixture().await;
        let mut first = group.begin().await.expect("turn");
        insert(&mut first, "kept", 1).await;
        let queued = Arc::new(AtomicUsize::new(0));
        let last = tokio::spawn({
            let (group, queued) = (group.clone(), queued.clone());
            async move {
                queued.fetch_add(1, Ordering::SeqCst);
                let mut member = group.begin().await.expect("turn");
                insert(&mut member, "abandoned", 1).await;
                // Dropped: its request went away before it committed.
            }
        });
        while queued.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        // The committer is queued behind the last writer, so the batch it commits holds
        // the first writer's work and the last one's rolled-back savepoint.
        first.commit().await.expect("committed");
        last.await.expect("task");
        assert_eq!(names(&pool).await, ["kept"]);
        assert_eq!(committed(&group).await, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_commit_fails_every_writer_of_its_batch_and_stores_none() {
        let (_dir, pool, group) = fixture().await;
        // The first writer's row names a parent that does not exist: checked at COMMIT,
        // so the whole batch's commit fails.
        let mut bad = group.begin().await.expect("turn");
        insert(&mut bad, "orphan", 99).await;
        let writers = queue_writers(&group, 5, 1).await;
        let err = bad.commit().await.expect_err("the batch's commit fails");
        assert!(err.to_string().contains("shared commit failed"), "{err}");
        for w in writers {
            let err = w.await.expect("writer task").expect_err("a writer of the failed batch");
            assert!(err.to_string().contains("shared commit failed"), "{err}");
        }
        assert!(names(&pool).await.is_empty(), "nothing of the failed batch is stored");
        assert_eq!(committed(&group).await, 0);

        // The next batch works.
        let mut next = group.begin().await.expect("turn");
        insert(&mut next, "next", 1).await;
        next.commit().await.expect("commit");
        assert_eq!(names(&pool).await, ["next"]);
    }
}
