//! Providers and numbers are managed through the API while the gateway runs, on SQLite and
//! PostgreSQL:
//!
//! - only admins may (agents and supervisors get 403);
//! - a literal credential in a config is refused with 422, named by field, never echoed,
//!   and never stored;
//! - a provider added over the API runs without a restart: with a number of its own, its
//!   callers reach the queue, and the number carries the provider's capabilities;
//! - a config change mid-call leaves the call with the instance that carried it (answering
//!   it is confirmed), while new calls go to the new instance;
//! - `check` reports a disabled provider; removing a provider that still carries numbers is
//!   a conflict; removed, it is gone from the list and stops taking calls;
//! - on PostgreSQL, a change made through one replica runs on the other.

#![allow(clippy::unwrap_used)]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{SECRET, SECRET_NAME, TestDb, TestGateway, admin_token, api, eventually, token};
use switchboard_core::CallStatus;

/// A simulator whose callers ring one after another, soon after it starts.
fn busy_sim(seed: u64) -> Value {
    json!({ "seed": seed, "inbound_per_minute": 600.0, "first_call_after_ms": 100, "max_waiting": 2,
            "confirm_delay_ms": 20, "ring_timeout_ms": 60_000, "webhook_secret": format!("secret:{SECRET_NAME}") })
}

async fn provider_running(http: &reqwest::Client, base: &str, admin: &str, name: &str) -> Option<Value> {
    let (status, body) = api(http, Method::GET, &format!("{base}/v1/providers"), admin, None).await;
    assert_eq!(status, 200, "{body}");
    body["providers"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name && p["running"] == true)
        .cloned()
}

