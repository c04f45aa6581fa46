//! The demo, end to end, through the real binary: `serve --demo` on an empty SQLite file.
//! Within 10 s a call is queued; answer, hold, resume, transfer (to another agent) and end
//! each show in GET /v1/calls/{sid} and arrive on the WebSocket in order; the finished call
//! has its lead and its transcript.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{GatewayProcess, eventually};
use switchboard_client::{Client, EventStream, StreamItem};
use switchboard_core::api::TransferTarget;
use switchboard_core::{CallRecord, CallSid, CallStatus, StreamEventKind};

fn token(data_dir: &std::path::Path, db: &str, agent: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard-gateway"))
        .args(["token", "--database", db, "--agent", agent])
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Read the stream until `sid` reaches `status`; returns the statuses seen for it on the way.
async fn until_status(events: &mut EventStream, sid: &CallSid, status: CallStatus) -> Vec<(i64, CallStatus)> {
    let mut seen = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let item = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("event in time")
            .expect("stream open");
        if let StreamItem::Event(ev) = item {
            if ev.call_sid.as_ref() == Some(sid)
                && matches!(ev.kind, StreamEventKind::CallUpdated | StreamEventKind::CallCreated)
            {
                let rec: CallRecord = serde_json::from_value(ev.data).unwrap();
                seen.push((ev.id, rec.status));
                if rec.status == status {
                    return seen;
                }
            }
        }
    }
}

async fn status_now(client: &Client, sid: &CallSid) -> CallStatus {
    client.call(sid).await.unwrap().call.status
}

#[tokio::test]
async fn demo_call_goes_through_every_action_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let secrets = dir.path().join("secrets");
    let started = tokio::time::Instant::now();
    let gw = GatewayProcess::spawn(&db, dir.path(), &secrets, &["--demo"]).await;
    let alice = Client::new(&gw.base, token(dir.path(), &db, "alice")).unwrap();
    let bob = Client::new(&gw.base, token(dir.path(), &db, "bob")).unwrap();

    let mut events = alice.events(0);
    let queued = eventually(10, "a call in the queue", || async {
        alice.queue().await.ok().and_then(|q| q.calls.into_iter().next())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "first call took {:?}",
        started.elapsed()
    );
    let sid = queued.call.call_sid.clone();
    assert!(queued.lead_name.is_some(), "demo callers are leads");

    let mut ids = vec![];
    alice.answer(&sid).await.unwrap();
    ids.extend(until_status(&mut events, &sid, CallStatus::Answered).await);
    assert_eq!(status_now(&alice, &sid).await, CallStatus::Answered);

    // The simulator streams the caller's script while the call is connected.
    eventually(15, "a transcript turn", || async {
        let t = alice.transcript(&sid).await.unwrap();
        (!t.turns.is_empty()).then_some(())
    })
    .await;

    alice.hold(&sid).await.unwrap();
    ids.extend(until_status(&mut events, &sid, CallStatus::OnHold).await);
    assert_eq!(status_now(&alice, &sid).await, CallStatus::OnHold);

    alice.resume(&sid).await.unwrap();
    ids.extend(until_status(&mut events, &sid, CallStatus::Answered).await);
    assert_eq!(status_now(&alice, &sid).await, CallStatus::Answered);

    let bob_id = bob
        .agents()
        .await
        .unwrap()
        .agents
        .into_iter()
        .find(|a| a.name == "bob")
        .unwrap()
        .id;
    alice.transfer(&sid, TransferTarget::Agent(bob_id)).await.unwrap();
    ids.extend(until_status(&mut events, &sid, CallStatus::Transferred).await);
    ids.extend(until_status(&mut events, &sid, CallStatus::Ringing).await);
    let rec = alice.call(&sid).await.unwrap().call;
    assert_eq!(
        (rec.status, rec.agent_id),
        (CallStatus::Ringing, Some(bob_id)),
        "rings bob now"
    );

    bob.answer(&sid).await.unwrap();
    ids.extend(until_status(&mut events, &sid, CallStatus::Answered).await);
    bob.end(&sid).await.unwrap();
    ids.extend(until_status(&mut events, &sid, CallStatus::Completed).await);

    let statuses: Vec<CallStatus> = ids.iter().map(|(_, s)| *s).collect();
    use CallStatus::*;
    let expected = [Answered, OnHold, Answered, Transferred, Ringing, Answered, Completed];
    let mut it = statuses.iter();
    assert!(
        expected.iter().all(|e| it.any(|s| s == e)),
        "stream order {statuses:?} contains {expected:?} in order"
    );
    assert!(ids.windows(2).all(|w| w[0].0 < w[1].0), "event ids increase: {ids:?}");

    let detail = alice.call(&sid).await.unwrap();
    assert_eq!(detail.call.status, Completed);
    assert!(detail.call.answered_at.is_some() && detail.call.ended_at.is_some() && detail.call.duration_secs.is_some());
    let lead = detail.lead.expect("the finished call has its lead");
    assert_eq!(lead.call_sid.as_ref(), Some(&sid), "and the lead points back at it");
    assert!(!detail.transcript.is_empty(), "and its transcript");
    assert!(detail.transcript.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert!(alice.hold(&sid).await.is_err(), "a finished call cannot be held");
}
