//! Shared test harness: real databases (a SQLite file per test, a fresh PostgreSQL
//! database per test on the local server, started if it is not running), the real router
//! served on a loopback port, or the real binary as a child process.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use switchboard_core::NormalizedCallEvent;
use switchboard_gateway::AppState;
use switchboard_gateway::demo::{self, Seeded};
use switchboard_gateway::secrets::Secrets;
use switchboard_gateway::store::{self, Store};
use switchboard_telephony::signature;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::OnceCell;

/// The webhook secret every test provider uses (as `secret:TEST_WEBHOOK`).
pub const SECRET: &str = "test-webhook-secret";
pub const SECRET_NAME: &str = "TEST_WEBHOOK";

/// A simulator config for tests: no inbound traffic of its own, quick confirmations.
pub fn quiet_sim() -> serde_json::Value {
    serde_json::json!({ "seed": 7, "inbound_per_minute": 0.0, "confirm_delay_ms": 20, "transcript_interval_ms": 50,
                        "outbound_ring_ms": 50, "webhook_secret": format!("secret:{SECRET_NAME}") })
}

/// Wait until `f` returns Some, polling every 20 ms, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pg_admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PostgreSQL tests need DATABASE_URL (a superuser URL, e.g. postgres://postgres@127.0.0.1:5432/postgres); \
             `cargo xtask test` starts a throwaway cluster and sets it"
        )
    })
}

static PG_READY: OnceCell<()> = OnceCell::const_new();

/// Make sure the PostgreSQL server named by DATABASE_URL answers.
pub async fn ensure_postgres() {
    PG_READY
        .get_or_init(|| async {
            let url = pg_admin_url();
            eventually(30, "PostgreSQL at DATABASE_URL to accept connections", || async {
                sqlx::PgConnection::connect(&url).await.ok().map(|_| ())
            })
            .await;
        })
        .await;
}

/// A database for one test.
#[derive(Debug)]
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
        path: PathBuf,
    },
    Postgres {
        name: String,
        url: String,
    },
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.db");
        Self::Sqlite {
            url: format!("sqlite://{}", path.display()),
            path,
            _dir: dir,
        }
    }

    pub async fn postgres() -> Self {
        ensure_postgres().await;
        let admin = pg_admin_url();
        let name = format!("sb_t_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Self::Postgres {
            name,
            url: url.to_string(),
        }
    }

    pub async fn of(kind: &str) -> Self {
        match kind {
            "sqlite" => Self::sqlite().await,
            _ => Self::postgres().await,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// Drop a PostgreSQL test database (leftovers from failed runs are removed by
    /// `cargo xtask test`).
    pub async fn cleanup(self) {
        if let Self::Postgres { name, .. } = self {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// A secrets directory holding the test webhook secret.
pub fn secrets_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SECRET_NAME), SECRET).unwrap();
    dir
}

/// The real router, served in this process on a loopback port.
pub struct TestGateway {
    pub base: String,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    _secrets: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestGateway {
    /// Seed `businesses` businesses (see [`seed`]), then start: providers are loaded at
    /// start-up, as in the binary.
    pub async fn start(db: &TestDb, businesses: u32) -> (Self, Vec<Seeded>) {
        let store = store::connect(db.url()).await.unwrap();
        let mut seeded = vec![];
        for n in 1..=businesses {
            seeded.push(seed(&*store, n).await);
        }
        (Self::with_store(store).await, seeded)
    }

    pub async fn with_store(store: Arc<dyn Store>) -> Self {
        let secrets = secrets_dir();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = switchboard_gateway::start(
            store.clone(),
            &Secrets::new(Some(secrets.path().to_owned())),
            base.clone(),
        )
        .await
        .unwrap();
        let server = tokio::spawn({
            let state = state.clone();
            async move {
                switchboard_gateway::serve(listener, state, std::future::pending())
                    .await
                    .unwrap();
            }
        });
        Self {
            base,
            state,
            store,
            _secrets: secrets,
            server,
        }
    }

    /// Put a secret where this gateway reads them (resolved when a provider is built).
    pub fn add_secret(&self, name: &str, value: &str) {
        std::fs::write(self._secrets.path().join(name), value).unwrap();
    }

    pub fn client(&self, token: &str) -> switchboard_client::Client {
        switchboard_client::Client::new(&self.base, token).unwrap()
    }
}

/// Seed a business with a quiet simulator; `n` keeps numbers of several businesses apart.
pub async fn seed(store: &dyn Store, n: u32) -> Seeded {
    demo::seed_business(
        store,
        &format!("Business {n}"),
        &format!("sim-{n}"),
        quiet_sim(),
        100 * n,
        10,
    )
    .await
    .unwrap()
}

pub async fn token(store: &dyn Store, seeded: &Seeded, agent: &str) -> String {
    demo::issue_token(store, seeded.agent(agent)).await.unwrap()
}

/// An hour before this test process started: tests write provider times as small offsets
/// (1_000, 2_000, ...) and [`inbound`] places them after this, inside the window of
/// provider times the gateway accepts (see `gateway::ingest::check_time`).
pub fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| switchboard_gateway::now_ms() - 3_600_000)
}

