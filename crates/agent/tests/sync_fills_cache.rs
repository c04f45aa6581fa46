//! Signing in fills the cache (snapshot, then the event stream) and tells the UI.

#![allow(clippy::unwrap_used)]

mod common;

use common::{World, console, eventually, service, wait_for};
use switchboard_core::desktop::{CallSummary, UiEvent, requeue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_snapshots_then_streams_into_the_cache() {
    let world = World::start().await;
    world.ring("S0").await; // before sign-in: comes with the snapshot
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), &service()).await;
    let mut ui = c.subscribe();
    assert!(
        c.sign_in(&world.url(), "sbt_wrong").await.is_err(),
        "a wrong token is refused"
    );
    let session = c.sign_in(&world.url(), &world.token).await.unwrap();
    assert_eq!(session.agent.name, "alice");
    wait_for(&mut ui, "online", |e| matches!(e, UiEvent::Connection(s) if s.online)).await;
    // The UI reads the queue once and then keeps it from the call changes alone; so does
    // `shown`, which must agree with the cache's queue all along.
    let mut changes = c.subscribe();
    let mut shown = c.queue().await.unwrap();
    assert_eq!(shown.len(), 1, "snapshot brought the waiting call");
    assert_eq!(c.numbers().await.unwrap().len(), 3);
    assert_eq!(c.agents().await.unwrap().len(), 3);

    world.ring("S1").await;
    let ev = wait_for(&mut ui, "the incoming call", |e| {
        matches!(e, UiEvent::IncomingCall { .. })
    })
    .await;
    let UiEvent::IncomingCall { call_sid, .. } = ev else {
        unreachable!()
    };
    eventually(10, "both calls in the queue", || async {
        (c.queue().await.unwrap().len() == 2).then_some(())
    })
    .await;
    follow_changes(&mut changes, &mut shown);
    assert_eq!(
        shown,
        c.queue().await.unwrap(),
        "the queue kept from events, with two waiting"
    );
    let answered = c.answer(&call_sid).await.unwrap();
    assert_eq!(answered.agent_id, Some(session.agent.id));
    eventually(10, "answered in the cache", || async {
        let d = c.call_detail(&call_sid).await.unwrap();
        (d.call.status == switchboard_core::CallStatus::Answered).then_some(())
    })
    .await;
    follow_changes(&mut changes, &mut shown);
    let queue = c.queue().await.unwrap();
    assert_eq!(queue.len(), 1, "the answered call left the queue");
    assert_eq!(shown, queue, "the queue kept from events, after an answer");
    let history = c.history("", 50).await.unwrap();
    assert_eq!(history.len(), 2);

    // The dialer: the default number first; a number chosen for a lead is remembered for
    // that lead only; an inbound-only number is never offered.
    let numbers = c.numbers().await.unwrap();
    let default = numbers.iter().find(|n| n.is_default).unwrap().id;
    let support = numbers
        .iter()
        .find(|n| !n.is_default && n.capabilities.outbound)
        .unwrap()
        .id;
    let leads = world.seeded.leads.clone();
    assert_eq!(c.preferred_number(None).await.unwrap(), Some(default));
    assert_eq!(c.preferred_number(Some(leads[4])).await.unwrap(), Some(default));
    c.end(&call_sid).await.unwrap();
    let dial = switchboard_core::desktop::DialRequest {
        to: "+14155550188".into(),
        from_number_id: support,
        lead_id: Some(leads[4]),
    };
    let placed = c.dial(&dial).await.unwrap();
    assert_eq!(
        placed.from,
        numbers.iter().find(|n| n.id == support).unwrap().e164.to_string()
    );
    assert_eq!(
        c.preferred_number(Some(leads[4])).await.unwrap(),
        Some(support),
        "remembered for this lead"
    );
    assert_eq!(
        c.preferred_number(Some(leads[5])).await.unwrap(),
        Some(default),
        "other leads keep the default"
    );
    let inbound_only = numbers.iter().find(|n| !n.capabilities.outbound).unwrap().id;
    let refused = c
        .dial(&switchboard_core::desktop::DialRequest {
            to: "+14155550188".into(),
            from_number_id: inbound_only,
            lead_id: None,
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(switchboard_core::desktop::DesktopError::Gateway { status: 422, .. })
        ),
        "{refused:?}"
    );
    assert!(matches!(
        c.dial(&switchboard_core::desktop::DialRequest {
            to: "0800 FLOWERS".into(),
            from_number_id: default,
            lead_id: None
        })
        .await,
        Err(switchboard_core::desktop::DesktopError::Invalid(_))
    ));
    let state = c.state().await.unwrap();
    assert!(state.connection.online && state.connection.last_sync_at.is_some());
    assert_eq!(state.session.unwrap().agent.name, "alice");
}

/// Lay every call change emitted so far over `shown`, as the UI's reducer does. The cache
/// is written before a change is emitted, so once the cache shows a state its changes are
/// already in the channel.
fn follow_changes(changes: &mut tokio::sync::broadcast::Receiver<UiEvent>, shown: &mut Vec<CallSummary>) {
    while let Ok(ev) = changes.try_recv() {
        if let UiEvent::CallChanged(s) = ev {
            requeue(shown, &s);
        }
    }
}
