//! The HTTP edge against clients that lie, trickle or hoard: a declared huge body is
//! refused at once, a trickled body and trickled headers are cut off within the limits,
//! one address cannot hold more than its share of connections, and the gateway keeps
//! answering others meanwhile. Raw TCP on loopback, so the client can misbehave.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::{TestDb, eventually, secrets_dir, seed};
use switchboard_gateway::http::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A gateway with short limits, served with `serve_with` like the binary does.
async fn gateway(limits: Limits) -> (String, tempfile::TempDir, TestDb) {
    let db = TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    seed(&*store, 1).await;
    let secrets = secrets_dir();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = switchboard_gateway::start(
        store,
        &switchboard_gateway::secrets::Secrets::new(Some(secrets.path().to_owned())),
        format!("http://{addr}"),
    )
    .await
    .unwrap();
    tokio::spawn(switchboard_gateway::serve_with(
        listener,
        state,
        limits,
        std::future::pending(),
    ));
    (addr, secrets, db)
}

/// Read until the peer closes or `within` passes; returns what arrived and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz_answers(addr: &str) -> Duration {
    let start = Instant::now();
    let resp = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    start.elapsed()
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        max_connections_per_peer: 8,
        max_connections: 1000,
    }
}

#[tokio::test]
async fn a_declared_huge_body_is_refused_before_it_is_sent() {
    let (addr, _s, _db) = gateway(limits()).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    // 20 MiB declared, 2 bytes sent: the answer must not wait for the rest.
    s.write_all(
        b"POST /webhooks/simulator/sim-1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20971520\r\n\r\n{}",
    )
    .await
    .unwrap();
    let start = Instant::now();
    let (reply, _) = read_until_closed(&mut s, Duration::from_secs(1)).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.contains("application/json") && reply.contains("payload_too_large"),
        "{reply}"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_and_others_are_served_meanwhile() {
    let (addr, _s, _db) = gateway(limits()).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /webhooks/simulator/sim-1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    let start = Instant::now();
    // One byte every 300 ms: a body that would take 30 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..99 {
            if s.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut probe = [0u8; 512];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await {
                return (String::from_utf8_lossy(&probe[..n]).into_owned(), start.elapsed());
            }
        }
        (String::new(), start.elapsed())
    });
    // Meanwhile another client is answered at once.
    assert!(healthz_answers(&addr).await < Duration::from_secs(1));
    let (reply, after) = trickle.await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "got {reply:?}");
    assert!(reply.contains("request_timeout"), "{reply}");
    assert!(after < Duration::from_secs(5), "cut off after {after:?}");
}

#[tokio::test]
async fn trickled_headers_are_cut_off() {
    let (addr, _s, _db) = gateway(limits()).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let start = Instant::now();
    let mut closed = false;
    for _ in 0..40 {
        if s.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(250), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "a request whose headers never end must be closed");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        start.elapsed()
    );
    assert!(healthz_answers(&addr).await < Duration::from_secs(1));
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let (addr, _s, _db) = gateway(limits()).await;
    // Eight idle connections from 127.0.0.1 fill its share...
    let mut held = vec![];
    for _ in 0..8 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // ...so the ninth is told so, in the JSON error shape, and closed.
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let (reply, closed) = read_until_closed(&mut extra, Duration::from_secs(3)).await;
    assert!(closed, "the extra connection is closed");
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains("too_many_connections"), "{reply}");
    // Giving one back frees a place.
    drop(held.pop());
    eventually(5, "a place for a new request", || async {
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .ok()
            .filter(|r| r.status() == 200)
            .map(|_| ())
    })
    .await;
}