/// `t0() + offset`: a recent provider time.
pub fn recent(offset: i64) -> i64 {
    t0() + offset
}

/// POST a signed simulator webhook; returns (status, body).
pub async fn post_webhook(
    http: &reqwest::Client,
    base: &str,
    provider: &str,
    ev: &NormalizedCallEvent,
) -> (u16, String) {
    post_signed(
        http,
        &format!("{base}/webhooks/simulator/{provider}"),
        &serde_json::to_vec(ev).unwrap(),
        SECRET,
    )
    .await
}

pub async fn post_signed(http: &reqwest::Client, url: &str, body: &[u8], secret: &str) -> (u16, String) {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header(signature::HEADER, signature::sign(secret.as_bytes(), body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// An inbound call event from the simulator's vendor, `at` ms after [`t0`].
pub fn inbound(
    vendor_id: &str,
    event: &str,
    at: i64,
    status: switchboard_core::CallStatus,
    to: &str,
) -> NormalizedCallEvent {
    NormalizedCallEvent {
        telephony_vendor: Some(switchboard_core::TelephonyVendor::Simulator),
        vendor_call_id: Some(vendor_id.into()),
        direction: Some(switchboard_core::Direction::Inbound),
        from: Some("+16285550999".into()),
        to: Some(to.into()),
        status: Some(status),
        ..NormalizedCallEvent::new(event, recent(at))
    }
}

/// The gateway binary: cargo's path for the gateway's own tests; for other packages'
/// tests (which share this harness), the workspace build of it, (re)built on first use so
/// it is never stale.
pub fn gateway_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_switchboard-gateway") {
        return PathBuf::from(p);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<test> -> target/<profile>/switchboard-gateway
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(Path::parent).unwrap();
            let bin = profile_dir.join("switchboard-gateway");
            // Build it in the profile we run in (benchmarks run from target/release), so the
            // path below is the binary just built, never an older one.
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = switchboard_e2e::cargo_command();
            // `--workspace`: the test build's features, so no dependency is compiled again.
            cmd.args(["build", "--workspace", "--bin", "switchboard-gateway"]);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().unwrap();
            assert!(status.success(), "building the gateway binary failed");
            assert!(bin.exists(), "gateway binary expected at {}", bin.display());
            bin
        })
        .clone()
}

