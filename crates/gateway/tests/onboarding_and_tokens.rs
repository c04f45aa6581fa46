//! Onboarding a second business needs no SQL: the operator's business is created with the
//! binary's `business add`, its admin creates a business over `/v1/admin`, that admin
//! adds an agent and issues a token; a revoked token stops working at once (also on an
//! open event stream), and roles are enforced. Tokens from the CLI can be listed and
//! revoked there too.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

use support::{GatewayProcess, TestDb, gateway_bin};
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

    // The operator's admin creates a business with its first admin.
    let resp = http
        .post(url("/v1/admin/businesses"))
        .bearer_auth(&op_token)
        .json(&serde_json::json!({ "name": "Acme Calls", "admin": "carol" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let acme: NewBusinessResponse = resp.json().await.unwrap();
    let carol = acme.token.token.clone();
    // A second business of the same name is a clear conflict.
    let again = http
        .post(url("/v1/admin/businesses"))
        .bearer_auth(&op_token)
        .json(&serde_json::json!({ "name": "Acme Calls", "admin": "carol" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    // Carol adds an agent and gives him a token; he signs in with it.
    let resp = http
        .post(url("/v1/admin/agents"))
        .bearer_auth(&carol)
        .json(&serde_json::json!({ "name": "dave", "display_name": "Dave Ng", "role": "agent" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let dave: switchboard_core::Agent = resp.json().await.unwrap();
    let resp = http
        .post(url(&format!("/v1/admin/agents/{}/tokens", dave.id)))
        .bearer_auth(&carol)
        .json(&serde_json::json!({ "label": "dave's laptop", "ttl_days": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let issued: IssuedToken = resp.json().await.unwrap();
    let week = 7 * 86_400_000;
    assert!((issued.expires_at - switchboard_gateway::now_ms() - week).abs() < 60_000);
    let client = switchboard_client::Client::new(&gw.base, &issued.token).unwrap();
    assert_eq!(client.me().await.unwrap().name, "dave");

    // Roles: an agent cannot use the admin API; Carol cannot create businesses.
    let r = http
        .get(url("/v1/admin/tokens"))
        .bearer_auth(&issued.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(url("/v1/admin/businesses"))
        .bearer_auth(&carol)
        .json(&serde_json::json!({ "name": "Other", "admin": "eve" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Tenants: the operator's admin sees none of Acme's tokens, and cannot revoke them.
    let theirs: TokensResponse = http
        .get(url("/v1/admin/tokens"))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(theirs.tokens.iter().all(|t| t.id != issued.id));
    let r = http
        .delete(url(&format!("/v1/admin/tokens/{}", issued.id)))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Dave's stream is open when Carol revokes his token: the stream ends and says why.
    let mut stream = client.events(0);
    let r = http
        .delete(url(&format!("/v1/admin/tokens/{}", issued.id)))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
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
    let listed: TokensResponse = http
        .get(url("/v1/admin/tokens"))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
