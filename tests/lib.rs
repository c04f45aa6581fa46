//! # switchboard-e2e
//!
//! Cross-process tests (`e2e/`) and the desktop benchmark (`benches/`): they start the
//! gateway binary, an X server and the desktop app, and drive or measure the window like
//! an agent would. This library holds what both need.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod chromium;
pub mod livekit;

/// The repository root. Read from the environment cargo gives the running test first:
/// the compile-time value can name another checkout, because cargo reuses a workspace
/// member's artifacts across checkouts that share a target directory.
pub fn workspace() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// tauri-driver on free ports of `display`, listening. Its output and the app's log (the
/// app's own output goes nowhere: WebKitWebDriver drops it) go to the files of `logs`.
async fn start_driver(display: &str, env: &[(&str, &std::ffi::OsStr)], logs: &WindowLogs) -> (Child, u16) {
    let (port, native) = (free_port(), free_port());
    let out = std::fs::File::create(&logs.driver).expect("the driver's log file");
    let err = out.try_clone().expect("the driver's log file");
    let mut driver = Command::new("tauri-driver");
    driver
        .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
        .env("DISPLAY", display)
        .env("NO_AT_BRIDGE", "1")
        .env("SWITCHBOARD_LOG_FILE", &logs.app)
        .stdout(out)
        .stderr(err)
        // Its own process group, so WebKitWebDriver and the app it launches go with it
        // (see `kill_group`).
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in env {
        driver.env(k, v);
    }
    let child = driver.spawn().expect("tauri-driver is installed (cargo xtask setup)");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tauri-driver did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, port)
}

