//! With the gateway gone, history, calls, leads and transcripts stay readable from the
//! cache, and actions that need the gateway fail with a clear message.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, eventually, service, signed_in, wait_for};
use switchboard_core::desktop::{DesktopError, UiEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_serves_history_and_refuses_answer_clearly() {
    let mut world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (c, mut ui) = signed_in(&world, dir.path(), &service()).await;
    world.ring("F1").await;
    let sid = eventually(10, "the call", || async {
        c.queue().await.unwrap().into_iter().next().map(|q| q.call.call_sid)
    })
    .await;
    let online_detail = c.call_detail(&sid).await.unwrap();
    // A state read while online, which the UI might receive only after the drop's event.
    let read_before = c.state().await.unwrap().connection;
    assert!(read_before.online);

    world.down().await;
    let ev = wait_for(&mut ui, "offline", |e| matches!(e, UiEvent::Connection(s) if !s.online)).await;
    let UiEvent::Connection(state) = ev else { unreachable!() };
    assert!(state.last_sync_at.is_some(), "the banner can say when we last synced");
    assert!(!c.state().await.unwrap().connection.online);
    assert!(
        !read_before.newer_than(&state) && state.newer_than(&read_before),
        "the earlier read must not undo the event: {read_before:?} vs {state:?}"
    );

    let history = c.history("", 50).await.unwrap();
    assert_eq!(history.len(), 1);
    let by_number = c.history(&online_detail.call.from[2..8], 50).await.unwrap();
    assert_eq!(by_number.len(), 1, "search by part of the number works offline");
    assert!(c.history("nobody-by-this-name", 50).await.unwrap().is_empty());
    let offline_detail = c.call_detail(&sid).await.unwrap();
    assert_eq!(offline_detail.call.call_sid, sid);
    match c.answer(&sid).await {
        Err(DesktopError::Offline(m)) => assert!(m.contains("Answering") && m.contains("cannot be reached"), "{m}"),
        other => panic!("expected a clear offline error, got {other:?}"),
    }
}
