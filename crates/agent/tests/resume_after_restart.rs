//! Through a gateway restart and a console restart, every event reaches the cache once:
//! nothing lost, nothing applied twice.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, console, eventually, service, signed_in, wait_for};
use switchboard_core::desktop::UiEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_lost_or_applied_twice() {
    let mut world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (c, mut ui) = signed_in(&world, dir.path(), &svc).await;
    for i in 0..3 {
        world.ring(&format!("A{i}")).await;
    }
    eventually(10, "3 calls cached", || async {
        (c.history("", 50).await.unwrap().len() == 3).then_some(())
    })
    .await;

    world.down().await;
    wait_for(&mut ui, "offline", |e| matches!(e, UiEvent::Connection(s) if !s.online)).await;
    world.up().await;
    wait_for(
        &mut ui,
        "online again",
        |e| matches!(e, UiEvent::Connection(s) if s.online),
    )
    .await;
    for i in 3..5 {
        world.ring(&format!("A{i}")).await;
    }
    eventually(10, "5 calls cached", || async {
        (c.history("", 50).await.unwrap().len() == 5).then_some(())
    })
    .await;

    // The console restarts: same data dir, token from the keyring, resumes at its cursor.
    let applied = c.cache().applied_count().await.unwrap();
    let cursor = c.cache().cursor().await.unwrap();
    drop(ui);
    drop(c);
    let c = console(dir.path(), &svc).await;
    let mut ui = c.subscribe();
    assert!(
        c.resume_session().await.unwrap().is_some(),
        "session restored from settings + keyring"
    );
    assert_eq!(
        c.history("", 50).await.unwrap().len(),
        5,
        "the cache is there before any sync"
    );
    wait_for(&mut ui, "online", |e| matches!(e, UiEvent::Connection(s) if s.online)).await;
    world.ring("A5").await;
    eventually(10, "6 calls cached", || async {
        (c.history("", 50).await.unwrap().len() == 6).then_some(())
    })
    .await;
    assert!(c.cache().cursor().await.unwrap() > cursor);

    // Every event the gateway streamed since the snapshot was applied exactly once.
    let gateway_events = world.gateway_event_count().await as i64;
    let applied_now = c.cache().applied_count().await.unwrap();
    assert_eq!(
        applied_now,
        applied + 1,
        "the console restart replayed nothing; only the new event applied"
    );
    assert!(
        applied_now <= gateway_events,
        "never more applications than events ({applied_now} > {gateway_events})"
    );
    let pre_snapshot = 0; // the snapshot was taken on an empty gateway: every event came through the stream
    assert_eq!(applied_now, gateway_events - pre_snapshot, "no event lost");
}

/// A cache filled under another numbering of events (a gateway from before events were
/// numbered per business, or one restored from a backup) holds a cursor the gateway has
/// not reached. The console notices on connecting, takes a fresh snapshot and streams
/// again, instead of waiting silently for the gateway to catch up with a stale number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_ahead_of_the_gateway_is_renumbered() {
    let world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (c, ui) = signed_in(&world, dir.path(), &svc).await;
    world.ring("B0").await;
    eventually(10, "1 call cached", || async {
        (c.history("", 50).await.unwrap().len() == 1).then_some(())
    })
    .await;
    let stale = 1_000_000;
    c.cache().set_cursor(stale).await.unwrap();
    drop(ui);
    drop(c);

    let c = console(dir.path(), &svc).await;
    let mut ui = c.subscribe();
    assert!(c.resume_session().await.unwrap().is_some());
    wait_for(&mut ui, "online", |e| matches!(e, UiEvent::Connection(s) if s.online)).await;
    world.ring("B1").await;
    eventually(10, "the new call cached", || async {
        (c.history("", 50).await.unwrap().len() == 2).then_some(())
    })
    .await;
    let cursor = c.cache().cursor().await.unwrap();
    let head = world.gateway_event_count().await as i64;
    assert!(
        cursor > 0 && cursor <= head,
        "the cursor follows the gateway's numbering again ({cursor}, head {head})"
    );
}
