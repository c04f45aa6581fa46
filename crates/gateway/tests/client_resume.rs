//! The client's event stream survives a gateway restart: it reconnects by itself, resumes
//! from the last id it delivered, and neither loses nor repeats an event.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{GatewayProcess, TestDb, inbound, post_webhook, token};
use switchboard_client::{Client, StreamItem};
use switchboard_core::CallStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_resumes_after_restart_without_loss_or_repeats() {
    let db = TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    let seeded = support::seed(&*store, 1).await;
    let tok = token(&*store, &seeded, "alice").await;
    drop(store);
    let dir = tempfile::tempdir().unwrap();
    let secrets = support::secrets_dir();
    let http = reqwest::Client::new();

    // Fixed port, so the client's URL stays valid across the restart.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bind = format!("127.0.0.1:{port}");
    let mut gw = GatewayProcess::spawn_at(db.url(), dir.path(), secrets.path(), &bind).await;
    let client = Client::new(&gw.base, &tok).unwrap();
    let mut stream = client.events(0);
    let mut got = vec![];
    let mut connects = 0;
    let mut disconnects = 0;

    for i in 0..5 {
        post_webhook(
            &http,
            &gw.base,
            "sim-1",
            &inbound(
                &format!("C{i}"),
                &format!("c{i}"),
                1_000 + i,
                CallStatus::Ringing,
                "+14155550100",
            ),
        )
        .await;
    }
    while got.len() < 5 {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
        {
            StreamItem::Event(ev) => got.push(ev.id),
            StreamItem::Connected => connects += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    gw.kill().await;
    // While it is down, the stream reports the drop and keeps retrying.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
        {
            StreamItem::Disconnected { .. } => {
                disconnects += 1;
                break;
            }
            StreamItem::Event(ev) => got.push(ev.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut gw = GatewayProcess::spawn_at(db.url(), dir.path(), secrets.path(), &bind).await;
    for i in 5..9 {
        post_webhook(
            &http,
            &gw.base,
            "sim-1",
            &inbound(
                &format!("C{i}"),
                &format!("c{i}"),
                1_000 + i,
                CallStatus::Ringing,
                "+14155550100",
            ),
        )
        .await;
    }
    while got.len() < 9 {
        match tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .unwrap()
            .unwrap()
        {
            StreamItem::Event(ev) => got.push(ev.id),
            StreamItem::Connected => connects += 1,
            StreamItem::Disconnected { .. } => disconnects += 1,
            StreamItem::Unauthorized { .. } => panic!("token refused"),
        }
    }
    assert!(
        connects >= 2 && disconnects >= 1,
        "reconnected ({connects} connects, {disconnects} drops)"
    );
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, got, "in order, no repeats: {got:?}");
    assert_eq!(stream.last_event_id(), *got.last().unwrap());
    // And nothing extra is pending: every stored event was delivered exactly once.
    let all = client.calls(&Default::default()).await.unwrap().calls.len();
    assert_eq!(all, 9);
    gw.kill().await;
}

/// Simulated calls left ringing or connected when the gateway stopped are reported over
/// when it starts again, instead of haunting the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_calls_left_live_by_a_restart_are_ended() {
    let db = TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    let seeded = support::seed(&*store, 1).await;
    let tok = token(&*store, &seeded, "alice").await;
    drop(store);
    let (dir, secrets, http) = (
        tempfile::tempdir().unwrap(),
        support::secrets_dir(),
        reqwest::Client::new(),
    );
    let mut gw = GatewayProcess::spawn(db.url(), dir.path(), secrets.path(), &[]).await;
    post_webhook(
        &http,
        &gw.base,
        "sim-1",
        &inbound("O1", "o1", 1_000, CallStatus::Ringing, "+14155550100"),
    )
    .await;
    post_webhook(
        &http,
        &gw.base,
        "sim-1",
        &inbound("O2", "o2", 1_000, CallStatus::Answered, "+14155550100"),
    )
    .await;
    gw.kill().await;
    let gw = GatewayProcess::spawn(db.url(), dir.path(), secrets.path(), &[]).await;
    let client = Client::new(&gw.base, &tok).unwrap();
    let calls = support::eventually(10, "left-over calls to end", || async {
        let calls = client.calls(&Default::default()).await.unwrap().calls;
        calls.iter().all(|c| c.status.is_terminal()).then_some(calls)
    })
    .await;
    let by_vendor = |v: &str| {
        calls
            .iter()
            .find(|c| c.vendor_call_id.as_deref() == Some(v))
            .unwrap()
            .status
    };
    assert_eq!(
        (by_vendor("O1"), by_vendor("O2")),
        (CallStatus::Abandoned, CallStatus::Completed)
    );
    assert!(client.queue().await.unwrap().calls.is_empty());
}

/// The stream's sockets read with small buffers (a desktop reads one event at a time);
/// an event several times larger, a transcript turn at its 16 KiB limit, still arrives
/// whole, after small ones and before the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_larger_than_the_read_buffers_arrives_whole() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = support::TestGateway::start(&db, 1).await;
    let tok = token(&*gw.store, &seeded[0], "alice").await;
    let client = gw.client(&tok);
    let mut stream = client.events(0);
    let http = reqwest::Client::new();
    let (_, reply) = post_webhook(
        &http,
        &gw.base,
        "sim-1",
        &inbound("BIG", "big", 1_000, CallStatus::Ringing, "+14155550100"),
    )
    .await;
    let sid = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["call_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // Not one repeated byte: a frame reassembled in the wrong order would not match.
    let content: String = (0..switchboard_gateway::ingest::MAX_TEXT_LEN)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let hook = serde_json::json!({ "call_sid": sid, "turns": [
        { "role": "caller", "content": content, "occurred_at": support::recent(5), "sequence": 0 }
    ] });
    let turl = format!("{}/webhooks/transcripts/sim-1", gw.base);
    let (code, r) = support::post_signed(&http, &turl, hook.to_string().as_bytes(), support::SECRET).await;
    assert_eq!(code, 200, "{r}");
    post_webhook(
        &http,
        &gw.base,
        "sim-1",
        &inbound("AFTER", "after", 2_000, CallStatus::Ringing, "+14155550101"),
    )
    .await;
    let mut kinds = vec![];
    let mut heard = None;
    while kinds.last() != Some(&"after") {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("events within 10 s")
            .expect("stream open")
        {
            StreamItem::Event(ev) if ev.kind == switchboard_core::StreamEventKind::TranscriptTurn => {
                heard = ev.data["content"].as_str().map(str::to_owned);
                kinds.push("turn");
            }
            StreamItem::Event(ev) if ev.data["vendor_call_id"] == "AFTER" => kinds.push("after"),
            StreamItem::Event(_) => kinds.push("other"),
            StreamItem::Connected => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(heard.as_deref().map(str::len), Some(content.len()));
    assert!(
        heard.as_deref() == Some(content.as_str()),
        "the 16 KiB turn arrived altered"
    );
    assert!(kinds.iter().position(|k| *k == "turn") < kinds.iter().position(|k| *k == "after"));
    db.cleanup().await;
}
