//! An operator's Prometheus scrapes the gateway binary on its separate metrics address
//! (`--metrics-bind`): after webhooks, a connected event stream and a provider refusal, the
//! text parses with the Prometheus project's own parser (PyPI `prometheus-client`, through
//! `tests/python/prometheus_text.py`) and holds each figure with the counts this test
//! caused. The public address does not serve it.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;
use switchboard_client::{EventStream, StreamItem};
use switchboard_core::CallStatus;
use switchboard_core::api::OutboundCallRequest;

/// The families in `text`, as the Prometheus client's parser reads them.
fn parse(text: &str) -> Value {
    use std::io::Write as _;
    let mut child = std::process::Command::new(switchboard_e2e::venv_python())
        .arg(switchboard_e2e::python_script("prometheus_text.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `sample` of family `family` whose labels include `labels`.
fn value(families: &Value, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
    families[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no family {family} in {families}"))
        .iter()
        .find(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][k] == *v))
        .and_then(|s| s[2].as_f64())
        .unwrap_or_else(|| panic!("no sample {sample}{labels:?} in {}", families[family]))
}

async fn next_event(events: &mut EventStream, call_sid: &str) {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(until, events.next()).await {
            Ok(Some(StreamItem::Event(ev))) if ev.call_sid.as_ref().is_some_and(|s| s.as_str() == call_sid) => return,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no event for {call_sid} within 10 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scrapes_what_the_gateway_did() {
    let db = TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    // A simulator that refuses +1900 numbers at once, as a carrier refuses premium numbers.
    let mut sim = quiet_sim();
    sim["reject_prefixes"] = serde_json::json!(["+1900"]);
    let seeded = switchboard_gateway::demo::seed_business(&*store, "Business 1", "sim-1", sim, 100, 10)
        .await
        .unwrap();
    let token = token(&*store, &seeded, "alice").await;
    drop(store);
    let (data, secrets) = (tempfile::tempdir().unwrap(), secrets_dir());
    let metrics_at = format!("127.0.0.1:{}", switchboard_e2e::free_port());
    let gw = GatewayProcess::spawn(db.url(), data.path(), secrets.path(), &["--metrics-bind", &metrics_at]).await;
    let http = reqwest::Client::new();
    let scrape = || async {
        let r = http.get(format!("http://{metrics_at}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        parse(&r.text().await.unwrap())
    };

    // An agent's desktop on the event stream; two calls arrive by signed webhooks.
    let alice = switchboard_client::Client::new(&gw.base, &token).unwrap();
    let mut events = alice.events(0);
    let first = events.next().await;
    assert!(matches!(first, Some(StreamItem::Connected)), "{first:?}");
    // The seeded business's first number.
    let to = "+14155550100";
    for (n, vendor) in ["m-1", "m-2"].into_iter().enumerate() {
        let ev = inbound(vendor, vendor, 1_000 * (n as i64 + 1), CallStatus::Queued, to);
        let (code, body) = post_webhook(&http, &gw.base, "sim-1", &ev).await;
        assert_eq!(code, 200, "{body}");
        let calls = alice.calls(&Default::default()).await.unwrap().calls;
        let call = calls
            .iter()
            .find(|c| c.vendor_call_id.as_deref() == Some(vendor))
            .unwrap();
        next_event(&mut events, call.call_sid.as_str()).await;
    }
    // One refused: a webhook with a wrong signature.
    let (code, _) = post_signed(
        &http,
        &format!("{}/webhooks/simulator/sim-1", gw.base),
        &serde_json::to_vec(&inbound("m-3", "m-3", 3_000, CallStatus::Queued, to)).unwrap(),
        "not-the-secret",
    )
    .await;
    assert_eq!(code, 401);
    // The provider refuses an outbound call at once.
    let placed = alice
        .place_call(&OutboundCallRequest {
            to: "+19005550000".parse().unwrap(),
            from_number_id: seeded.numbers[0],
            lead_id: None,
            ai_agent: None,
        })
        .await
        .unwrap();
    assert_eq!(placed.call.status, CallStatus::Failed);

    let m = scrape().await;
    let webhook = "switchboard_webhook_seconds";
    assert_eq!(m[webhook]["type"], "histogram", "{}", m[webhook]);
    let ok = [("kind", "simulator"), ("status", "200")];
    assert_eq!(value(&m, webhook, "switchboard_webhook_seconds_count", &ok), 2.0);
    assert_eq!(
        value(
            &m,
            webhook,
            "switchboard_webhook_seconds_bucket",
            &[ok[0], ok[1], ("le", "+Inf")]
        ),
        2.0
    );
    assert!(value(&m, webhook, "switchboard_webhook_seconds_sum", &ok) > 0.0);
    let refused = [("kind", "simulator"), ("status", "401")];
    assert_eq!(value(&m, webhook, "switchboard_webhook_seconds_count", &refused), 1.0);
    // Two webhooks and the outbound call's own reports were committed.
    let commits = value(
        &m,
        "switchboard_ingest_commit_seconds",
        "switchboard_ingest_commit_seconds_count",
        &[],
    );
    assert!(commits >= 2.0, "{commits}");
    // The parser names a counter's family without `_total`.
    let forwarded = value(&m, "switchboard_events", "switchboard_events_total", &[]);
    assert!(forwarded >= 2.0, "{forwarded}");
    assert_eq!(m["switchboard_events"]["type"], "counter");
    assert_eq!(
        value(&m, "switchboard_stream_clients", "switchboard_stream_clients", &[]),
        1.0
    );
    let lag = "switchboard_event_delivery_lag_seconds";
    assert!(
        value(&m, lag, &format!("{lag}_count"), &[]) >= 1.0,
        "the live event's lag is measured"
    );
    assert_eq!(
        value(
            &m,
            "switchboard_provider_errors",
            "switchboard_provider_errors_total",
            &[("kind", "invalid_number")]
        ),
        1.0
    );
    assert!(
        !m[webhook]["help"].as_str().unwrap_or_default().is_empty(),
        "figures are described"
    );

    // The desktop goes away: the gauge follows.
    drop(events);
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while value(
        &scrape().await,
        "switchboard_stream_clients",
        "switchboard_stream_clients",
        &[],
    ) != 0.0
    {
        assert!(
            tokio::time::Instant::now() < until,
            "the closed stream is still counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Never on the public address, with or without a token.
    let public = http.get(format!("{}/metrics", gw.base)).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let public = http
        .get(format!("{}/metrics", gw.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    db.cleanup().await;
}
