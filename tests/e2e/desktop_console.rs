//! The real desktop app in a real window (Xvfb), driven through WebDriver (tauri-driver +
//! WebKitWebDriver), against the real gateway binary with the demo simulator:
//! sign in; a simulated call arrives; answer, hold, resume, end, wrap up; lead and live
//! transcript; a second call transferred; an outbound call from a chosen number; the
//! gateway stops (offline banner, history still readable) and comes back (online, caught
//! up); started again without the gateway, the app's first paint is its cached console.
//! Screenshots of every screen go to target/e2e-screenshots/.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::process::Stdio;
use std::time::Duration;
use switchboard_e2e::{Window, app_binary, free_port, meter_above};

use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_works_a_shift_in_the_real_window() {
    // Every wait inside is bounded too; this only turns a stuck driver into a failure.
    tokio::time::timeout(Duration::from_secs(300), shift())
        .await
        .expect("the shift finished within 5 minutes");
}

async fn shift() {
    switchboard_e2e::require_keyring();
    let app = app_binary();

    // The gateway with the demo business and simulator, on a fixed port so it can restart.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let secrets = dir.path().join("secrets");
    let bind = format!("127.0.0.1:{}", free_port());
    let gateway = gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &["--demo"]).await;
    let token = gw::cli_token(&db, "alice");
    let mut gateway = Some(gateway);

    // This machine has no sound card: the app's microphone is a WAV file (a 700 Hz tone)
    // and its speaker another, as on the demo setup.
    let app_data = tempfile::tempdir().unwrap();
    let (mic, speaker) = (app_data.path().join("mic.wav"), app_data.path().join("speaker.wav"));
    switchboard_media::device::write_wav(&mic, &switchboard_media::tone::sine(700.0, 0.3, 48_000 * 30)).unwrap();
    // The app's environment, the same when it is started again at the end.
    let env = [
        ("SWITCHBOARD_DESKTOP_DATA_DIR", app_data.path().as_os_str()),
        ("SWITCHBOARD_AUDIO_WAV_IN", mic.as_os_str()),
        ("SWITCHBOARD_AUDIO_WAV_OUT", speaker.as_os_str()),
    ];
    let window = Window::open(&app, &env).await;
    let (ui, display) = (&window.ui, window.ui.display.clone());

    // Sign in.
    ui.el("#signin-url").await;
    ui.type_into("#signin-url", &format!("http://{bind}")).await;
    ui.type_into("#signin-token", &token).await;
    ui.shot("01-sign-in").await;
    ui.click("#signin-submit").await;
    ui.el("#queue").await;

    // A simulated caller appears in the queue, with a ticking wait time.
    ui.until_count("#queue .queue-item", 1).await;
    ui.shot("02-queue").await;
    let answered = queue_sids(ui).await.remove(0);
    ui.choose("#status-select", "available").await;
    ui.click("#btn-answer").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
    let lead = ui.until_text("#lead-name", "a lead name", |t| !t.is_empty()).await;
    println!("answered a call from {lead}");
    // The simulator speaks a turn every 2.5 s. A full-suite run once saw none in 30 s (the
    // test alone never did): if it happens again, say whether the gateway stored any, to
    // tell a silent simulator from a console that did not show them.
    if !ui.count_reaches("#transcript .turn", 1).await {
        let store = switchboard_gateway::store::connect(&db).await.unwrap();
        let business = store.business_by_name("Demo Co").await.unwrap().unwrap();
        let sid = answered.parse().unwrap();
        let call = store.call(business, &sid).await.unwrap();
        let turns = store.transcript(business, &sid).await.unwrap();
        panic!(
            "no transcript turn shown in 30 s for {answered}; the gateway has the call as {:?} and {} turns: {turns:?}",
            call.map(|c| c.status),
            turns.len()
        );
    }
    // Call audio: connected, the microphone meter shows the tone, the speaker meter the
    // simulated caller.
    ui.until_text("#audio-state", "Audio connected", |t| t == "Audio connected")
        .await;
    let mic_level = ui
        .until_attr("#meter-mic", "data-dbfs", "above -30 dBFS", |v| meter_above(v, -30.0))
        .await;
    let speaker_level = ui
        .until_attr("#meter-speaker", "data-dbfs", "above -40 dBFS", |v| {
            meter_above(v, -40.0)
        })
        .await;
    println!("meters: microphone {mic_level} dBFS, speaker {speaker_level} dBFS");
    ui.shot("03-connected-lead-transcript").await;

    ui.click("#btn-hold").await;
    ui.until_text("#call-status", "On hold", |t| t == "On hold").await;
    // On hold the caller hears hold music and the agent hears nothing.
    ui.until_attr("#meter-speaker", "data-dbfs", "silent", |v| !meter_above(v, -60.0))
        .await;
    ui.shot("04-on-hold").await;
    ui.click("#btn-resume").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
    ui.until_attr("#meter-speaker", "data-dbfs", "above -40 dBFS again", |v| {
        meter_above(v, -40.0)
    })
    .await;
    ui.click("#btn-mute").await;
    ui.until_attr("#meter-mic", "data-dbfs", "silent while muted", |v| {
        !meter_above(v, -60.0)
    })
    .await;
    ui.click("#btn-mute").await;
    ui.until_attr("#meter-mic", "data-dbfs", "the tone again", |v| meter_above(v, -30.0))
        .await;
    ui.click("#dtmf-1").await;
    ui.until_text("#dtmf-sent", "1", |t| t == "1").await;
    ui.click("#btn-end").await;
    ui.until_text("#call-status", "Completed", |t| t == "Completed").await;

    // Wrap-up.
    ui.choose("#wrapup-disposition", "follow_up").await;
    ui.type_into("#wrapup-notes", "Wants the revised quote by Friday").await;
    ui.shot("05-wrap-up").await;
    ui.click("#btn-wrapup-save").await;
    ui.el("#dialer").await;

    // The next caller: answer and transfer to an outside number.
    ui.until_count("#queue .queue-item", 1).await;
    ui.click("#btn-answer").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
    ui.click("#btn-transfer").await;
    ui.type_into("#transfer-number", "+14155550777").await;
    ui.shot("06-transfer").await;
    ui.click("#btn-transfer-go").await;
    ui.until_text("#call-status", "Transferred, then completed", |t| {
        t == "Transferred" || t == "Completed"
    })
    .await;
    ui.until_text("#call-status", "Completed", |t| t == "Completed").await;
    ui.click("#btn-wrapup-save").await;

    // Outbound, from a chosen number (not the default).
    ui.el("#dial-from").await;
    let numbers = ui.count("#dial-from option").await;
    assert_eq!(numbers, 3, "every number is listed");
    assert_eq!(
        ui.count("#dial-from option:disabled").await,
        1,
        "the inbound-only number cannot be chosen"
    );
    ui.type_into("#dial-to", "+14155559876").await;
    ui.choose("#dial-from", "2").await;
    ui.shot("07-dialer").await;
    ui.click("#btn-dial").await;
    let status = ui
        .until_text("#call-status", "an outbound call", |t| !t.is_empty())
        .await;
    println!("outbound call is {status}");
    let page = ui.text("#softphone").await;
    assert!(page.contains("Outbound") && page.contains("+1 415 555 9876"), "{page}");
    ui.shot("08-outbound").await;
    let st = ui
        .until_text("#call-status", "settled", |t| t == "Connected" || t == "Failed")
        .await;
    if st == "Connected" {
        ui.click("#btn-end").await;
        ui.until_text("#call-status", "Completed", |t| t == "Completed").await;
    }
    ui.click("#btn-wrapup-save").await;

    // History shows the day's calls.
    ui.click("#nav-history").await;
    ui.until_count("#history-table .history-row", 3).await;
    ui.shot("09-history").await;

    // The gateway goes away: offline banner, history still readable and searchable.
    gateway.take().unwrap().kill().await;
    ui.el("#offline-banner").await;
    let rows = ui.count("#history-table .history-row").await;
    assert!(rows >= 3, "history readable offline ({rows} rows)");
    ui.type_into("#history-search", "9876").await;
    ui.until_count("#history-table .history-row", 1).await;
    assert_eq!(ui.count("#history-table .history-row").await, 1, "search works offline");
    ui.shot("10-offline-history").await;
    ui.erase("#history-search").await;
    ui.until_count("#history-table .history-row", rows).await;

    // It comes back: online again, and caught up (calls left ringing are now ended).
    gateway = Some(gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &[]).await);
    ui.gone("#offline-banner").await;
    ui.click("#nav-console").await;
    ui.el("#queue").await;
    ui.shot("11-back-online").await;
    let store = switchboard_gateway::store::connect(&db).await.unwrap();
    let business = store.business_by_name("Demo Co").await.unwrap().unwrap();
    let waiting = store.queue(business).await.unwrap().len();
    let shown = ui.count("#queue .queue-item").await;
    assert_eq!(
        shown, waiting,
        "the console's queue matches the gateway's after catching up"
    );

    // A tel: link opened while the app runs reaches this window (single instance) and
    // opens the dialer with the number.
    let second = Command::new(&app)
        .arg("tel:+1-415-555-0142")
        .env("DISPLAY", &display)
        .env("NO_AT_BRIDGE", "1")
        .env("SWITCHBOARD_DESKTOP_DATA_DIR", app_data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status();
    let exited = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second instance hands over and exits");
    assert!(exited.is_ok());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = ui.el("#dial-to").await.prop("value").await.unwrap().unwrap_or_default();
        if v == "+14155550142" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "dialer shows {v:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui.shot("12-tel-link").await;
    // A caller waits as the app closes (callers ring for 90 s), so the restart below has a
    // cached queue to show.
    ui.until_count("#queue .queue-item", 1).await;
    let waiting_at_close = queue_sids(ui).await;
    drop(gateway);
    ui.c.clone().close().await.unwrap();
    drop(window);

    // Started again with the gateway gone, the console shows the cache from the page's first
    // paint: the page the shell serves carries the first frame, rendered from the cache
    // before the window opened (the agent signed in, the queue as cached), and the UI
    // module, which took it over, shows the same callers.
    let again = Window::open(&app, &env).await;
    let ui = &again.ui;
    ui.el("#offline-banner").await;
    let page =
        ui.c.execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/index.html').then(r => r.text()).then(done, e => done('fetch failed: ' + e));",
            vec![],
        )
        .await
        .expect("run the script");
    let page = page.as_str().unwrap_or_default().to_owned();
    let first = page
        .split(r#"<div id="prerendered""#)
        .nth(1)
        .unwrap_or_else(|| panic!("the served page carries no prerendered frame: {page}"));
    assert!(
        first.contains(r#"id="offline-banner""#) && first.contains(r#"id="queue""#),
        "{first}"
    );
    let sids_in = |html: &str| -> Vec<String> {
        html.split(r#"data-sid=""#)
            .skip(1)
            .filter_map(|rest| rest.split('"').next().map(str::to_owned))
            .collect()
    };
    let prerendered = sids_in(first);
    let shown = queue_sids(ui).await;
    assert_eq!(prerendered, shown, "the first paint's queue is the module's");
    assert!(
        waiting_at_close.iter().all(|sid| shown.contains(sid)),
        "the cached queue {shown:?} holds the callers waiting when the app closed, {waiting_at_close:?}"
    );
    println!(
        "restarted offline: the first paint carried the cached queue ({} callers)",
        shown.len()
    );
    ui.shot("13-restart-from-cache").await;
    ui.c.clone().close().await.unwrap();
    drop(again);

    // Once more, with a first frame the UI cannot take over (a knob of debug builds puts an
    // element the UI does not make at its head): the UI panics, says so in the app's log and
    // reloads, and the reloaded page makes its own frame. The agent has the console back,
    // with the same cached queue, after one reload.
    let mismatch = [("SWITCHBOARD_TEST_FRAME_MISMATCH", std::ffi::OsStr::new("1"))];
    let third = Window::open(&app, &[&env[..], &mismatch[..]].concat()).await;
    let ui = &third.ui;
    ui.el("#offline-banner").await;
    assert_eq!(
        ui.count(".not-from-the-ui").await,
        0,
        "the frame the UI could not take over is gone"
    );
    assert_eq!(queue_sids(ui).await, shown, "the reloaded page shows the cached queue");
    let log = third.app_log();
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the console's UI stopped on an error"))
        .collect();
    assert_eq!(reports.len(), 1, "one panic reported, then a working page: {log}");
    assert!(reports[0].contains("(1 in a row)"), "{}", reports[0]);
    println!("recovered from a frame it could not take over: {}", reports[0]);
    ui.shot("14-recovered-from-a-panic").await;
    ui.c.clone().close().await.unwrap();
}

/// The `call_sid`s of the callers the console's queue shows, in its order.
async fn queue_sids(ui: &switchboard_e2e::Ui) -> Vec<String> {
    let mut sids = vec![];
    for e in
        ui.c.find_all(fantoccini::Locator::Css("#queue .queue-item"))
            .await
            .unwrap()
    {
        sids.push(e.attr("data-sid").await.unwrap().unwrap_or_default());
    }
    sids
}
