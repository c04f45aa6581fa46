//! A business never sees or touches another's calls, leads, transcripts, numbers, agents or
//! events: every endpoint is tried with business 1's token against business 2's data.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{TestDb, TestGateway, inbound, post_signed, post_webhook, token};
use switchboard_client::StreamItem;
use switchboard_core::api::{CallListQuery, OutboundCallRequest, RecordingAction, TransferTarget};
use switchboard_core::{CallStatus, StreamEventKind};

fn not_found<T: std::fmt::Debug>(r: Result<T, switchboard_client::ClientError>) -> Option<u16> {
    r.err().and_then(|e| e.status()).map(|s| s.as_u16())
}

#[tokio::test]
async fn every_endpoint_is_scoped_to_the_token_business() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 2).await;
    let (one, two) = (&seeded[0], &seeded[1]);
    let http = reqwest::Client::new();
    let mine = gw.client(&token(&*gw.store, one, "alice").await);
    let theirs = gw.client(&token(&*gw.store, two, "alice").await);
    let mut my_events = mine.events(0);

    // Business 2 gets an answered call with a transcript and a lead.
    let mut ev = inbound("T2", "t2-1", 1_000, CallStatus::Answered, "+14155550200");
    ev.from = Some(theirs.leads(None).await.unwrap().leads[0].phone.clone());
    let (code, _) = post_webhook(&http, &gw.base, "sim-2", &ev).await;
    assert_eq!(code, 200);
    let their_call = theirs.calls(&CallListQuery::default()).await.unwrap().calls.remove(0);
    let sid = their_call.call_sid.clone();
    let hook = serde_json::json!({ "call_sid": sid, "turns": [{ "role": "caller", "content": "private", "occurred_at": support::recent(1), "sequence": 0 }] });
    assert_eq!(
        post_signed(
            &http,
            &format!("{}/webhooks/transcripts/sim-2", gw.base),
            hook.to_string().as_bytes(),
            support::SECRET
        )
        .await
        .0,
        200
    );
    let their_lead = their_call.lead_id.unwrap();

    // Reads by id are 404s.
    assert_eq!(not_found(mine.call(&sid).await), Some(404));
    assert_eq!(not_found(mine.transcript(&sid).await), Some(404));
    assert_eq!(not_found(mine.lead(their_lead).await), Some(404));
    // Actions are 404s and change nothing.
    let before = theirs.call(&sid).await.unwrap();
    assert_eq!(not_found(mine.answer(&sid).await), Some(404));
    assert_eq!(not_found(mine.hold(&sid).await), Some(404));
    assert_eq!(not_found(mine.resume(&sid).await), Some(404));
    assert_eq!(not_found(mine.end(&sid).await), Some(404));
    assert_eq!(
        not_found(
            mine.transfer(&sid, TransferTarget::Number("+14155550000".parse().unwrap()))
                .await
        ),
        Some(404)
    );
    assert_eq!(not_found(mine.dtmf(&sid, "1").await), Some(404));
    assert_eq!(not_found(mine.recording(&sid, RecordingAction::Start).await), Some(404));
    assert_eq!(theirs.call(&sid).await.unwrap(), before);
    // Lists show only our own.
    assert!(mine.calls(&CallListQuery::default()).await.unwrap().calls.is_empty());
    assert!(mine.queue().await.unwrap().calls.is_empty());
    let my_numbers = mine.numbers().await.unwrap().numbers;
    assert!(my_numbers.iter().all(|n| n.e164.as_str().starts_with("+1415555010")));
    let my_leads = mine.leads(None).await.unwrap().leads;
    assert!(my_leads.iter().all(|l| l.id != their_lead));
    let their_phone = theirs.lead(their_lead).await.unwrap().lead.phone;
    assert!(mine.leads(Some(&their_phone)).await.unwrap().leads.is_empty());
    let my_agents = mine.agents().await.unwrap().agents;
    assert!(my_agents.iter().all(|a| a.id != two.agent("alice")));
    // Their number, their lead and their agents are not ours to use.
    let req = OutboundCallRequest {
        to: "+14155559999".parse().unwrap(),
        from_number_id: two.numbers[0],
        lead_id: None,
        ai_agent: None,
    };
    assert_eq!(
        mine.place_call(&req).await.unwrap_err().status().map(|s| s.as_u16()),
        Some(422)
    );
    let req = OutboundCallRequest {
        to: "+14155559999".parse().unwrap(),
        from_number_id: one.numbers[0],
        lead_id: Some(their_lead),
        ai_agent: None,
    };
    assert_eq!(
        mine.place_call(&req).await.unwrap_err().status().map(|s| s.as_u16()),
        Some(422)
    );
    let (code, _) = post_webhook(
        &http,
        &gw.base,
        "sim-1",
        &inbound("T1", "t1-1", 1_000, CallStatus::Answered, "+14155550100"),
    )
    .await;
    assert_eq!(code, 200);
    let my_call = mine.calls(&CallListQuery::default()).await.unwrap().calls.remove(0);
    let err = mine
        .transfer(&my_call.call_sid, TransferTarget::Agent(two.agent("bob")))
        .await
        .unwrap_err();
    assert!(matches!(err.status().map(|s| s.as_u16()), Some(422 | 403)), "{err}");

    // The event stream carries only our business's events.
    let mut seen_mine = false;
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(500), my_events.next()).await {
        if let StreamItem::Event(ev) = item {
            assert_ne!(ev.call_sid.as_ref(), Some(&sid), "saw another business's event {ev:?}");
            assert!(!(ev.kind == StreamEventKind::TranscriptTurn && ev.data["content"] == "private"));
            seen_mine |= ev.call_sid.as_ref() == Some(&my_call.call_sid);
        }
    }
    assert!(seen_mine, "our own events did arrive");
    // A webhook can only touch its own provider's business: sim-1 cannot reach business 2's call.
    let mut cross = inbound("T2", "t2-x", 2_000, CallStatus::Completed, "+14155550200");
    cross.call_sid = Some(sid.clone());
    assert_eq!(post_webhook(&http, &gw.base, "sim-1", &cross).await.0, 404);
    assert_eq!(theirs.call(&sid).await.unwrap().call.status, CallStatus::Answered);
    db.cleanup().await;
}
