//! The real desktop app in a real window (Xvfb), driven through WebDriver (tauri-driver +
//! WebKitWebDriver), against the real gateway binary with the demo simulator:
//! sign in; a simulated call arrives; answer, hold, resume, end, wrap up; lead and live
//! transcript; a second call transferred; an outbound call from a chosen number; the
//! gateway stops (offline banner, history still readable) and comes back (online, caught
//! up). Screenshots of every screen go to target/e2e-screenshots/.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::path::PathBuf;

use std::process::Stdio;
use std::time::Duration;
use switchboard_e2e::{app_binary, free_port, target_dir};

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::process::{Child, Command};

/// The desktop binary, built by cargo for this test run (same profile as the tests).
struct Killer(Vec<Child>);
impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.start_kill();
        }
    }
}

async fn wait_port(port: u16) {
    gw::eventually(30, "tauri-driver to listen", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

struct Ui {
    c: Client,
    shots: PathBuf,
}

impl Ui {
    async fn el(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let e = self.el(css).await;
            if e.is_enabled().await.unwrap_or(false) {
                e.click().await.unwrap_or_else(|err| panic!("click {css}: {err}"));
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{css} stayed disabled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.unwrap_or_default()
    }

    /// Wait until the element's text satisfies `f`.
    async fn until_text(&self, css: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(e) = self.c.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if f(&t) {
                        return t;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {css} to be {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.c.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0)
    }

    async fn until_count(&self, css: &str, at_least: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.count(css).await < at_least {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {at_least} of {css}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn gone(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.count(css).await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {css} to go away"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.el(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Delete an input's text with the keyboard (so the app sees the input events).
    async fn erase(&self, css: &str) {
        let e = self.el(css).await;
        let len = e.prop("value").await.unwrap().unwrap_or_default().chars().count();
        let backspace: char = fantoccini::key::Key::Backspace.into();
        e.send_keys(&backspace.to_string().repeat(len.max(1))).await.unwrap();
    }

    /// Choose in a <select> as a user's pick would: set the value, fire `change`.
    async fn choose(&self, css: &str, value: &str) {
        self.el(css).await;
        let js = "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
                  s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;";
        let v = self.c.execute(js, vec![css.into(), value.into()]).await.unwrap();
        assert_eq!(v.as_str(), Some(value), "{css} has no option {value}");
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_works_a_shift_in_the_real_window() {
    // Every wait inside is bounded too; this only turns a stuck driver into a failure.
    tokio::time::timeout(Duration::from_secs(300), shift())
        .await
        .expect("the shift finished within 5 minutes");
}

async fn shift() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the app keeps its token in the OS keyring: run through `cargo xtask test` (it provides a Secret Service)"
    );
    let app = app_binary();
    let mut procs = Killer(vec![]);

    // The gateway with the demo business and simulator, on a fixed port so it can restart.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let secrets = dir.path().join("secrets");
    let bind = format!("127.0.0.1:{}", free_port());
    let gateway = gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &["--demo"]).await;
    let token = gw::cli_token(&db, "alice");
    let mut gateway = Some(gateway);

    let (x, display) = switchboard_e2e::xvfb().await;
    procs.0.push(x);
    let app_data = tempfile::tempdir().unwrap();
    let (port, native) = (free_port(), free_port());
    let driver = Command::new("tauri-driver")
        .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
        .env("DISPLAY", &display)
        .env("NO_AT_BRIDGE", "1")
        .env("SWITCHBOARD_DESKTOP_DATA_DIR", app_data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("tauri-driver is installed (cargo xtask setup)");
    procs.0.push(driver);
    wait_port(port).await;
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "browserName": "wry",
        "tauri:options": { "application": app.to_string_lossy() }
    }))
    .unwrap();
    let c = tokio::time::timeout(
        Duration::from_secs(60),
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}")),
    )
    .await
    .expect("WebDriver session within 60 s")
    .expect("WebDriver session");
    let shots = target_dir().join("e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let ui = Ui { c, shots };

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
    ui.choose("#status-select", "available").await;
    ui.click("#btn-answer").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
    let lead = ui.until_text("#lead-name", "a lead name", |t| !t.is_empty()).await;
    println!("answered a call from {lead}");
    ui.until_count("#transcript .turn", 1).await;
    ui.shot("03-connected-lead-transcript").await;

    ui.click("#btn-hold").await;
    ui.until_text("#call-status", "On hold", |t| t == "On hold").await;
    ui.shot("04-on-hold").await;
    ui.click("#btn-resume").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
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
    drop(gateway);
    ui.c.close().await.unwrap();
}
