//! Outbound calls through the API (answered, busy, refused at once), in-call controls
//! (DTMF, recording) and agent status, against the simulator over real HTTP.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{TestDb, TestGateway, eventually, token};
use switchboard_client::{Client, StreamItem};
use switchboard_core::api::{OutboundCallRequest, RecordingAction};
use switchboard_core::{AgentStatus, CallErrorCode, CallSid, CallStatus, Direction, StreamEventKind};
use switchboard_gateway::demo;

async fn gateway(busy_rate: f64) -> (TestDb, TestGateway, Client, demo::Seeded, String) {
    let db = TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    let mut cfg = support::quiet_sim();
    cfg["outbound_busy_rate"] = busy_rate.into();
    cfg["reject_prefixes"] = serde_json::json!(["+1900"]);
    let seeded = demo::seed_business(&*store, "Outbound Co", "sim-1", cfg, 100, 5)
        .await
        .unwrap();
    let gw = TestGateway::with_store(store).await;
    let tok = token(&*gw.store, &seeded, "alice").await;
    let client = gw.client(&tok);
    (db, gw, client, seeded, tok)
}

async fn wait_status(c: &Client, sid: &CallSid, status: CallStatus) -> switchboard_core::CallRecord {
    eventually(10, &format!("call to be {status}"), || async {
        let rec = c.call(sid).await.unwrap().call;
        (rec.status == status).then_some(rec)
    })
    .await
}

#[tokio::test]
async fn outbound_call_answers_and_takes_controls() {
    let (db, _gw, alice, seeded, _) = gateway(0.0).await;
    let lead = seeded.leads[2];
    let req = OutboundCallRequest {
        to: "+14155558888".parse().unwrap(),
        from_number_id: seeded.numbers[1],
        lead_id: Some(lead),
        ai_agent: None,
    };
    let placed = alice.place_call(&req).await.unwrap();
    let sid = placed.call.call_sid.clone();
    assert_eq!(placed.call.direction, Direction::Outbound);
    assert_eq!(placed.call.from, "+14155550101", "from the chosen number");
    assert_eq!(placed.call.agent_id, Some(seeded.agent("alice")));
    assert!(
        placed.call.vendor_call_id.is_some(),
        "the provider's id is attached before the reply"
    );
    assert_eq!(alice.lead(lead).await.unwrap().lead.call_sid.as_ref(), Some(&sid));

    wait_status(&alice, &sid, CallStatus::Answered).await;
    alice.dtmf(&sid, "12#").await.unwrap();
    alice.recording(&sid, RecordingAction::Start).await.unwrap();
    let rec = eventually(10, "a recording url", || async {
        let rec = alice.call(&sid).await.unwrap().call;
        rec.recording_url.clone().map(|_| rec)
    })
    .await;
    assert!(rec.recording_url.unwrap().starts_with("sim://recordings/"));
    alice.recording(&sid, RecordingAction::Stop).await.unwrap();
    alice.end(&sid).await.unwrap();
    let done = wait_status(&alice, &sid, CallStatus::Completed).await;
    assert!(done.error.is_none() && done.ended_at.is_some());
    let lead_calls = alice.lead(lead).await.unwrap().calls;
    assert_eq!(
        lead_calls.first().map(|c| &c.call_sid),
        Some(&sid),
        "lead -> calls, newest first"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn outbound_failures_leave_a_failed_record_with_the_reason() {
    let (db, _gw, alice, seeded, _) = gateway(1.0).await;
    // Busy: the provider accepts, rings, then reports busy.
    let req = OutboundCallRequest {
        to: "+14155558888".parse().unwrap(),
        from_number_id: seeded.numbers[0],
        lead_id: None,
        ai_agent: None,
    };
    let sid = alice.place_call(&req).await.unwrap().call.call_sid;
    let rec = wait_status(&alice, &sid, CallStatus::Failed).await;
    let err = rec.error.unwrap();
    assert_eq!(
        (err.code, err.provider_code.as_deref(), err.retryable),
        (CallErrorCode::Busy, Some("486"), true)
    );

    // Refused at once: the record was stored first and now says why.
    let req = OutboundCallRequest {
        to: "+19005550000".parse().unwrap(),
        from_number_id: seeded.numbers[0],
        lead_id: None,
        ai_agent: None,
    };
    let placed = alice.place_call(&req).await.unwrap();
    assert_eq!(placed.call.status, CallStatus::Failed);
    let err = placed.call.error.unwrap();
    assert_eq!(
        (err.code, err.provider_code.as_deref()),
        (CallErrorCode::InvalidNumber, Some("21211"))
    );
    assert!(placed.call.vendor_call_id.is_none(), "no call was placed");
    let history = alice.calls(&Default::default()).await.unwrap().calls;
    assert_eq!(history.len(), 2, "both attempts are in the history");
    db.cleanup().await;
}

#[tokio::test]
async fn agent_status_is_stored_and_streamed() {
    let (db, gw, alice, _seeded, tok) = gateway(0.0).await;
    let mut events = alice.events(0);
    let me = alice.set_status(AgentStatus::Available).await.unwrap();
    assert_eq!(me.status, AgentStatus::Available);
    let listed = alice
        .agents()
        .await
        .unwrap()
        .agents
        .into_iter()
        .find(|a| a.id == me.id)
        .unwrap();
    assert_eq!(listed.status, AgentStatus::Available);
    let ev = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(StreamItem::Event(ev)) = events.next().await {
                if ev.kind == StreamEventKind::AgentStatus {
                    return ev;
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(ev.data["status"], "available");
    let put = |token: &str| {
        reqwest::Client::new()
            .put(format!("{}/v1/agents/me/status", gw.base))
            .bearer_auth(token)
            .json(&serde_json::json!({ "status": "lunch" }))
            .send()
    };
    assert_eq!(
        put("x").await.unwrap().status().as_u16(),
        401,
        "auth is checked before the body"
    );
    let bad = put(&tok).await.unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    assert!(bad.text().await.unwrap().contains("lunch"));
    assert_eq!(
        alice
            .agents()
            .await
            .unwrap()
            .agents
            .into_iter()
            .find(|a| a.id == me.id)
            .unwrap()
            .status,
        AgentStatus::Available
    );
    db.cleanup().await;
}