async fn run(kind: &str) {
    let db = TestDb::of(kind).await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let seeded = &seeded[0];
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", gw.base);
    let admin = admin_token(&gw, seeded).await;
    let alice = token(&*gw.store, seeded, "alice").await;
    let sam = token(&*gw.store, seeded, "sam").await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let name = format!("sim-live-{tag}");

    // Only admins.
    for who in [&alice, &sam] {
        let (s, _) = api(&http, Method::GET, &url("/v1/providers"), who, None).await;
        assert_eq!(s, 403);
        let (s, _) = api(
            &http,
            Method::POST,
            &url("/v1/providers"),
            who,
            Some(json!({ "name": name, "kind": "simulator", "config": busy_sim(1) })),
        )
        .await;
        assert_eq!(s, 403);
        let (s, _) = api(
            &http,
            Method::POST,
            &url("/v1/numbers"),
            who,
            Some(json!({ "e164": "+15005550100", "label": "x", "provider_id": seeded.provider, "inbound": true, "outbound": true })),
        )
        .await;
        assert_eq!(s, 403);
    }

    // A literal credential is refused, by field, without echoing it, and nothing is stored.
    let literal = "hunter2-literal-credential";
    let mut leaky = busy_sim(1);
    leaky["webhook_secret"] = json!(literal);
    let (s, body) = api(
        &http,
        Method::POST,
        &url("/v1/providers"),
        &admin,
        Some(json!({ "name": name, "kind": "simulator", "config": leaky })),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let msg = body.to_string();
    assert!(msg.contains("webhook_secret") && msg.contains("secret:NAME"), "{msg}");
    assert!(!msg.contains(literal), "the error echoes the credential: {msg}");
    let stored = gw.store.business_providers(seeded.business).await.unwrap();
    assert!(stored.iter().all(|p| p.name != name), "a refused provider was stored");
    assert!(!format!("{stored:?}").contains(literal));
    // An unknown kind, and a wrong field, are clear 422s too.
    let (s, body) = api(
        &http,
        Method::POST,
        &url("/v1/providers"),
        &admin,
        Some(json!({ "name": name, "kind": "carrier-pigeon", "config": {} })),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(body.to_string().contains("available: simulator"), "{body}");

    // Added over the API, it runs without a restart.
    let (s, created) = api(
        &http,
        Method::POST,
        &url("/v1/providers"),
        &admin,
        Some(json!({ "name": name, "kind": "simulator", "config": busy_sim(1) })),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let pid = created["id"].as_i64().unwrap();
    let running = eventually(20, "the new provider running", || {
        provider_running(&http, &gw.base, &admin, &name)
    })
    .await;
    assert_eq!(running["capabilities"]["hold"], true, "{running}");
    assert_eq!(running["config"]["webhook_secret"], format!("secret:{SECRET_NAME}"));
    assert!(!running.to_string().contains(SECRET), "a resolved secret in the API");

    // Its own number: callers ring there, and the number shows the provider's capabilities.
    let e164 = "+15005550142";
    let (s, number) = api(
        &http,
        Method::POST,
        &url("/v1/numbers"),
        &admin,
        Some(json!({ "e164": e164, "label": "Live line", "provider_id": pid, "inbound": true, "outbound": false })),
    )
    .await;
    assert_eq!(s, 201, "{number}");
    let (s, again) = api(
        &http,
        Method::POST,
        &url("/v1/numbers"),
        &admin,
        Some(json!({ "e164": e164, "label": "Twice", "provider_id": pid, "inbound": true, "outbound": false })),
    )
    .await;
    assert_eq!(s, 409, "the same number twice: {again}");
    let client = gw.client(&alice);
    let listed = eventually(10, "the number with its capabilities", || async {
        let numbers = client.numbers().await.ok()?.numbers;
        numbers
            .into_iter()
            .find(|n| n.e164.as_str() == e164 && n.provider_capabilities.inbound)
    })
    .await;
    assert!(listed.provider_capabilities.dtmf && listed.provider_capabilities.recording);
    let first = eventually(30, "a caller on the new number", || async {
        let q = client.queue().await.ok()?;
        q.calls.into_iter().find(|c| c.call.to == e164).map(|c| c.call)
    })
    .await;
    assert_eq!(first.provider_id.map(|p| p.get()), Some(pid));
    assert_eq!(
        first.capabilities.map(|c| c.hold),
        Some(true),
        "the call carries its capabilities"
    );

    // A config change mid-call: the ringing call stays with the instance that carried it.
    let (s, changed) = api(
        &http,
        Method::PATCH,
        &url(&format!("/v1/providers/{pid}")),
        &admin,
        Some(json!({ "config": busy_sim(2) })),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    eventually(20, "the changed provider running", || async {
        provider_running(&http, &gw.base, &admin, &name)
            .await
            .filter(|p| p["config"]["seed"] == 2)
    })
    .await;
    // The gateway routes the call's actions to the retired instance (the simulator would
    // act on any call id, so the confirmation alone would not tell).
    let stored = gw.store.call(seeded.business, &first.call_sid).await.unwrap().unwrap();
    let carrier = gw.state.providers.for_call(&stored).unwrap();
    let current = gw.state.providers.get(stored.provider_id.unwrap()).unwrap();
    assert!(
        !std::sync::Arc::ptr_eq(&carrier, &current),
        "the call moved to the new instance"
    );
    assert_eq!(
        carrier.row.config["seed"], 1,
        "the call stays with the instance it started on"
    );
    assert_eq!(current.row.config["seed"], 2);
    client.answer(&first.call_sid).await.unwrap();
    eventually(10, "the answer confirmed by the old instance", || async {
        let c = client.call(&first.call_sid).await.ok()?.call;
        (c.status == CallStatus::Answered).then_some(())
    })
    .await;
    // New callers keep arriving, now from the new instance.
    eventually(30, "a caller after the change", || async {
        let q = client.queue().await.ok()?;
        q.calls
            .into_iter()
            .find(|c| c.call.to == e164 && c.call.created_at > first.created_at)
    })
    .await;

    // Disabled: check says so; it stops taking calls. Removing it needs its numbers gone.
    let (s, _) = api(
        &http,
        Method::PATCH,
        &url(&format!("/v1/providers/{pid}")),
        &admin,
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(s, 200);
    let report = eventually(20, "check reporting the disabled provider", || async {
        let (_, r) = api(
            &http,
            Method::POST,
            &url(&format!("/v1/providers/{pid}/check")),
            &admin,
            None,
        )
        .await;
        (r["ok"] == false && r.to_string().contains("disabled")).then_some(r)
    })
    .await;
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(1), "{report}");
    let (s, body) = api(
        &http,
        Method::DELETE,
        &url(&format!("/v1/providers/{pid}")),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert!(body.to_string().contains("number"), "{body}");
    let nid = number["id"].as_i64().unwrap();
    let (s, _) = api(&http, Method::DELETE, &url(&format!("/v1/numbers/{nid}")), &admin, None).await;
    assert_eq!(s, 204);
    let (s, _) = api(
        &http,
        Method::DELETE,
        &url(&format!("/v1/providers/{pid}")),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (_, list) = api(&http, Method::GET, &url("/v1/providers"), &admin, None).await;
    assert!(
        list["providers"].as_array().unwrap().iter().all(|p| p["id"] != pid),
        "{list}"
    );
    assert!(
        client
            .numbers()
            .await
            .unwrap()
            .numbers
            .iter()
            .all(|n| n.e164.as_str() != e164)
    );
    // The seeded provider was never touched.
    assert!(gw.state.providers.get(seeded.provider).is_some());
    // Its history keeps the calls.
    assert!(client.call(&first.call_sid).await.is_ok());

    // The check of a healthy provider passes.
    let (_, ok) = api(
        &http,
        Method::POST,
        &url(&format!("/v1/providers/{}/check", seeded.provider)),
        &admin,
        None,
    )
    .await;
    assert_eq!(ok, json!({ "ok": true, "problems": [] }));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_managed_while_the_gateway_runs_on_sqlite() {
    run("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_managed_while_the_gateway_runs_on_postgres() {
    run("postgres").await;
}

/// Two replicas on one PostgreSQL database: a provider added through one runs on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_runs_on_the_other() {
    let db = TestDb::postgres().await;
    let (a, seeded) = TestGateway::start(&db, 1).await;
    let b = TestGateway::with_store(switchboard_gateway::store::connect(db.url()).await.unwrap()).await;
    let admin = admin_token(&a, &seeded[0]).await;
    let http = reqwest::Client::new();
    let name = format!("sim-replica-{}", ulid::Ulid::new().to_string().to_lowercase());
    let (s, body) = api(
        &http,
        Method::POST,
        &format!("{}/v1/providers", a.base),
        &admin,
        Some(json!({ "name": name, "kind": "simulator", "config": support::quiet_sim() })),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    eventually(20, "the provider running on replica b", || {
        provider_running(&http, &b.base, &admin, &name)
    })
    .await;
    eventually(20, "and on replica a", || {
        provider_running(&http, &a.base, &admin, &name)
    })
    .await;
    db.cleanup().await;
}
