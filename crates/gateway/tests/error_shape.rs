//! Every error the gateway sends is the documented JSON error: a sweep over every
//! documented route and every method, without a token, with a bad one, with malformed
//! path segments (invalid UTF-8 included) and bodies, plus the HTTP layer's own errors
//! (405, a missing WebSocket upgrade, an oversized body).

#![allow(clippy::unwrap_used)]

mod support;

use support::{TestDb, TestGateway, token};
use switchboard_gateway::openapi::ROUTES;

/// Fail unless `resp` is a 4xx/5xx with the JSON error body; returns (status, code).
async fn assert_json_error(what: &str, resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    assert!(status >= 400, "{what}: expected an error, got {status}");
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.text().await.unwrap();
    assert!(
        ctype.starts_with("application/json"),
        "{what}: {status} with content-type {ctype:?}: {body}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    let code = v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.code: {body}"));
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no error.message: {body}"));
    assert!(!code.is_empty() && !message.is_empty(), "{what}: {body}");
    (status, code.to_owned())
}

fn fill(path: &str, call_sid: &str, id: &str, name: &str) -> String {
    path.replace("{call_sid}", call_sid)
        .replace("{id}", id)
        .replace("{kind}", name)
        .replace("{provider}", name)
        .replace("{source}", name)
}

#[tokio::test]
async fn every_error_response_is_the_json_error_shape() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let tok = token(&*gw.store, &seeded[0], "alice").await;
    let http = reqwest::Client::new();
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ];
    let mut checked = 0;
    for op in ROUTES {
        // Malformed path segments: not an id, invalid UTF-8, a sid of nobody.
        let paths = [
            fill(op.path, "not-a-sid", "not-a-number", "%FF"),
            fill(op.path, "call_01J0000000000000000000000Z", "999999", "nobody"),
            fill(op.path, "%FF", "%FF", "%C3%28"),
        ];
        for path in paths {
            for m in &methods {
                let url = format!("{}{path}", gw.base);
                for auth in [None, Some("sbt_wrong"), Some(tok.as_str())] {
                    let mut req = http
                        .request(m.clone(), &url)
                        .header("content-type", "application/json")
                        .body("{\"x\":");
                    if let Some(a) = auth {
                        req = req.bearer_auth(a);
                    }
                    let resp = req.send().await.unwrap();
                    if resp.status().as_u16() < 400 {
                        continue;
                    }
                    assert_json_error(&format!("{m} {path} auth={}", auth.is_some()), resp).await;
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} error responses were checked");

    // The cases the issue names, one by one (a new token: the sweep signed the first
    // one out through DELETE /v1/agents/me/token).
    let tok = token(&*gw.store, &seeded[0], "alice").await;
    let get = |p: &str| http.get(format!("{}{p}", gw.base)).bearer_auth(&tok).send();
    let (s, code) = assert_json_error(
        "405",
        http.delete(format!("{}/v1/queue", gw.base)).send().await.unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (405, "method_not_allowed"));
    let (s, _) = assert_json_error("no upgrade", get("/v1/events").await.unwrap()).await;
    assert_eq!(s, 400);
    let (s, _) = assert_json_error("%FF lead", get("/v1/leads/%FF").await.unwrap()).await;
    assert_eq!(s, 400);
    let (s, _) = assert_json_error(
        "%FF webhook",
        http.post(format!("{}/webhooks/%FF/x", gw.base))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    let big = vec![b'a'; switchboard_gateway::http::WEBHOOK_BODY_LIMIT + 1];
    let (s, code) = assert_json_error(
        "oversized webhook",
        http.post(format!("{}/webhooks/simulator/sim-1", gw.base))
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (413, "payload_too_large"));
    let (s, code) = assert_json_error("unknown route", get("/nowhere").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn the_document_types_path_parameters_and_lists_the_error_shape() {
    let doc = switchboard_gateway::openapi::document();
    let lead = &doc["paths"]["/v1/leads/{id}"]["get"];
    assert_eq!(lead["parameters"][0]["schema"]["type"], "integer");
    let call = &doc["paths"]["/v1/calls/{call_sid}"]["get"];
    assert!(
        call["parameters"][0]["schema"]["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^call_")
    );
    let events = &doc["paths"]["/v1/events"]["get"]["responses"];
    assert!(events["400"]["content"]["application/json"].is_object(), "{events}");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let error = &op["responses"]["default"]["content"]["application/json"]["schema"];
            assert!(error.is_object(), "{method} {path} documents no error body");
        }
    }
}
