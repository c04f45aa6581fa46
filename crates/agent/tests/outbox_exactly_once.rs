//! Status and wrap-up made offline wait in the outbox and reach the gateway exactly once
//! when it is back, even when the console sends an item twice.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, console, eventually, service, signed_in, wait_for};
use switchboard_core::desktop::UiEvent;
use switchboard_core::{AgentStatus, StreamEventKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_replays_once_on_reconnect() {
    let mut world = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (c, mut ui) = signed_in(&world, dir.path(), &svc).await;
    world.ring("O1").await;
    let sid = eventually(10, "the call", || async {
        c.queue().await.unwrap().into_iter().next().map(|q| q.call.call_sid)
    })
    .await;
    c.answer(&sid).await.unwrap();

    world.down().await;
    wait_for(&mut ui, "offline", |e| matches!(e, UiEvent::Connection(s) if !s.online)).await;
    let me = c.set_status(AgentStatus::WrapUp).await.unwrap();
    assert_eq!(me.status, AgentStatus::WrapUp, "applied locally at once");
    let call = c
        .wrap_up(&sid, "follow_up", Some("wants a callback on Tuesday"))
        .await
        .unwrap();
    assert_eq!(call.disposition.as_deref(), Some("follow_up"));
    assert_eq!(c.outbox().await.unwrap().pending, 2);

    world.up().await;
    eventually(15, "the outbox to drain", || async {
        (c.outbox().await.unwrap().pending == 0).then_some(())
    })
    .await;
    let store = switchboard_gateway::store::connect(world.db.url()).await.unwrap();
    let rec = store.call(world.seeded.business, &sid).await.unwrap().unwrap();
    assert_eq!(
        (rec.disposition.as_deref(), rec.notes.as_deref()),
        (Some("follow_up"), Some("wants a callback on Tuesday"))
    );
    let count = |kind: StreamEventKind, pred: fn(&serde_json::Value) -> bool| {
        let store = store.clone();
        let business = world.seeded.business;
        async move {
            store
                .events_since(business, 0, 10_000)
                .await
                .unwrap()
                .iter()
                .filter(|e| e.kind == kind && pred(&e.data))
                .count()
        }
    };
    assert_eq!(
        count(StreamEventKind::CallUpdated, |d| d["disposition"] == "follow_up").await,
        1,
        "wrap-up applied once"
    );
    assert_eq!(
        count(StreamEventKind::AgentStatus, |d| d["status"] == "wrap_up").await,
        1,
        "status applied once"
    );

    // A crash after sending but before marking sent makes the console send again; the
    // idempotency key keeps the gateway from applying it twice.
    sqlx::query("UPDATE outbox SET state = 'pending'")
        .execute(
            &sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("cache.db").display()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    drop(c);
    let c = console(dir.path(), &svc).await;
    c.resume_session().await.unwrap().unwrap();
    eventually(15, "the replayed outbox to drain", || async {
        (c.outbox().await.unwrap().pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        count(StreamEventKind::CallUpdated, |d| d["disposition"] == "follow_up").await,
        1,
        "still once"
    );
    assert_eq!(
        count(StreamEventKind::AgentStatus, |d| d["status"] == "wrap_up").await,
        1,
        "still once"
    );
    let a = store
        .agents(world.seeded.business)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "alice")
        .unwrap();
    assert_eq!(a.status, AgentStatus::WrapUp);
}
