//! Bad input gets a clear 4xx and writes nothing; webhook failures follow the seed's
//! semantics (unknown call: 4xx + audit event; store failure: 5xx so the sender retries);
//! the OpenAPI document lists exactly the routes the router serves.

#![allow(clippy::unwrap_used)]

mod support;

use support::{TestDb, TestGateway, inbound, post_signed, post_webhook, token};
use switchboard_core::api::CallListQuery;
use switchboard_core::{CallStatus, StreamEventKind};

async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn bad_requests_are_clear_4xx_and_write_nothing() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let s = &seeded[0];
    let tok = token(&*gw.store, s, "alice").await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        http.post(format!("{}{path}", gw.base))
            .bearer_auth(&tok)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let number = s.numbers[0].get();

    let (st, body) = json(post("/v1/calls", "{\"to\": ").await.unwrap()).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (st, body) = json(
        post(
            "/v1/calls",
            &format!("{{\"to\":\"+0123\",\"from_number_id\":{number}}}"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    assert!(body["error"]["message"].as_str().unwrap().contains("E.164"), "{body}");
    let (st, body) = json(
        post(
            "/v1/calls",
            &format!("{{\"to\":\"+14155559999\",\"from_number_id\":{number},\"colour\":1}}"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"), "{body}");
    let inbound_only = s.numbers[2].get();
    let (st, body) = json(
        post(
            "/v1/calls",
            &format!("{{\"to\":\"+14155559999\",\"from_number_id\":{inbound_only}}}"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot place outbound"),
        "{body}"
    );
    let (st, _) = json(post("/v1/calls/not-a-sid/hold", "{}").await.unwrap()).await;
    assert_eq!(st, 400);
    let (st, body) = json(
        http.get(format!("{}/v1/calls?status=hung_up", gw.base))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(
        gw.store
            .calls(s.business, &CallListQuery::default())
            .await
            .unwrap()
            .calls
            .is_empty(),
        "nothing was created"
    );

    // Illegal transitions: hold on an ended call is a 409 and leaves the record alone.
    let (code, _) = post_webhook(
        &http,
        &gw.base,
        "sim-1",
        &inbound("E1", "e1", 1_000, CallStatus::Completed, "+14155550100"),
    )
    .await;
    assert_eq!(code, 200);
    let sid = gw
        .store
        .calls(s.business, &CallListQuery::default())
        .await
        .unwrap()
        .calls[0]
        .call_sid
        .clone();
    let before = gw.store.call(s.business, &sid).await.unwrap();
    let events_before = gw.store.events_since(s.business, 0, 100).await.unwrap().len();
    let (st, body) = json(post(&format!("/v1/calls/{sid}/hold"), "").await.unwrap()).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (409, Some("illegal_transition")),
        "{body}"
    );
    assert!(body["error"]["message"].as_str().unwrap().contains("completed"));
    assert_eq!(gw.store.call(s.business, &sid).await.unwrap(), before);
    assert_eq!(
        gw.store.events_since(s.business, 0, 100).await.unwrap().len(),
        events_before
    );
    let (st, body) = json(
        post(&format!("/v1/calls/{sid}/dtmf"), "{\"digits\":\"12x\"}")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422, "{body}");
    let (st, _) = json(
        post(&format!("/v1/calls/{sid}/transfer"), "{\"to\":\"0800\"}")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 422);
    let (st, _) = json(http.get(format!("{}/v1/queue", gw.base)).send().await.unwrap()).await;
    assert_eq!(st, 401, "no token");
    let (st, _) = json(
        http.get(format!("{}/v1/queue", gw.base))
            .bearer_auth("sbt_wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 401, "unknown token");
    db.cleanup().await;
}

#[tokio::test]
async fn webhooks_verify_refuse_unknown_calls_and_audit() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let s = &seeded[0];
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/simulator/sim-1", gw.base);
    let ev = inbound("W1", "w1", 1_000, CallStatus::Ringing, "+14155550100");
    let body = serde_json::to_vec(&ev).unwrap();
    assert_eq!(post_signed(&http, &url, &body, "wrong secret").await.0, 401);
    assert_eq!(post_signed(&http, &url, b"{not json", support::SECRET).await.0, 422);
    assert_eq!(
        post_signed(
            &http,
            &format!("{}/webhooks/simulator/nope", gw.base),
            &body,
            support::SECRET
        )
        .await
        .0,
        404
    );
    assert!(
        gw.store
            .calls(s.business, &CallListQuery::default())
            .await
            .unwrap()
            .calls
            .is_empty()
    );

    let (code, reply) = post_signed(&http, &url, &body, support::SECRET).await;
    assert_eq!(code, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert!(reply["call_sid"].as_str().unwrap().starts_with("call_"));

    let mut stray = inbound("GHOST", "g1", 1_000, CallStatus::Completed, "+14155550100");
    stray.from = None;
    let (code, reply) = post_webhook(&http, &gw.base, "sim-1", &stray).await;
    assert_eq!(code, 404);
    assert!(reply.contains("unknown_call") && reply.contains("GHOST"), "{reply}");
    let audit = gw.store.events_since(s.business, 0, 100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == StreamEventKind::WebhookRejected && e.data["vendor_call_id"] == "GHOST")
    );

    // Transcript webhook: signed, by call_sid; unknown sid is a 404 with an audit event.
    let sid = reply_sid(&http, &gw.base).await;
    let hook = serde_json::json!({ "call_sid": sid, "turns": [{ "role": "caller", "content": "hello", "occurred_at": support::recent(5), "sequence": 0 }] });
    let turl = format!("{}/webhooks/transcripts/sim-1", gw.base);
    let (code, r) = post_signed(&http, &turl, hook.to_string().as_bytes(), support::SECRET).await;
    assert_eq!(code, 200, "{r}");
    let unknown = serde_json::json!({ "call_sid": "call_01J0000000000000000000000Z", "turns": [{ "role": "caller", "content": "x", "occurred_at": support::recent(5), "sequence": 0 }] });
    assert_eq!(
        post_signed(&http, &turl, unknown.to_string().as_bytes(), support::SECRET)
            .await
            .0,
        404
    );
    assert_eq!(
        post_signed(&http, &turl, hook.to_string().as_bytes(), "nope").await.0,
        401
    );
    db.cleanup().await;

    async fn reply_sid(http: &reqwest::Client, base: &str) -> String {
        let ev = inbound("W1", "w1", 1_000, CallStatus::Ringing, "+14155550100");
        let (_, r) = post_webhook(http, base, "sim-1", &ev).await;
        serde_json::from_str::<serde_json::Value>(&r).unwrap()["call_sid"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn store_failure_is_a_5xx_and_the_retry_succeeds() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let s = &seeded[0];
    let http = reqwest::Client::new();
    // Break the real database under the gateway: the receipts table disappears.
    let path = match &db {
        TestDb::Sqlite { path, .. } => path.clone(),
        TestDb::Postgres { .. } => unreachable!(),
    };
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE webhook_receipts RENAME TO webhook_receipts_away")
        .execute(&mut conn)
        .await
        .unwrap();

    let ev = inbound("F1", "f1", 1_000, CallStatus::Ringing, "+14155550100");
    let (code, body) = post_webhook(&http, &gw.base, "sim-1", &ev).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("store_unavailable") && !body.contains("webhook_receipts"),
        "no internals leak: {body}"
    );
    assert!(
        gw.store
            .calls(s.business, &CallListQuery::default())
            .await
            .unwrap()
            .calls
            .is_empty(),
        "nothing half-written"
    );

    sqlx::query("ALTER TABLE webhook_receipts_away RENAME TO webhook_receipts")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, body) = post_webhook(&http, &gw.base, "sim-1", &ev).await;
    assert_eq!(code, 200, "the sender's retry is stored: {body}");
    assert_eq!(
        gw.store
            .calls(s.business, &CallListQuery::default())
            .await
            .unwrap()
            .calls
            .len(),
        1
    );
}

#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let db = TestDb::sqlite().await;
    let (gw, _) = TestGateway::start(&db, 0).await;
    let http = reqwest::Client::new();
    let doc: serde_json::Value = http
        .get(format!("{}/openapi.json", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        42,
        "documented paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, ops) in paths {
        let concrete = path
            .replace("{call_sid}", "call_01J0000000000000000000000Z")
            .replace("{id}", "1")
            .replace("{step}", "accept")
            .replace("{source}", "nobody")
            .replace("{kind}", "simulator")
            .replace("{provider}", "nobody");
        for (method, op) in ops.as_object().unwrap() {
            let req = http.request(method.to_uppercase().parse().unwrap(), format!("{}{concrete}", gw.base));
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !body.contains("route not found"),
                "{method} {path} is documented but not routed"
            );
            if op.get("security").is_some() {
                assert_eq!(status, 401, "{method} {path} must require a token");
            }
            for r in op["responses"].as_object().unwrap().values() {
                if let Some(schema) = r
                    .pointer("/content/application~1json/schema/$ref")
                    .and_then(|v| v.as_str())
                {
                    let name = schema.rsplit('/').next().unwrap();
                    assert!(doc["components"]["schemas"].get(name).is_some(), "{name} is defined");
                }
            }
        }
    }
    let undocumented = http.get(format!("{}/v1/nothing-here", gw.base)).send().await.unwrap();
    assert_eq!(undocumented.status().as_u16(), 404);
}
