//! A resolved secret never reaches `{:?}` output or the log: the running gateway's state
//! formatted with Debug, and the log of a gateway whose provider config puts a secret
//! reference in a field of the wrong type, contain the reference at most, never the value.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Stdio;

use support::{SECRET, SECRET_NAME, TestDb, TestGateway, gateway_bin, secrets_dir};

#[tokio::test]
async fn the_running_state_formats_without_the_secret() {
    let db = TestDb::sqlite().await;
    let (gw, _) = TestGateway::start(&db, 1).await;
    // The provider really runs with the secret: a webhook signed with it is accepted.
    assert!(gw.state.providers.by_name("sim-1").unwrap().webhook_secret.is_some());
    for shown in [format!("{:?}", gw.state), format!("{:#?}", gw.state)] {
        assert!(shown.contains("sim-1"), "the state is really formatted");
        assert!(!shown.contains(SECRET), "the secret leaked into Debug output");
    }
}

#[tokio::test]
async fn a_misconfigured_provider_is_logged_by_field_and_reference() {
    let db = TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    let business = store.create_business("Leaky", false).await.unwrap();
    let reference = format!("secret:{SECRET_NAME}");
    // A secret where a number belongs, and one inside the media section.
    for (name, config) in [
        (
            "bad-seed",
            serde_json::json!({ "seed": reference, "webhook_secret": reference }),
        ),
        (
            "bad-media",
            serde_json::json!({ "media": { "loopback_only": reference }, "webhook_secret": reference }),
        ),
    ] {
        store
            .create_provider(business, name, "simulator", &config)
            .await
            .unwrap();
    }
    drop(store);
    let secrets = secrets_dir();
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(gateway_bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--database", db.url()])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--secrets-dir")
        .arg(secrets.path())
        .env("SWITCHBOARD_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ready once it prints its address; by then both providers were tried.
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        use tokio::io::AsyncBufReadExt;
        stdout.read_line(&mut line).await.unwrap();
    })
    .await
    .expect("the gateway started");
    assert!(line.contains("listening on"), "{line}");
    child.kill().await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("bad-seed") && log.contains("bad-media"),
        "both providers were reported: {log}"
    );
    assert!(
        log.contains("seed") && log.contains(&reference),
        "the field and the reference are named: {log}"
    );
    assert!(
        log.contains("media.loopback_only"),
        "the nested field is named by its path: {log}"
    );
    assert!(!log.contains(SECRET), "the secret leaked into the log: {log}");
}
