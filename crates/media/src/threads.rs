//! Where calls' audio runs: a few threads of the process's own, each a single-thread tokio
//! runtime, and each call's tasks kept on one of them ([`for_a_call`]).
//!
//! Why not the caller's runtime (Tauri's, the gateway's): a call is a chain of small tasks
//! (the socket's reader, SRTP, the track reader, the engine, webrtc-rs' statistics) that
//! wake one another about 400 times a second. On a work-stealing runtime each hand-off
//! between workers is a futex wake and a context switch, which `bench media cpu` measured
//! at about 8 % of a call's cost (median of six runs); on one thread a hand-off is a queue
//! push. It also keeps a call's audio clear of whatever else the host runtime is busy with
//! (a history sync, a burst of webhooks). Calls are spread over the threads in turn, so a
//! gateway hosting many simulated callers still uses every core; a desktop's single call
//! uses one thread and the others sleep.
//!
//! Work that blocks (opening a sound card) stays with the caller; only non-blocking work
//! and the call's own tasks come here.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;

use crate::MediaError;

struct Threads {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

fn threads() -> &'static Threads {
    static THREADS: OnceLock<Threads> = OnceLock::new();
    THREADS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let handles = (0..n).filter_map(start_thread).collect::<Vec<_>>();
        Threads {
            handles,
            next: AtomicUsize::new(0),
        }
    })
}

/// One media thread: a single-thread runtime driven until the process ends.
fn start_thread(index: usize) -> Option<Handle> {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(error = %e, "no media thread; calls share the caller's runtime");
            return None;
        }
    };
    let handle = rt.handle().clone();
    let spawned = std::thread::Builder::new()
        .name(format!("media-{index}"))
        .spawn(move || rt.block_on(std::future::pending::<()>()));
    match spawned {
        Ok(_) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "no media thread; calls share the caller's runtime");
            None
        }
    }
}

/// The runtime a new call's tasks run on: the next media thread in turn, or the caller's
/// own runtime when none could be started.
pub fn for_a_call() -> Handle {
    let t = threads();
    match t.handles.len() {
        0 => Handle::current(),
        n => t.handles[t.next.fetch_add(1, Ordering::Relaxed) % n].clone(),
    }
}

/// Run `work` on `rt` and wait for it: whatever webrtc-rs spawns meanwhile (its ICE,
/// DTLS and SRTP tasks) lands there too. Cancelling the caller leaves `work` running to
/// its end, so a connection is never left half set up or half closed.
pub async fn run_on<T: Send + 'static>(
    rt: &Handle,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, MediaError> {
    rt.spawn(work)
        .await
        .map_err(|e| MediaError::Webrtc(format!("the media thread's task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which thread a call handed `rt` runs on.
    fn thread_of(rt: &Handle) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let _ = tx.send(std::thread::current().name().unwrap_or_default().to_owned());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the media thread runs what it is handed")
    }

    #[test]
    fn calls_are_spread_over_every_media_thread_of_their_own() {
        let n = threads().handles.len();
        assert_eq!(n, std::thread::available_parallelism().map_or(1, |n| n.get()));
        let seen: std::collections::BTreeSet<String> = (0..4 * n).map(|_| thread_of(&for_a_call())).collect();
        let expected: std::collections::BTreeSet<String> = (0..n).map(|i| format!("media-{i}")).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn work_run_on_a_media_thread_comes_back_to_its_caller() {
        let rt = for_a_call();
        let on = run_on(&rt, async { std::thread::current().name().map(str::to_owned) })
            .await
            .expect("run");
        assert!(
            on.is_some_and(|name| name.starts_with("media-")),
            "ran on the caller's thread"
        );
        let failed = run_on(&rt, async { panic!("a call's set-up panicked") }).await;
        assert!(matches!(failed, Err(MediaError::Webrtc(_))), "{failed:?}");
    }
}