/// A new token for `agent`, from the binary's `token` subcommand (as an admin would).
pub fn cli_token(db_url: &str, agent: &str) -> String {
    let out = std::process::Command::new(gateway_bin())
        .args(["token", "--database", db_url, "--agent", agent])
        .output()
        .unwrap();
    assert!(out.status.success(), "token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The real binary as a child process. Killed (SIGKILL) on drop.
pub struct GatewayProcess {
    pub base: String,
    pub child: tokio::process::Child,
}

impl GatewayProcess {
    /// Start `switchboard-gateway serve` on a free port and wait until it says where.
    pub async fn spawn(db_url: &str, data_dir: &Path, secrets: &Path, extra: &[&str]) -> Self {
        Self::spawn_with(db_url, data_dir, secrets, "127.0.0.1:0", extra).await
    }

    /// Like [`Self::spawn`] on a fixed address (to restart on the same port).
    pub async fn spawn_at(db_url: &str, data_dir: &Path, secrets: &Path, bind: &str) -> Self {
        Self::spawn_with(db_url, data_dir, secrets, bind, &[]).await
    }

    /// On a fixed address with extra `serve` flags.
    pub async fn spawn_with_args(db_url: &str, data_dir: &Path, secrets: &Path, bind: &str, extra: &[&str]) -> Self {
        Self::spawn_with(db_url, data_dir, secrets, bind, extra).await
    }

    /// Inside a network namespace (`ip netns exec`), for tests that cut the network.
    pub async fn spawn_in_netns(netns: &str, db_url: &str, data_dir: &Path, secrets: &Path, bind: &str) -> Self {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", netns]).arg(gateway_bin());
        Self::spawn_cmd(cmd, db_url, data_dir, secrets, bind, &[]).await
    }

    async fn spawn_with(db_url: &str, data_dir: &Path, secrets: &Path, bind: &str, extra: &[&str]) -> Self {
        Self::spawn_cmd(
            tokio::process::Command::new(gateway_bin()),
            db_url,
            data_dir,
            secrets,
            bind,
            extra,
        )
        .await
    }

    async fn spawn_cmd(
        mut cmd: tokio::process::Command,
        db_url: &str,
        data_dir: &Path,
        secrets: &Path,
        bind: &str,
        extra: &[&str],
    ) -> Self {
        cmd.args(["serve", "--bind", bind, "--database", db_url])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--secrets-dir")
            .arg(secrets)
            .args(extra)
            .env("SWITCHBOARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("gateway announced its address in time")
            .unwrap()
            .expect("gateway printed a line");
        let base = line.rsplit(' ').next().unwrap().to_owned();
        assert!(base.starts_with("http://"), "unexpected first line {line:?}");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { base, child }
    }

    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Speech as a WAV file, spoken now by espeak-ng (22.05 kHz mono; WAV devices resample).
pub fn speech_wav(path: &Path, text: &str) -> std::path::PathBuf {
    let out = std::process::Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(path)
        .arg(text)
        .output()
        .expect("espeak-ng must be installed (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "espeak-ng failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_owned()
}

/// One JSON request to the API as `token`: the status and the body (Null when empty or
/// not JSON).
pub async fn api(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// RMS per 20 ms frame.
pub fn envelope(s: &[f32]) -> Vec<f32> {
    s.chunks(960).map(switchboard_media::tone::rms).collect()
}

/// How well the first 3 s a speaker played after it first made a sound (`played`, 48 kHz)
/// follow `looped`, what the talker plays over and over, its pauses included: the mean
/// correlation of their loudness contours, second by second. Speech gives about 0.9; a
/// tone, noise or the sentence played backwards far less (see `call_audio.rs`). The pause
/// matters: the call joins the talker anywhere in the loop, and against the sentence alone
/// a perfect copy whose 3 s hold the pause scores as low as 0.41 (espeak-ng's sentence).
///
/// Each second is aligned on its own: the first anywhere in the loop, each next one within
/// [`SLIP_FRAMES`] of where the one before it left off. Every jitter buffer on the way (the
/// SIP bridge's, the app's) may add or drop a frame to follow the network, which shifts the
/// rest of the contour; one alignment for all three seconds scored a LiveKit call whose
/// audio slipped 40 ms in its second second at 0.71, the same recording read per second at
/// 0.89.
pub fn speech_followed(played: &[f32], looped: &[f32]) -> f32 {
    let start = switchboard_media::tone::onset(played, 0.01).expect("the speaker played something");
    let probe = envelope(&played[start..(start + 48_000 * 3).min(played.len())]);
    let reference = envelope(looped);
    let mut seconds = probe.chunks(FRAMES_PER_SECOND).filter(|s| s.len() == FRAMES_PER_SECOND);
    let Some(first) = seconds.next() else {
        return -1.0;
    };
    let (mut lag, first) = best_lag(&reference, first, 0..reference.len());
    let mut sum = first;
    let mut n = 1.0;
    for second in seconds {
        let expected = lag + FRAMES_PER_SECOND + reference.len();
        let (l, r) = best_lag(
            &reference,
            second,
            (expected - SLIP_FRAMES..=expected + SLIP_FRAMES).map(|l| l % reference.len()),
        );
        (lag, sum, n) = (l, sum + r, n + 1.0);
    }
    sum / n
}

/// Envelope frames (20 ms) in a second.
const FRAMES_PER_SECOND: usize = 50;

/// How far one second of a speaker's contour may slip against the one before it: two
/// frames, what a jitter buffer or two on the way may add or drop.
pub const SLIP_FRAMES: usize = 2;

/// `sentence` followed by `pause_s` seconds of silence (48 kHz): one turn of a talker who
/// repeats it.
pub fn with_pause(sentence: &[f32], pause_s: usize) -> Vec<f32> {
    let mut v = sentence.to_vec();
    v.resize(sentence.len() + 48_000 * pause_s, 0.0);
    v
}

/// Best normalised correlation of `probe` against `reference` (looped) over all lags.
pub fn best_correlation(reference: &[f32], probe: &[f32]) -> f32 {
    best_lag(reference, probe, 0..reference.len()).1
}

/// Of `lags`, the one where `probe` correlates best with `reference` (looped), and that
/// correlation (-1 when nothing varies).
fn best_lag(reference: &[f32], probe: &[f32], lags: impl Iterator<Item = usize>) -> (usize, f32) {
    let n = probe.len() as f32;
    let pm = probe.iter().sum::<f32>() / n;
    let mut best = (0, -1.0f32);
    for lag in lags {
        let at = |i: usize| reference[(lag + i) % reference.len()];
        let rm = (0..probe.len()).map(at).sum::<f32>() / n;
        let (mut num, mut dp, mut dr) = (0.0, 0.0, 0.0);
        for (i, &p) in probe.iter().enumerate() {
            let r = at(i);
            num += (p - pm) * (r - rm);
            dp += (p - pm) * (p - pm);
            dr += (r - rm) * (r - rm);
        }
        if dp > 0.0 && dr > 0.0 && num / (dp.sqrt() * dr.sqrt()) > best.1 {
            best = (lag, num / (dp.sqrt() * dr.sqrt()));
        }
    }
    best
}

/// Join a call's audio as the desktop does: a loopback peer on `device`, its offer through
/// the gateway's media signal, connected within 15 s.
pub async fn join_audio(
    client: &switchboard_client::Client,
    signal: &str,
    device: switchboard_media::device::WavDevice,
) -> switchboard_media::peer::PeerSession {
    use switchboard_media::peer::{PeerConfig, PeerSession};
    use switchboard_media::session::{MediaSession, MediaState};
    let agent = PeerSession::new(
        Box::new(device),
        PeerConfig {
            loopback_only: true,
            ..PeerConfig::default()
        },
    )
    .await
    .expect("agent session");
    let answer = client
        .media_offer(signal, &agent.offer(false).await.expect("offer"))
        .await
        .expect("the far end answers");
    agent.accept_answer(&answer).await.expect("accept");
    let mut events = agent.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while agent.state() != MediaState::Connected {
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("call audio did not connect"),
        }
    }
    agent
}

/// A token of a new admin of the seeded business.
pub async fn admin_token(gw: &TestGateway, seeded: &Seeded) -> String {
    let id = gw
        .store
        .create_agent(seeded.business, "ada", "Ada Admin", switchboard_core::AgentRole::Admin)
        .await
        .unwrap();
    demo::issue_token(&*gw.store, id).await.unwrap()
}

/// Wait until provider `name` runs with a config for which `config_ok` holds.
pub async fn provider_running_with(
    http: &reqwest::Client,
    gw: &TestGateway,
    admin: &str,
    name: &str,
    config_ok: impl Fn(&serde_json::Value) -> bool,
) {
    let url = format!("{}/v1/providers", gw.base);
    eventually(10, &format!("provider {name} running"), || async {
        let (_, list) = api(http, reqwest::Method::GET, &url, admin, None).await;
        list["providers"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == name && p["running"] == true && config_ok(&p["config"]))
            .then_some(())
    })
    .await;
}

/// Add a provider over the API as `admin` and wait until it runs; its id.
pub async fn add_provider(
    http: &reqwest::Client,
    gw: &TestGateway,
    admin: &str,
    name: &str,
    kind: &str,
    config: serde_json::Value,
) -> serde_json::Value {
    let body = serde_json::json!({ "name": name, "kind": kind, "config": config });
    let (code, body) = api(
        http,
        reqwest::Method::POST,
        &format!("{}/v1/providers", gw.base),
        admin,
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    provider_running_with(http, gw, admin, name, |_| true).await;
    body["id"].clone()
}

/// Add a number to a provider over the API as `admin`; the number as the API answers it.
pub async fn add_number(
    http: &reqwest::Client,
    gw: &TestGateway,
    admin: &str,
    number: serde_json::Value,
) -> serde_json::Value {
    let (code, body) = api(
        http,
        reqwest::Method::POST,
        &format!("{}/v1/numbers", gw.base),
        admin,
        Some(number),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body
}

/// Put `number` on a new LiveKit provider `name` of the gateway at `base` (over the API,
/// as `admin`; the API secret read from `secret:LIVEKIT_SECRET`, which the caller wrote),
/// and wait until the provider has given LiveKit its inbound trunk with the number.
pub async fn livekit_line(
    base: &str,
    admin: &str,
    lk: &switchboard_e2e::livekit::LiveKitStack,
    name: &str,
    number: &str,
) {
    use switchboard_telephony::livekit::{token::ApiKey, twirp::Twirp};
    let http = reqwest::Client::new();
    let (code, p) = api(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/providers"),
        admin,
        Some(serde_json::json!({ "name": name, "kind": "livekit",
            "config": { "url": lk.url, "api_key": lk.key, "api_secret": "secret:LIVEKIT_SECRET" } })),
    )
    .await;
    assert_eq!(code, 201, "{p}");
    let (code, n) = api(
        &http,
        reqwest::Method::POST,
        &format!("{base}/v1/numbers"),
        admin,
        Some(serde_json::json!({ "e164": number, "label": "LiveKit line", "provider_id": p["id"], "inbound": true, "outbound": false })),
    )
    .await;
    assert_eq!(code, 201, "{n}");
    let api = Twirp::new(
        &lk.url,
        ApiKey {
            key: lk.key.clone(),
            secret: switchboard_telephony::secret::Secret::new(lk.secret.clone()),
        },
    );
    let trunk = format!("switchboard:{name}");
    eventually(30, "LiveKit's inbound trunk carries the number", || async {
        let trunks = api.list_inbound_trunks().await.ok()?;
        trunks
            .iter()
            .any(|t| t.name == trunk && t.numbers.iter().any(|n| n == number))
            .then_some(())
    })
    .await;
}
