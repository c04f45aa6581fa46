//! The console follows the capabilities of the call's provider, in the real window: an
//! admin reconfigures the running demo provider over the API (no restart) so that it
//! lacks hold, recording and transfer to an agent; on the next call the agent answers,
//! those controls are disabled with a tooltip saying why, and what the provider can still
//! do (end, transfer to a number, the keypad) stays enabled. Calls started before the
//! change keep their provider and all its controls.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::time::Duration;

use reqwest::Method;
use switchboard_e2e::{Window, app_binary, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_disables_what_the_calls_provider_cannot_do() {
    tokio::time::timeout(Duration::from_secs(300), run())
        .await
        .expect("finished within 5 minutes");
}

async fn run() {
    switchboard_e2e::require_keyring();
    let app = app_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let secrets = dir.path().join("secrets");
    let bind = format!("127.0.0.1:{}", free_port());
    let _gateway = gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &["--demo"]).await;
    let base = format!("http://{bind}");
    let alice = gw::cli_token(&db, "alice");
    // An admin, made the way an operator would.
    let out = std::process::Command::new(gw::gateway_bin())
        .args([
            "agent",
            "add",
            "ada",
            "--business",
            "Demo Co",
            "--role",
            "admin",
            "--database",
            &db,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = gw::cli_token(&db, "ada");

    // No sound card here: the microphone and speaker are WAV files.
    let app_data = tempfile::tempdir().unwrap();
    let (mic, speaker) = (app_data.path().join("mic.wav"), app_data.path().join("speaker.wav"));
    switchboard_media::device::write_wav(&mic, &switchboard_media::tone::sine(700.0, 0.3, 48_000 * 30)).unwrap();
    let window = Window::open(
        &app,
        &[
            ("SWITCHBOARD_DESKTOP_DATA_DIR", app_data.path().as_os_str()),
            ("SWITCHBOARD_AUDIO_WAV_IN", mic.as_os_str()),
            ("SWITCHBOARD_AUDIO_WAV_OUT", speaker.as_os_str()),
        ],
    )
    .await;
    let ui = &window.ui;
    ui.sign_in(&base, &alice).await;

    // The admin takes hold, recording and agent transfers away from the demo's provider.
    let http = reqwest::Client::new();
    let (s, list) = gw::api(&http, Method::GET, &format!("{base}/v1/providers"), &admin, None).await;
    assert_eq!(s, 200, "{list}");
    let demo = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "simulator")
        .unwrap()
        .clone();
    let mut config = demo["config"].clone();
    config["without"] = serde_json::json!(["hold", "recording", "transfer_to_agent"]);
    let (s, changed) = gw::api(
        &http,
        Method::PATCH,
        &format!("{base}/v1/providers/{}", demo["id"]),
        &admin,
        Some(serde_json::json!({ "config": config })),
    )
    .await;
    assert_eq!(s, 200, "{changed}");

    // The next caller comes through the reconfigured instance.
    let client = switchboard_client::Client::new(&base, &alice).unwrap();
    let call = gw::eventually(90, "a call from the reconfigured provider", || async {
        let q = client.queue().await.ok()?;
        q.calls
            .into_iter()
            .map(|c| c.call)
            .find(|c| c.capabilities.is_some_and(|k| !k.hold))
    })
    .await;
    ui.choose("#status-select", "available").await;
    ui.click(&format!("li.queue-item[data-sid='{}'] button", call.call_sid))
        .await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;

    let enabled = |css: &'static str| async move { ui.el(css).await.is_enabled().await.unwrap() };
    let title = |css: &'static str| async move { ui.el(css).await.attr("title").await.unwrap().unwrap_or_default() };
    assert!(!enabled("#btn-hold").await, "hold is disabled");
    let why = title("#btn-hold").await;
    assert!(
        why.contains("cannot put calls on hold") && why.contains("simulator"),
        "{why}"
    );
    assert!(!enabled("#btn-record").await, "recording is disabled");
    assert!(title("#btn-record").await.contains("cannot record calls"));
    assert!(
        enabled("#btn-end").await && enabled("#btn-transfer").await,
        "end and transfer stay"
    );
    assert!(enabled("#dtmf-5").await, "the keypad stays");
    ui.click("#btn-transfer").await;
    assert!(!enabled("#transfer-agent").await, "no transfer to an agent");
    assert!(
        title("#transfer-agent")
            .await
            .contains("cannot transfer calls to another agent")
    );
    assert!(enabled("#transfer-number").await, "transfer to a number stays");
    ui.shot("capabilities-01-controls-follow-the-provider").await;

    // The API refuses what the console disabled, before logging anything.
    let (s, body) = gw::api(
        &http,
        Method::POST,
        &format!("{base}/v1/calls/{}/hold", call.call_sid),
        &alice,
        None,
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert!(body.to_string().contains("does not support hold"), "{body}");
    ui.click("#btn-end").await;
    ui.until_text("#call-status", "Completed", |t| t == "Completed").await;
    println!("controls followed the provider's capabilities; hold over the API: {s}");
}
