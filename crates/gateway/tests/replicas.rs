//! Two gateway processes on one PostgreSQL database: a WebSocket client on replica B
//! receives, in order, the events caused by actions sent to replica A (LISTEN/NOTIFY).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{GatewayProcess, TestDb, inbound, post_webhook, token};
use switchboard_client::{Client, StreamItem};
use switchboard_core::{CallRecord, CallStatus, StreamEventKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_replica_a_reach_a_client_on_replica_b_in_order() {
    let db = TestDb::postgres().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    let seeded = support::seed(&*store, 1).await;
    let tok = token(&*store, &seeded, "alice").await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let secrets = support::secrets_dir();
    let a = GatewayProcess::spawn(db.url(), dir_a.path(), secrets.path(), &[]).await;
    let b = GatewayProcess::spawn(db.url(), dir_b.path(), secrets.path(), &[]).await;
    let on_a = Client::new(&a.base, &tok).unwrap();
    let on_b = Client::new(&b.base, &tok).unwrap();

    let mut stream = on_b.events(0);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap(),
        Some(StreamItem::Connected)
    );

    // A call arrives through A's webhook; A's simulator confirms the actions sent to A.
    let http = reqwest::Client::new();
    let (code, body) = post_webhook(
        &http,
        &a.base,
        &seeded.provider_name,
        &inbound("R1", "r1", 1_000, CallStatus::Ringing, "+14155550100"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let sid = on_a.queue().await.unwrap().calls[0].call.call_sid.clone();

    let mut want = vec![CallStatus::Ringing];
    for (action, status) in [
        ("answer", CallStatus::Answered),
        ("hold", CallStatus::OnHold),
        ("resume", CallStatus::Answered),
        ("end", CallStatus::Completed),
    ] {
        match action {
            "answer" => on_a.answer(&sid).await.unwrap(),
            "hold" => on_a.hold(&sid).await.unwrap(),
            "resume" => on_a.resume(&sid).await.unwrap(),
            _ => on_a.end(&sid).await.unwrap(),
        };
        // Wait for each confirmation on B before the next action, as an agent would.
        support::eventually(10, "the confirmation on replica A", || async {
            (on_a.call(&sid).await.unwrap().call.status == status).then_some(())
        })
        .await;
        want.push(status);
    }

    let mut seen = vec![];
    let mut actions = 0;
    let mut last_id = 0;
    while seen.len() < want.len() {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("event on B")
            .unwrap();
        let StreamItem::Event(ev) = item else {
            continue;
        };
        assert!(ev.id > last_id, "ids increase on B: {} after {last_id}", ev.id);
        last_id = ev.id;
        match ev.kind {
            StreamEventKind::CallCreated | StreamEventKind::CallUpdated => {
                let rec: CallRecord = serde_json::from_value(ev.data).unwrap();
                assert_eq!(rec.call_sid, sid);
                seen.push(rec.status);
            }
            StreamEventKind::CallAction => actions += 1,
            _ => {}
        }
    }
    assert_eq!(seen, want, "B saw A's changes in order");
    assert!(actions >= 3, "B also saw the action requests ({actions})");
    drop((a, b));
    drop(store);
    db.cleanup().await;
}
