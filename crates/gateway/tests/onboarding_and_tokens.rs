//! Onboarding a second business needs no SQL: the operator's business is created with the
//! binary's `business add`, its admin creates a business over `/v1/admin`, that admin
//! adds an agent and issues a token; a revoked token stops working at once (also on an
//! open event stream), and roles are enforced. Tokens from the CLI can be listed and
//! revoked there too.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use reqwest::Method;
use support::{GatewayProcess, TestDb, api, gateway_bin};
use switchboard_core::api::{IssuedToken, NewBusinessResponse, TokensResponse};

fn cli(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(gateway_bin())
        .args(args)
        .args(["--database", db])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_second_business_is_onboarded_over_the_api_and_tokens_can_be_revoked() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, op_token, err) = cli(
        db.url(),
        &["business", "add", "Operator", "--admin", "root", "--platform"],
    );
    assert!(ok, "{err}");
    assert!(op_token.starts_with("sbt_"));
    let gw = GatewayProcess::spawn(db.url(), dir.path(), dir.path(), &[]).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", gw.base);
    let call = |method: Method, path: String, token: String, body: Option<serde_json::Value>| {
        let (http, url) = (http.clone(), url(&path));
        async move { api(&http, method, &url, &token, body).await }
    };

    // The operator's admin creates a business with its first admin.
    let acme_req = serde_json::json!({ "name": "Acme Calls", "admin": "carol" });
    let (status, body) = call(
        Method::POST,
        "/v1/admin/businesses".into(),
        op_token.clone(),
        Some(acme_req.clone()),
    )
    .await;
    assert_eq!(status, 201);
    let acme: NewBusinessResponse = serde_json::from_value(body).unwrap();
    let carol = acme.token.token.clone();
    // A second business of the same name is a clear conflict.
    let (status, _) = call(
        Method::POST,
        "/v1/admin/businesses".into(),
        op_token.clone(),
        Some(acme_req),
    )
    .await;
    assert_eq!(status, 409);

    // Carol adds an agent and gives him a token; he signs in with it.
    let (status, body) = call(
        Method::POST,
        "/v1/admin/agents".into(),
        carol.clone(),
        Some(serde_json::json!({ "name": "dave", "display_name": "Dave Ng", "role": "agent" })),
    )
    .await;
    assert_eq!(status, 201);
    let dave: switchboard_core::Agent = serde_json::from_value(body).unwrap();
    let (status, body) = call(
        Method::POST,
        format!("/v1/admin/agents/{}/tokens", dave.id),
        carol.clone(),
        Some(serde_json::json!({ "label": "dave's laptop", "ttl_days": 7 })),
    )
    .await;
    assert_eq!(status, 201);
    let issued: IssuedToken = serde_json::from_value(body).unwrap();
    let week = 7 * 86_400_000;
    assert!((issued.expires_at - switchboard_gateway::now_ms() - week).abs() < 60_000);
    let client = switchboard_client::Client::new(&gw.base, &issued.token).unwrap();
    assert_eq!(client.me().await.unwrap().name, "dave");

    // Roles: an agent cannot use the admin API; Carol cannot create businesses.
    let (status, _) = call(Method::GET, "/v1/admin/tokens".into(), issued.token.clone(), None).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        Method::POST,
        "/v1/admin/businesses".into(),
        carol.clone(),
        Some(serde_json::json!({ "name": "Other", "admin": "eve" })),
    )
    .await;
    assert_eq!(status, 403);
    // Tenants: the operator's admin sees none of Acme's tokens, and cannot revoke them.
    let (_, body) = call(Method::GET, "/v1/admin/tokens".into(), op_token.clone(), None).await;
    let theirs: TokensResponse = serde_json::from_value(body).unwrap();
    assert!(theirs.tokens.iter().all(|t| t.id != issued.id));
    let revoke = format!("/v1/admin/tokens/{}", issued.id);
    let (status, _) = call(Method::DELETE, revoke.clone(), op_token.clone(), None).await;
    assert_eq!(status, 404);

    // Dave's stream is open when Carol revokes his token: the stream ends and says why.
    let mut stream = client.events(0);
    let (status, _) = call(Method::DELETE, revoke, carol.clone(), None).await;
    assert_eq!(status, 204);
    let err = client.me().await.unwrap_err();
    assert!(
        matches!(&err, switchboard_client::ClientError::Api { code, .. } if code == "token_revoked"),
        "{err:?}"
    );
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match stream.next().await {
                Some(switchboard_client::StreamItem::Unauthorized { code }) => return code,
                Some(_) => {}
                None => return "ended without a reason".to_owned(),
            }
        }
    })
    .await
    .expect("the open stream noticed the revocation");
    assert_eq!(ended, "token_revoked");
    let (_, body) = call(Method::GET, "/v1/admin/tokens".into(), carol.clone(), None).await;
    let listed: TokensResponse = serde_json::from_value(body).unwrap();
    assert!(
        listed
            .tokens
            .iter()
            .any(|t| t.id == issued.id && t.revoked_at.is_some() && t.label == "dave's laptop")
    );

    // The CLI: add an agent, issue a short-lived token, list it, revoke it.
    let (ok, _, err) = cli(
        db.url(),
        &[
            "agent",
            "add",
            "erin",
            "--business",
            "Acme Calls",
            "--role",
            "supervisor",
        ],
    );
    assert!(ok, "{err}");
    let (ok, erin, err) = cli(
        db.url(),
        &[
            "token",
            "--agent",
            "erin",
            "--business",
            "Acme Calls",
            "--ttl-days",
            "1",
        ],
    );
    assert!(ok, "{err}");
    let erin_client = switchboard_client::Client::new(&gw.base, &erin).unwrap();
    assert_eq!(erin_client.me().await.unwrap().name, "erin");
    let (ok, list, err) = cli(db.url(), &["token", "list", "--business", "Acme Calls"]);
    assert!(ok, "{err}");
    let erin_agent = erin_client.me().await.unwrap().id;
    let erin_id: i64 = list
        .lines()
        .find(|l| l.contains(&format!("agent {erin_agent}\t")) && l.contains("valid"))
        .and_then(|l| l.split('\t').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("erin's token listed: {list}"));
    assert!(!list.contains(&erin), "the list never shows a token");
    let (ok, _, err) = cli(
        db.url(),
        &["token", "revoke", "--business", "Acme Calls", &erin_id.to_string()],
    );
    assert!(ok, "{err}");
    let err = erin_client.me().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    // A bad lifetime is refused with a reason.
    let (ok, _, err) = cli(db.url(), &["token", "--agent", "erin", "--ttl-days", "0"]);
    assert!(!ok && err.contains("1 to 365"), "{err}");
}
