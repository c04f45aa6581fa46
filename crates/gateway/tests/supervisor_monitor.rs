//! The monitoring routes' edges, on SQLite and PostgreSQL: who may monitor (supervisors
//! and admins of the call's business; agents get 403, another business's supervisor a 404
//! that says nothing of the call), which changes make sense when (409 otherwise), what an
//! agent is told (whisper and barge always, listening only where the business announces
//! it: in the record, the call's trail and the event stream), and the audit trail of every
//! start, switch and stop. Also the consult routes' refusals.

mod support;

use support::*;
use switchboard_client::{Client, StreamItem};
use switchboard_core::api::{SettingsPatch, TransferTarget};
use switchboard_core::{CallSid, CallStatus, ConsultStep, MonitorMode, StreamEventKind};

async fn status_is(c: &Client, sid: &CallSid, want: CallStatus) {
    eventually(10, &format!("call {want}"), || async {
        (c.call(sid).await.ok()?.call.status == want).then_some(())
    })
    .await;
}

fn code(e: &switchboard_client::ClientError) -> u16 {
    match e {
        switchboard_client::ClientError::Api { status, .. } => status.as_u16(),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn monitoring(db: TestDb) {
    let (gw, seeded) = TestGateway::start(&db, 2).await;
    let (one, two) = (&seeded[0], &seeded[1]);
    let client = |s, who| {
        let (gw, store) = (&gw, gw.store.clone());
        async move { gw.client(&token(&*store, s, who).await) }
    };
    let alice = client(one, "alice").await;
    let bob = client(one, "bob").await;
    let sam = client(one, "sam").await;
    let other_sam = client(two, "sam").await;
    let admin = gw.client(&admin_token(&gw, one).await);

    // A call alice answers.
    let http = reqwest::Client::new();
    let number = alice.numbers().await.unwrap().numbers[0].e164.to_string();
    let (status, body) = post_webhook(
        &http,
        &gw.base,
        &one.provider_name,
        &inbound("MON-1", "m1", 1_000, CallStatus::Ringing, &number),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sid = eventually(10, "the call in the queue", || async {
        alice
            .queue()
            .await
            .ok()?
            .calls
            .into_iter()
            .next()
            .map(|c| c.call.call_sid)
    })
    .await;

    // Not before it is connected.
    let early = sam.monitor(&sid, MonitorMode::Listen).await.expect_err("ringing");
    assert_eq!(code(&early), 409, "{early}");
    alice.answer(&sid).await.unwrap();
    status_is(&alice, &sid, CallStatus::Answered).await;
    let cursor = alice.event_cursor().await.unwrap();
    let mut alice_events = alice.events(cursor);

    // Agents may not monitor, whether or not the call is theirs; another business's
    // supervisor cannot even see it.
    for agent in [&alice, &bob] {
        let e = agent.monitor(&sid, MonitorMode::Listen).await.expect_err("agent");
        assert_eq!(code(&e), 403, "{e}");
    }
    let e = other_sam.monitor(&sid, MonitorMode::Barge).await.expect_err("tenant");
    assert_eq!(code(&e), 404, "{e}");
    let e = other_sam.stop_monitor(&sid).await.expect_err("tenant");
    assert_eq!(code(&e), 404, "{e}");
    // Switching or leaving before joining is a 409 with a reason.
    let e = sam
        .switch_monitor(&sid, MonitorMode::Whisper)
        .await
        .expect_err("not joined");
    assert_eq!(code(&e), 409);
    assert!(e.to_string().contains("not monitoring"), "{e}");
    // A bad mode is refused before anything happens.
    let resp = http
        .post(format!("{}/v1/calls/{sid}/monitor", gw.base))
        .bearer_auth(token(&*gw.store, one, "sam").await)
        .json(&serde_json::json!({ "mode": "shout" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);

    // Listen: covert by default. Sam and the admin see it; alice does not.
    let started = sam.monitor(&sid, MonitorMode::Listen).await.unwrap();
    assert_eq!(started.call.monitors.len(), 1);
    assert_eq!(started.call.monitors[0].name, "Sam Lindqvist");
    let twice = sam.monitor(&sid, MonitorMode::Listen).await.expect_err("twice");
    assert_eq!(code(&twice), 409, "{twice}");
    assert_eq!(admin.call(&sid).await.unwrap().call.monitors.len(), 1);
    let seen_by_alice = alice.call(&sid).await.unwrap();
    assert!(seen_by_alice.call.monitors.is_empty(), "listening is covert");
    assert!(seen_by_alice.history.iter().all(|h| !h.what.contains("monitor")));
    // Whisper: alice is told.
    sam.switch_monitor(&sid, MonitorMode::Whisper).await.unwrap();
    let seen = alice.call(&sid).await.unwrap().call.monitors;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].mode, MonitorMode::Whisper);
    sam.switch_monitor(&sid, MonitorMode::Listen).await.unwrap();
    assert!(alice.call(&sid).await.unwrap().call.monitors.is_empty());
    // Alice's trail: the whisper and the switches that touched it, never the covert start.
    let alice_lines: Vec<String> = alice
        .call(&sid)
        .await
        .unwrap()
        .history
        .into_iter()
        .map(|h| h.what)
        .collect();
    assert!(
        !alice_lines.iter().any(|l| l.contains("started monitoring")),
        "{alice_lines:?}"
    );
    assert!(
        alice_lines.iter().any(|l| l.contains("switched to whisper")),
        "{alice_lines:?}"
    );
    assert!(
        alice_lines.iter().any(|l| l.contains("switched to listen")),
        "{alice_lines:?}"
    );

    // The business announces listening: only admins may say so.
    let e = sam
        .update_settings(&SettingsPatch {
            announce_listening: Some(true),
        })
        .await
        .expect_err("supervisor");
    assert_eq!(code(&e), 403);
    let set = admin
        .update_settings(&SettingsPatch {
            announce_listening: Some(true),
        })
        .await
        .unwrap();
    assert!(set.announce_listening);
    assert!(alice.settings().await.unwrap().announce_listening);
    assert!(!other_sam.settings().await.unwrap().announce_listening, "per business");
    assert_eq!(
        alice.call(&sid).await.unwrap().call.monitors[0].mode,
        MonitorMode::Listen
    );

    // Leave; leaving twice is a 409.
    let left = sam.stop_monitor(&sid).await.unwrap();
    assert!(left.call.monitors.is_empty());
    assert_eq!(code(&sam.stop_monitor(&sid).await.expect_err("twice")), 409);

    // The trail, as the supervisor sees it: every start, switch and stop, by whom, in order.
    let sam_id = sam.me().await.unwrap().id;
    let trail: Vec<_> = sam
        .call(&sid)
        .await
        .unwrap()
        .history
        .into_iter()
        .filter(|h| h.kind == StreamEventKind::CallMonitor)
        .collect();
    let lines: Vec<&str> = trail.iter().map(|h| h.what.as_str()).collect();
    assert_eq!(
        lines,
        [
            "Sam Lindqvist started monitoring (listen)",
            "Sam Lindqvist switched to whisper",
            "Sam Lindqvist switched to listen",
            "Sam Lindqvist stopped monitoring",
        ]
    );
    assert!(trail.iter().all(|h| h.agent_id == Some(sam_id)));
    assert!(trail.windows(2).all(|w| w[0].at <= w[1].at));
    // Once announced, alice's trail shows the listening too.
    let alice_lines: Vec<String> = alice
        .call(&sid)
        .await
        .unwrap()
        .history
        .into_iter()
        .map(|h| h.what)
        .collect();
    assert!(
        alice_lines.iter().any(|l| l.contains("started monitoring (listen)")),
        "{alice_lines:?}"
    );

    // Alice's event stream told her of the whisper but never of the covert listening.
    let mut modes_seen = vec![];
    loop {
        let item = tokio::time::timeout(std::time::Duration::from_secs(10), alice_events.next())
            .await
            .expect("alice's stream delivers")
            .expect("stream open");
        let StreamItem::Event(ev) = item else { continue };
        assert_ne!(
            ev.kind,
            StreamEventKind::CallMonitor,
            "agents get monitoring as call updates"
        );
        if ev.kind == StreamEventKind::SettingsChanged {
            break;
        }
        if let Some(call) = ev.data.get("call").or(Some(&ev.data)) {
            if let Some(m) = call.get("monitors").and_then(|m| m.as_array()) {
                modes_seen.extend(m.iter().map(|m| m["mode"].as_str().unwrap_or("?").to_owned()));
            }
        }
    }
    assert!(modes_seen.iter().any(|m| m == "whisper"), "{modes_seen:?}");
    assert!(
        !modes_seen.iter().any(|m| m == "listen"),
        "covert listening leaked: {modes_seen:?}"
    );

    // Consult edges: only the holder starts one, not to herself, not twice.
    let alice_id = alice.me().await.unwrap().id;
    let bob_id = bob.me().await.unwrap().id;
    let e = bob
        .consult(&sid, TransferTarget::Agent(alice_id))
        .await
        .expect_err("not bob's");
    assert_eq!(code(&e), 403, "{e}");
    let e = alice
        .consult(&sid, TransferTarget::Agent(alice_id))
        .await
        .expect_err("self");
    assert_eq!(code(&e), 422, "{e}");
    let other_bob = two.agent("bob");
    let e = alice
        .consult(&sid, TransferTarget::Agent(other_bob))
        .await
        .expect_err("other business");
    assert_eq!(code(&e), 422, "{e}");
    let e = alice
        .consult_step(&sid, ConsultStep::Conference)
        .await
        .expect_err("no consult");
    assert_eq!(code(&e), 409, "{e}");
    alice.consult(&sid, TransferTarget::Agent(bob_id)).await.unwrap();
    let e = alice
        .consult(&sid, TransferTarget::Agent(bob_id))
        .await
        .expect_err("twice");
    assert_eq!(code(&e), 409, "{e}");
    let e = sam
        .consult_step(&sid, ConsultStep::Accept)
        .await
        .expect_err("not sam's consult");
    assert_eq!(code(&e), 403, "{e}");
    bob.consult_step(&sid, ConsultStep::Cancel).await.expect("bob declines");
    assert!(alice.call(&sid).await.unwrap().call.consult.is_none());

    // The call ends: nobody is left monitoring, and monitoring it now is a 409.
    sam.monitor(&sid, MonitorMode::Barge).await.unwrap();
    alice.end(&sid).await.unwrap();
    status_is(&alice, &sid, CallStatus::Completed).await;
    assert!(sam.call(&sid).await.unwrap().call.monitors.is_empty());
    assert_eq!(
        code(&sam.monitor(&sid, MonitorMode::Listen).await.expect_err("over")),
        409
    );
    drop(gw);
    db.cleanup().await;
}

#[tokio::test]
async fn monitoring_checks_roles_tenants_and_leaves_a_trail_on_sqlite() {
    monitoring(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn monitoring_checks_roles_tenants_and_leaves_a_trail_on_postgres() {
    monitoring(TestDb::postgres().await).await;
}
