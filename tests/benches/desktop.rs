//! `cargo xtask bench desktop`: figures, not assertions. The release app under Xvfb
//! against the demo gateway:
//!
//! - cold start to the queue visible from the cache (process start -> queue rendered),
//!   next to the time to the first UI frame in the same runs;
//! - resident memory of all the app's processes (the app, WebKit's web and network
//!   processes) idle after start, and after 100 simulated calls;
//! - the .deb size, when `cargo xtask bundle` has produced one.

#![allow(clippy::unwrap_used, clippy::print_stdout, dead_code)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::path::{Path, PathBuf};

use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard_e2e::{free_port, target_dir};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const RUNS: usize = 5;
const CALLS: usize = 100;

/// Sum of VmRSS (KiB) of `pid` and all its descendants.
fn tree_rss_kib(pid: u32) -> u64 {
    let mut parents: Vec<(u32, u32)> = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            // The command name may contain spaces: fields start after the last ')'.
            if let Some(rest) = stat.rsplit(')').next() {
                if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok()) {
                    parents.push((p, ppid));
                }
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let cur = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    tree.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

struct App {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl App {
    async fn start(bin: &Path, display: &str, data: &Path, sign_in: Option<(&str, &str)>) -> Self {
        let mut cmd = Command::new(bin);
        cmd.env("DISPLAY", display)
            .env("NO_AT_BRIDGE", "1")
            .env("SWITCHBOARD_DESKTOP_DATA_DIR", data)
            .env("SWITCHBOARD_STARTUP_PROBE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        if let Some((url, token)) = sign_in {
            cmd.env("SWITCHBOARD_SIGN_IN_URL", url)
                .env("SWITCHBOARD_SIGN_IN_TOKEN", token);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// Milliseconds since process start at which the UI reported `label`.
    async fn until(&mut self, label: &str) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, self.lines.next_line())
                .await
                .expect("milestone in time")
                .unwrap()
                .expect("app running");
            let mut parts = line.split_whitespace();
            if parts.next() == Some("startup-probe") && parts.next() == Some(label) {
                return parts.next().unwrap().parse().unwrap();
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    async fn stop(mut self) {
        // The whole process group: WebKit's helper processes too.
        // `--` makes the negative number a process group, not an option: without it procps
        // kill accepted `-9 -PGID`, returned 0 and killed nothing.
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.pid())])
            .status();
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "run through `cargo xtask bench desktop` (keyring session)"
    );
    // The binary `cargo xtask bundle` shipped in the .deb, when given; else a release build.
    let app = match std::env::var_os("SWITCHBOARD_APP_BINARY") {
        Some(p) => PathBuf::from(p),
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let ok = std::process::Command::new(&cargo)
                .args(["build", "--release", "-p", "switchboard-desktop"])
                .status()
                .unwrap();
            assert!(ok.success());
            target_dir().join("release").join("switchboard")
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let secrets = dir.path().join("secrets");
    let bind = format!("127.0.0.1:{}", free_port());
    let gateway = gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &["--demo"]).await;
    let url = format!("http://{bind}");
    let token = gw::cli_token(&db, "alice");
    let (_xvfb, display) = switchboard_e2e::xvfb().await;
    let data = tempfile::tempdir().unwrap();

    // Wait for the simulator to queue a caller, then sign in once so the cache is filled.
    let store = switchboard_gateway::store::connect(&db).await.unwrap();
    let business = store.business_by_name("Demo Co").await.unwrap().unwrap();
    gw::eventually(30, "a queued call", || async {
        (!store.queue(business).await.unwrap().is_empty()).then_some(())
    })
    .await;
    let mut first = App::start(&app, &display, data.path(), Some((&url, &token))).await;
    let signed_in_ms = first.until("queue").await;
    first.stop().await;

    let (mut ui, mut queue) = (vec![], vec![]);
    for _ in 0..RUNS {
        let mut a = App::start(&app, &display, data.path(), None).await;
        ui.push(a.until("ui").await);
        queue.push(a.until("queue").await);
        a.stop().await;
    }
    // Memory: idle after start, then after CALLS calls through the gateway.
    let mut a = App::start(&app, &display, data.path(), None).await;
    a.until("queue").await;
    tokio::time::sleep(Duration::from_secs(5)).await; // settle: idle means idle for a while
    let idle = tree_rss_kib(a.pid());
    let secret = std::fs::read_to_string(secrets.join(switchboard_gateway::demo::DEMO_SECRET)).unwrap();
    let http = reqwest::Client::new();
    let hook = format!("{url}/webhooks/simulator/simulator");
    for i in 0..CALLS {
        for (n, st) in [
            switchboard_core::CallStatus::Ringing,
            switchboard_core::CallStatus::Completed,
        ]
        .into_iter()
        .enumerate()
        {
            let ev = gw::inbound(
                &format!("BENCH{i}"),
                &format!("bench{i}-{n}"),
                1_000 + n as i64,
                st,
                "+14155550100",
            );
            let (code, _) = gw::post_signed(&http, &hook, &serde_json::to_vec(&ev).unwrap(), secret.trim()).await;
            assert_eq!(code, 200);
        }
    }
    let cache = format!("sqlite://{}?mode=ro", data.path().join("cache.db").display());
    let pool = sqlx::SqlitePool::connect(&cache).await.unwrap();
    gw::eventually(60, "the app to cache the calls", || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE from_number = '+16285550999'")
            .fetch_one(&pool)
            .await
            .unwrap();
        (n as usize >= CALLS).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = tree_rss_kib(a.pid());
    a.stop().await;
    drop(gateway);

    let (ui_med, queue_med) = (median(&mut ui), median(&mut queue));
    println!("switchboard desktop benchmarks (release app, Xvfb, {RUNS} runs)");
    println!("first start with sign-in and snapshot: queue visible after {signed_in_ms} ms");
    println!(
        "cold start from the cache: queue visible after {queue_med} ms (median; min {} max {}); first UI frame {ui_med} ms; \
         the cache adds {} ms = {:.2}x the bare UI start",
        queue.iter().min().unwrap(),
        queue.iter().max().unwrap(),
        queue_med.saturating_sub(ui_med),
        queue_med as f64 / ui_med.max(1) as f64
    );
    println!(
        "resident memory, all app processes: {:.1} MiB idle after start, {:.1} MiB after {CALLS} calls ({:.2}x)",
        idle as f64 / 1024.0,
        after as f64 / 1024.0,
        after as f64 / idle.max(1) as f64
    );
    let bundle = target_dir().join("release").join("bundle").join("deb");
    match std::fs::read_dir(&bundle)
        .ok()
        .and_then(|d| d.flatten().find(|e| e.path().extension().is_some_and(|x| x == "deb")))
    {
        Some(deb) => println!(
            ".deb: {} ({:.2} MiB)",
            deb.file_name().to_string_lossy(),
            deb.metadata().unwrap().len() as f64 / 1_048_576.0
        ),
        None => println!(".deb: not built (run cargo xtask bundle first)"),
    }
}