/// A WebDriver session on the app, through the driver at `port`.
async fn open_session(app: &Path, port: u16) -> Result<fantoccini::Client, String> {
    let caps = serde_json::json!({
        "browserName": "wry",
        "tauri:options": { "application": app.to_string_lossy() }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("a JSON object literal")
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        fantoccini::ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}")),
    )
    .await
    .map_err(|_| "no session within 60 s".to_string())?
    .map_err(|e| e.to_string())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An X server on a free display, ready for clients: Xvfb writes the display number to
/// `-displayfd` only once it accepts connections. Killed when the child is dropped.
pub async fn xvfb() -> (Child, String) {
    xvfb_with(&[]).await
}

/// [`xvfb`] with more of Xvfb's options (`-noreset`: keep the server's state when its last
/// client leaves, as a desktop session's display does).
pub async fn xvfb_with(options: &[&str]) -> (Child, String) {
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1440x900x24", "-nolisten", "tcp"])
        .args(options)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Xvfb is installed (cargo xtask setup)");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = tokio::time::timeout(Duration::from_secs(20), BufReader::new(stdout).lines().next_line())
        .await
        .expect("Xvfb ready within 20 s")
        .expect("Xvfb output")
        .expect("a display number");
    (child, format!(":{}", line.trim()))
}

/// `cargo`, for a test that builds something: without the variables `cargo test` set for
/// the test itself (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...). Some build scripts (ring's)
/// list those as inputs, so a nested cargo that inherits them rebuilds half the
/// dependency tree inside the test, and the next plain cargo rebuilds it back.
pub fn cargo_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let crate_var = k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_CFG_")
            || matches!(
                k,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if crate_var {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The debug desktop app, built now as `cargo xtask test` prebuilds it (so this finds it
/// fresh): with `--workspace`, so its dependencies have the features `cargo test
/// --workspace` gives them and are built once for both. The UI it embeds must have been
/// built.
pub fn app_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("switchboard");
    let status = cargo_command()
        .args(["build", "--workspace", "--bin", "switchboard"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the desktop app failed");
    assert!(
        workspace().join("ui/dist/switchboard-ui.js").exists(),
        "build the UI first: cargo xtask ui"
    );
    bin
}

/// The desktop app in a window of its own X server, driven through WebDriver
/// (tauri-driver + WebKitWebDriver). Everything it started stops when it is dropped.
#[derive(Debug)]
pub struct Window {
    /// The WebDriver session on the app's page, and the X display the app runs on.
    pub ui: Ui,
    procs: Vec<Child>,
    logs: WindowLogs,
}

/// The app's log and its WebDriver's output: printed if the test fails, else removed.
#[derive(Debug)]
struct WindowLogs {
    app: PathBuf,
    driver: PathBuf,
}

/// How much of a failed window's log is printed: its end, where the failure is.
const LOG_TAIL_LINES: usize = 120;

impl WindowLogs {
    fn new(display: &str) -> Self {
        let dir = target_dir().join("e2e-logs");
        std::fs::create_dir_all(&dir).expect("log directory");
        let name = display.replace(':', "");
        let logs = Self {
            app: dir.join(format!("app-{name}.log")),
            driver: dir.join(format!("driver-{name}.log")),
        };
        // The app appends (a restart keeps the run before it); start this window afresh,
        // without the page an earlier failure on this display left (`Ui::fail`).
        let _ = std::fs::remove_file(&logs.app);
        let _ = std::fs::remove_file(dir.join(format!("page-{name}.html")));
        logs
    }

    fn print_tails(&self, display: &str) {
        for (what, path) in [("app", &self.app), ("WebDriver", &self.driver)] {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!(
                "--- the {what} log of the window on {display} (last {} lines of {}) ---\n{}\n--- end ---",
                tail.len(),
                path.display(),
                tail.join("\n")
            );
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.app);
        let _ = std::fs::remove_file(&self.driver);
    }
}

/// Kill `child` and everything in its process group. tauri-driver's own children
/// (WebKitWebDriver, the app) outlive it otherwise, and a surviving app would take the next
/// launch for itself: the app is single-instance, so a second one hands over and exits.
fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        // Fails harmlessly for a child that leads no group of its own.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.start_kill();
}

impl Drop for Window {
    fn drop(&mut self) {
        for c in &mut self.procs {
            kill_group(c);
        }
        if std::thread::panicking() {
            // The app's log is what explains a failed wait on its window ("Gateway
            // offline" after 30 s says nothing about why); the files stay as well.
            self.logs.print_tails(&self.ui.display);
        } else {
            self.logs.remove();
        }
    }
}

impl Window {
    /// What the app has logged so far.
    pub fn app_log(&self) -> String {
        std::fs::read_to_string(&self.logs.app).unwrap_or_default()
    }

    /// Start Xvfb, tauri-driver and the app with `env` added to its environment.
    pub async fn open(app: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let (x, display) = xvfb().await;
        let mut procs = vec![x];
        let logs = WindowLogs::new(&display);
        // WebKitWebDriver now and then drops the new-session request on a loaded machine
        // (the connection closes before an answer: seen once in a CI-sized run). That says
        // nothing about the app, so a session that fails to open is retried once with a
        // fresh driver; a second failure fails the test.
        let mut attempt = 0;
        let c = loop {
            attempt += 1;
            let (driver, port) = start_driver(&display, env, &logs).await;
            match open_session(app, port).await {
                Ok(c) => {
                    procs.push(driver);
                    break c;
                }
                Err(e) if attempt < 2 => {
                    eprintln!("WebDriver session failed ({e}); starting a fresh driver once more");
                    let mut driver = driver;
                    kill_group(&mut driver);
                    let _ = driver.wait().await;
                }
                Err(e) => panic!("WebDriver session: {e}"),
            }
        };
        let shots = target_dir().join("e2e-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        let window = Self {
            ui: Ui { c, shots, display },
            procs,
            logs,
        };
        // The page shows the shell's prerendered first frame, inert, until the UI module
        // has taken it over: tests act once the module has, as an agent can.
        window.ui.until_count("body > :not(script):not([inert])", 1).await;
        window.ui.gone("body > [inert]").await;
        window
    }
}

/// The app's page as a user sees it: wait for elements and text, click, type, choose.
/// Every wait is bounded and fails with what it was waiting for.
#[derive(Debug)]
pub struct Ui {
    pub c: fantoccini::Client,
    shots: PathBuf,
    /// The window's own X display (`:N`), which [`Ui::shot`] reads.
    pub display: String,
}

impl Ui {
    pub async fn el(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(fantoccini::Locator::Css(css))
            .await;
        match found {
            Ok(e) => e,
            Err(e) => self.fail(format!("{css}: {e}")).await,
        }
    }

    /// Click once the element is enabled.
    pub async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let e = self.el(css).await;
            if e.is_enabled().await.unwrap_or(false) {
                e.click().await.unwrap_or_else(|err| panic!("click {css}: {err}"));
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail(format!("{css} stayed disabled")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.el(css).await.text().await.unwrap_or_default()
    }

    /// Wait until the element's text satisfies `f`.
    pub async fn until_text(&self, css: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
        self.until_read(css, None, what, f).await
    }

    /// Wait until the element's attribute satisfies `f`; returns it.
    pub async fn until_attr(&self, css: &str, attr: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
        self.until_read(css, Some(attr), what, f).await
    }

    /// Poll the element's text (or `attr`) until it satisfies `f`, for at most 30 s.
    async fn until_read(&self, css: &str, attr: Option<&str>, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut last = None;
        loop {
            if let Ok(e) = self.c.find(fantoccini::Locator::Css(css)).await {
                let value = match attr {
                    None => e.text().await.ok(),
                    Some(a) => e.attr(a).await.ok().flatten(),
                };
                if let Some(v) = value {
                    if f(&v) {
                        return v;
                    }
                    last = Some(v);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail(format!(
                    "timed out waiting for {css}{} to be {what} (last {last:?})",
                    attr.map(|a| format!("[{a}]")).unwrap_or_default()
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn count(&self, css: &str) -> usize {
        self.c
            .find_all(fantoccini::Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    pub async fn until_count(&self, css: &str, at_least: usize) {
        if !self.count_reaches(css, at_least).await {
            self.fail(format!("timed out waiting for {at_least} of {css}")).await;
        }
    }

    /// Whether `at_least` elements match `css` within 30 s: [`Ui::until_count`] for a
    /// caller that has more to say when they do not.
    pub async fn count_reaches(&self, css: &str, at_least: usize) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.count(css).await < at_least {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    }

    pub async fn gone(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.count(css).await > 0 {
            if tokio::time::Instant::now() >= deadline {
                self.fail(format!("timed out waiting for {css} to go away")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.el(css).await;
        e.clear().await.expect("clear the input");
        e.send_keys(text).await.expect("type into the input");
    }

    /// Delete an input's text with the keyboard (so the app sees the input events).
    pub async fn erase(&self, css: &str) {
        let e = self.el(css).await;
        let len = e
            .prop("value")
            .await
            .expect("input value")
            .unwrap_or_default()
            .chars()
            .count();
        let backspace: char = fantoccini::key::Key::Backspace.into();
        e.send_keys(&backspace.to_string().repeat(len.max(1)))
            .await
            .expect("type into the input");
    }

    /// Sign in on the sign-in screen with the gateway at `base` and `token`, and wait for
    /// the console's queue (a keyring is there; see `no_keyring` for the other way).
    pub async fn sign_in(&self, base: &str, token: &str) {
        self.el("#signin-url").await;
        self.type_into("#signin-url", base).await;
        self.type_into("#signin-token", token).await;
        self.click("#signin-submit").await;
        self.el("#queue").await;
    }

    /// Choose in a <select> as a user's pick would: set the value, fire `change`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.el(css).await;
        let js = "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
                  s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;";
        let v = self
            .c
            .execute(js, vec![css.into(), value.into()])
            .await
            .expect("run the script");
        assert_eq!(v.as_str(), Some(value), "{css} has no option {value}");
    }

    /// Save a screenshot as `target/e2e-screenshots/<name>.png`: the window's display, as
    /// X holds it, which is what the agent sees. (WebDriver's own screenshot asks WebKit
    /// for a snapshot of the page, which never returns when WebKit paints without
    /// compositing, as the app has it do.)
    pub async fn shot(&self, name: &str) {
        // WebKit paints asynchronously: wait for two animation frames so the picture shows
        // the DOM the test has just checked, not the frame before it.
        let _ = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
                vec![],
            )
            .await;
        let path = self.shots.join(format!("{name}.png"));
        let status = self
            .capture_screen(&path)
            .status()
            .await
            .expect("ImageMagick's import is installed (cargo xtask setup)");
        assert!(status.success(), "screenshot {name}: import {status}");
    }

    /// ImageMagick's `import` saving this window's whole X display to `path`.
    fn capture_screen(&self, path: &Path) -> Command {
        let mut import = Command::new("import");
        import.args(["-window", "root"]).arg(path).env("DISPLAY", &self.display);
        import
    }

    /// Fail the test with `why`, keeping what explains a failed wait beside the app's log:
    /// the page as WebKit holds it (`e2e-logs/page-N.html`) and the display as X shows it
    /// (`e2e-screenshots/failed-N.png`). A wait that timed out says what it wanted, not
    /// what the agent saw instead. Each capture is bounded, as the page may be the thing
    /// that hangs, and one that fails is named rather than hiding the test's own failure.
    async fn fail(&self, why: String) -> ! {
        const CAPTURE: Duration = Duration::from_secs(5);
        let name = self.display.replace(':', "");
        let page = target_dir().join("e2e-logs").join(format!("page-{name}.html"));
        let page = match tokio::time::timeout(CAPTURE, self.c.source()).await {
            Ok(Ok(html)) => match std::fs::write(&page, html) {
                Ok(()) => page.display().to_string(),
                Err(e) => format!("not saved ({e})"),
            },
            Ok(Err(e)) => format!("not read ({e})"),
            Err(_) => "not read (WebDriver did not answer in 5 s)".to_owned(),
        };
        let shot = self.shots.join(format!("failed-{name}.png"));
        let import = self.capture_screen(&shot).kill_on_drop(true).status();
        let shot = match tokio::time::timeout(CAPTURE, import).await {
            Ok(Ok(s)) if s.success() => shot.display().to_string(),
            Ok(Ok(s)) => format!("not taken (import {s})"),
            Ok(Err(e)) => format!("not taken ({e})"),
            Err(_) => "not taken (import did not finish in 5 s)".to_owned(),
        };
        panic!("{why}\n  the page then: {page}\n  the display then: {shot}");
    }
}

/// Fail early with a clear message when there is no Secret Service for the app's token.
pub fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the app keeps its token in the OS keyring: run through `cargo xtask test` (it provides a Secret Service)"
    );
}

/// A level meter's `data-dbfs` reads above `floor` (empty or unparsable is silence).
pub fn meter_above(dbfs: &str, floor: f32) -> bool {
    dbfs.parse::<f32>().is_ok_and(|d| d > floor)
}

/// `tests/node`, where `cargo xtask setup` installs the vendors' npm packages (the Twilio
/// and SignalWire SDKs, Prism) and fetches Twilio's OpenAPI document. Found from the
/// running test's crate upwards, so any workspace member's tests can use it.
pub fn node_dir() -> PathBuf {
    let start =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    start
        .ancestors()
        .map(|d| d.join("tests/node"))
        .find(|d| d.join("package.json").exists())
        .expect("tests/node above the crate under test")
}

/// Stoplight Prism serving Twilio's own OpenAPI document (`twilio_api_v2010.json` from
/// npm `@twilio/cli-core`) with request validation on: a stand-in for Twilio's REST
/// cloud, which cannot run here. Stopped when dropped.
#[derive(Debug)]
pub struct Prism {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT/2010-04-01`, the API base URL.
    pub base: String,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prism {
    /// Start on a free loopback port and wait until it says it listens.
    pub fn start() -> Self {
        use std::io::BufRead as _;
        let dir = node_dir();
        let spec = dir.join("specs/twilio_api_v2010.json");
        assert!(
            spec.exists() && dir.join("node_modules/.bin/prism").exists(),
            "Prism or Twilio's OpenAPI document is missing: run `cargo xtask setup`"
        );
        let port = free_port();
        let mut child = std::process::Command::new(dir.join("node_modules/.bin/prism"))
            .args(["mock", "--errors", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(&spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("prism starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let line = lines
                .next()
                .expect("prism exited before listening")
                .expect("prism's log");
            if line.contains("Prism is listening") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "prism did not start within 90 s");
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: format!("http://127.0.0.1:{port}/2010-04-01"),
        }
    }
}

/// A vendor's SDK run as an oracle: a script that reads one JSON request per line and
/// answers one JSON line each (`tests/python/<script>` in the project's virtualenv that
/// `cargo xtask setup` fills, or `tests/node/<script>` with the npm libraries).
#[derive(Debug)]
pub struct Oracle {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

/// The project virtualenv's Python (`cargo xtask setup` makes it), where the vendors'
/// PyPI packages the tests use are installed.
pub fn venv_python() -> PathBuf {
    let bin = std::env::var_os("SWITCHBOARD_PY_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/switchboard/py/bin")))
        .expect("SWITCHBOARD_PY_TOOLS or HOME");
    let python = bin.join("python");
    assert!(
        python.exists(),
        "no virtualenv at {}: run `cargo xtask setup`",
        bin.display()
    );
    python
}

/// `tests/python/<script>`.
pub fn python_script(script: &str) -> PathBuf {
    node_dir().with_file_name("python").join(script)
}

/// The Python oracles' old name.
pub type PyOracle = Oracle;

impl Oracle {
    /// Start `tests/python/<script>` with the virtualenv's Python.
    pub fn start(script: &str) -> Self {
        Self::start_in(script, None)
    }

    /// Start `tests/python/<script>`, inside network namespace `netns` when given.
    pub fn start_in(script: &str, netns: Option<&str>) -> Self {
        let python = venv_python();
        let script = python_script(script);
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = std::process::Command::new("ip");
                c.args(["netns", "exec", ns]).arg(python);
                c
            }
            None => std::process::Command::new(python),
        };
        cmd.arg(script);
        Self::spawn(cmd)
    }

    /// Start `tests/node/<script>` with Node, in that directory (its node_modules).
    pub fn node(script: &str) -> Self {
        let dir = node_dir();
        assert!(
            dir.join("node_modules").exists(),
            "the vendors' npm libraries are not installed: run `cargo xtask setup`"
        );
        let mut cmd = std::process::Command::new("node");
        cmd.arg(dir.join(script)).current_dir(&dir);
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: std::process::Command) -> Self {
        use std::io::BufRead as _;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the oracle starts");
        let lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        Self { child, lines }
    }

    /// Ask one question.
    pub fn ask(&mut self, req: &serde_json::Value) -> serde_json::Value {
        use std::io::Write as _;
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{req}").expect("the oracle reads");
        stdin.flush().expect("the oracle reads");
        let line = self.lines.next().expect("the oracle answers").expect("a line");
        serde_json::from_str(&line).expect("the oracle answers JSON")
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session bus of its own on which no service can be activated (so no keyring, and no
/// other instance of the app to hand over to). Returns the daemon and its address.
pub async fn bare_session_bus(dir: &Path) -> (Child, String) {
    let conf = dir.join("bus.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", conf.display()))
        .args(["--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("dbus-daemon is installed (cargo xtask setup)");
    // The address is printed once the bus accepts connections.
    let stdout = child.stdout.take().unwrap();
    let address = tokio::time::timeout(Duration::from_secs(10), BufReader::new(stdout).lines().next_line())
        .await
        .expect("the bus address within 10 s")
        .unwrap()
        .expect("dbus-daemon printed its address");
    (child, address.trim().to_owned())
}

/// A network namespace with one veth link to ours, which a test takes down and up to cut
/// the network between itself and what runs inside; removed on drop. Needs root.
#[derive(Debug)]
pub struct Netns {
    /// The namespace (`ip netns exec <name> …`).
    pub name: String,
    outer: String,
    /// Our end's address.
    pub outer_ip: String,
    /// The address inside.
    pub inner_ip: String,
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    /// A fresh namespace and link, named after this process (one per test process).
    pub fn new() -> Self {
        let tag = format!("{:x}", std::process::id() & 0xffff);
        let (name, outer, inner) = (format!("sbcut{tag}"), format!("sbo{tag}"), format!("sbi{tag}"));
        let net = 64 + (std::process::id() % 128);
        let (outer_ip, inner_ip) = (format!("10.77.{net}.1"), format!("10.77.{net}.2"));
        ip(&["netns", "add", &name]);
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
        ip(&["link", "set", &inner, "netns", &name]);
        ip(&["addr", "add", &format!("{outer_ip}/24"), "dev", &outer]);
        ip(&["link", "set", &outer, "up"]);
        ip(&[
            "netns",
            "exec",
            &name,
            "ip",
            "addr",
            "add",
            &format!("{inner_ip}/24"),
            "dev",
            &inner,
        ]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &inner, "up"]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        Self {
            name,
            outer,
            outer_ip,
            inner_ip,
        }
    }

    /// Take our end of the link up or down.
    pub fn link(&self, up: bool) {
        ip(&["link", "set", &self.outer, if up { "up" } else { "down" }]);
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.outer])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
