//! A schema-driven fuzzer that is not ours, schemathesis (PyPI, pinned by `cargo xtask
//! setup`), reads `/openapi.json` from the running gateway binary (demo business, an
//! admin's token) and throws generated requests at every operation for a minute: no 5xx,
//! no status code or content type the document does not list. One worker: a run with two
//! (threads sharing Hypothesis's internal caches) crashed with a KeyError inside one of
//! them, a failure of the tool rather than a finding; one worker covers all 50 operations
//! within the minute.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{GatewayProcess, TestDb, gateway_bin};

fn schemathesis() -> PathBuf {
    let dir = std::env::var_os("SWITCHBOARD_PY_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/switchboard/py/bin")))
        .unwrap();
    let exe = dir.join("schemathesis");
    assert!(
        exe.exists(),
        "schemathesis is not installed at {}: run `cargo xtask setup`",
        exe.display()
    );
    exe
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_nothing_undocumented() {
    let exe = schemathesis();
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let gw = GatewayProcess::spawn(db.url(), dir.path(), &secrets, &["--demo"]).await;
    let add = Command::new(gateway_bin())
        .args([
            "agent",
            "add",
            "fuzzer",
            "--business",
            "Demo Co",
            "--role",
            "admin",
            "--database",
            db.url(),
        ])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let token = support::cli_token(db.url(), "fuzzer");
    let schema = format!("{}/openapi.json", gw.base);
    let run = tokio::process::Command::new(exe)
        .args(["run", &schema])
        .args(["--url", &gw.base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance",
        ])
        .args(["--max-time", "60", "--workers", "1", "--seed", "8"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Signing out would only turn the rest of the run into 401s.
        .args(["--exclude-path", "/v1/agents/me/token"])
        .args(["--suppress-health-check", "all"])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output();
    // --max-time bounds the fuzzing; this bounds everything else (start-up, the report).
    let out = tokio::time::timeout(std::time::Duration::from_secs(240), run)
        .await
        .expect("schemathesis finished")
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("/v1/calls"), "the run covered the API: {report}");
    drop(gw);
}
