//! Two businesses whose carriers hand out the same call id (two PBXs both numbering a call
//! `1636598043.6`): both calls are stored, and neither business can learn of the other's
//! through any endpoint, its event stream, its cursor or the webhook replies. On SQLite
//! and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use support::{TestDb, TestGateway, inbound, post_webhook, token};
use switchboard_core::api::CallListQuery;
use switchboard_core::{CallStatus, StreamEventKind, TelephonyVendor, VoicePlatform};

async fn same_vendor_id_in_two_businesses(kind: &str) {
    let db = TestDb::of(kind).await;
    let (gw, seeded) = TestGateway::start(&db, 2).await;
    let http = reqwest::Client::new();
    let one = gw.client(&token(&*gw.store, &seeded[0], "alice").await);
    let two = gw.client(&token(&*gw.store, &seeded[1], "alice").await);
    let (cursor_one, cursor_two) = (one.event_cursor().await.unwrap(), two.event_cursor().await.unwrap());

    // Business 1 gets calls first: business 2's numbers must not move because of them.
    let mut replies = vec![];
    for (provider, to) in [("sim-1", "+14155550100"), ("sim-2", "+14155550200")] {
        let mut ev = inbound(
            "1636598043.6",
            &format!("{provider}-ring"),
            1_000,
            CallStatus::Ringing,
            to,
        );
        ev.voice_platform = Some(VoicePlatform::LiveKit);
        ev.voice_platform_call_id = Some("SCL_same".into());
        let (code, body) = post_webhook(&http, &gw.base, provider, &ev).await;
        // A legitimate first event: stored, never a conflict.
        assert_eq!(code, 200, "{provider}: {body}");
        replies.push(serde_json::from_str::<serde_json::Value>(&body).unwrap());
        // A later event of the same call finds its own business's call.
        let mut ev = inbound(
            "1636598043.6",
            &format!("{provider}-answer"),
            2_000,
            CallStatus::Answered,
            to,
        );
        ev.telephony_vendor = Some(TelephonyVendor::Simulator);
        let (code, body) = post_webhook(&http, &gw.base, provider, &ev).await;
        assert_eq!(code, 200, "{provider}: {body}");
    }
    // The replies have one shape and name only the sender's own call.
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&replies[0]), keys(&replies[1]));
    assert_ne!(replies[0]["call_sid"], replies[1]["call_sid"]);

    let calls_one = one.calls(&CallListQuery::default()).await.unwrap().calls;
    let calls_two = two.calls(&CallListQuery::default()).await.unwrap().calls;
    assert_eq!((calls_one.len(), calls_two.len()), (1, 1));
    let (c1, c2) = (&calls_one[0], &calls_two[0]);
    assert_eq!(c1.vendor_call_id.as_deref(), Some("1636598043.6"));
    assert_eq!(c2.vendor_call_id.as_deref(), Some("1636598043.6"));
    assert_eq!((c1.status, c2.status), (CallStatus::Answered, CallStatus::Answered));
    assert_eq!(c2.business_id, seeded[1].business);
    // Neither reaches the other's call by its id.
    assert_eq!(
        one.call(&c2.call_sid).await.unwrap_err().status().unwrap().as_u16(),
        404
    );
    assert_eq!(
        two.call(&c1.call_sid).await.unwrap_err().status().unwrap().as_u16(),
        404
    );

    // Each business numbers its own events from where it was, with no gaps: business 2
    // cannot count business 1's activity.
    for (client, business, before) in [
        (&one, seeded[0].business, cursor_one),
        (&two, seeded[1].business, cursor_two),
    ] {
        let events = gw.store.events_since(business, 0, 1000).await.unwrap();
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>(), "gap-free from 1");
        let after = client.event_cursor().await.unwrap();
        assert_eq!(after, *ids.last().unwrap());
        // Exactly its own two webhooks' worth: created, then updated.
        let new: Vec<_> = events.iter().filter(|e| e.id > before).map(|e| e.kind).collect();
        assert_eq!(new, vec![StreamEventKind::CallCreated, StreamEventKind::CallUpdated]);
        // The stream from 0 replays exactly these, in order.
        let mut stream = client.events(0);
        let mut got = vec![];
        while got.len() < ids.len() {
            match tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .unwrap()
            {
                Some(switchboard_client::StreamItem::Event(e)) => got.push(e.id),
                Some(_) => {}
                None => panic!("stream ended"),
            }
        }
        assert_eq!(got, ids);
    }
    db.cleanup().await;
}

#[tokio::test]
async fn sqlite_stores_both_and_tells_neither() {
    same_vendor_id_in_two_businesses("sqlite").await;
}

#[tokio::test]
async fn postgres_stores_both_and_tells_neither() {
    same_vendor_id_in_two_businesses("postgres").await;
}
