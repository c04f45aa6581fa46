//! `cargo xtask bench desktop`: figures, not assertions. The release app under Xvfb
//! against the demo gateway:
//!
//! - cold start to the queue visible from the cache (the app spawned -> the first paint of
//!   the page that carries it, prerendered by the shell), next to the UI module's own first
//!   render in the same runs, on a display new to GTK at every start and on one in use as a
//!   desktop session's is; with `SWITCHBOARD_BASELINE_BINARY` (another build of the app)
//!   the two builds take turns and the ratio of their medians is printed (and idle memory
//!   is read in turns too);
//! - memory of all the app's processes (the app, WebKit's web and network processes) as
//!   PSS (what the OS counts; RSS summed beside it; and each process's) idle after start,
//!   after 50 and 100 simulated calls (the first half's growth includes what comes once, the
//!   second half's is what calls cost) and again 30 s later (what stays once WebKit has
//!   freed its garbage), then after 100 more calls read as long after (what calls cost
//!   once WebKit has warmed up), each split by mapping (a library, a process's heap or
//!   anonymous memory), next to Debian's linphone-desktop idle on the same display;
//! - the .deb size, when `cargo xtask bundle` has produced one.

#![allow(clippy::unwrap_used, clippy::print_stdout, dead_code)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::process::Stdio;
use std::time::{Duration, Instant};
use switchboard_e2e::{free_port, target_dir};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const RUNS: usize = 9;
const CALLS: usize = 100;
/// How long "idle" lasts before memory is read, for our app and the anchor alike.
const SETTLE: Duration = Duration::from_secs(5);
/// How long after the calls' reading memory is read again, for what the app keeps.
const RETAINED_AFTER: Duration = Duration::from_secs(30);
/// The start-up milestones printed as stages, in order (the probe's label, what it means);
/// the UI's first effect ("ui") and the queue's ("queue") are printed apart.
const STAGES: [(&str, &str); 9] = [
    ("setup", "Tauri set up"),
    ("console", "cache and session open"),
    ("boot", "first frame read"),
    ("prerender", "first frame prerendered"),
    ("window", "window made"),
    // Tray, deep links: the rest of the set-up, on the thread that serves the page's requests.
    ("ready", "set-up done"),
    ("page", "page loaded"),
    ("wasm", "UI module running"),
    // WebKit's first contentful paint: the first frame's pixels, queue included, from the
    // page's prerendered HTML. The UI's first effect ("first UI frame" below) is the module's
    // own render of the same frame, which replaces it.
    ("paint", "first paint"),
];

/// `pid` and all its descendants (WebKit's web and network processes are children).
fn process_tree(pid: u32) -> Vec<u32> {
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
    tree
}

/// Memory of a process tree, in KiB.
#[derive(Clone, Default)]
struct Memory {
    /// Resident set size summed: shared libraries counted once per process.
    rss: u64,
    /// Each process's name and PSS, to say which one grows.
    each: Vec<(String, u64)>,
    /// PSS by mapping, to say where the memory is: a library's pages summed over the
    /// processes (PSS already divides a shared page among them, so a page one more process
    /// touches moves PSS between them without adding any), private memory named with its
    /// process ("WebKitWebProces [anon]", "switchboard [heap]").
    regions: std::collections::BTreeMap<String, u64>,
}

impl Memory {
    /// Proportional set size summed over the processes: each shared page divided among the
    /// processes mapping it, so the sum is what they cost the machine together.
    fn pss(&self) -> u64 {
        self.each.iter().map(|(_, pss)| pss).sum()
    }

    fn of_tree(pid: u32) -> Self {
        let mut m = Memory::default();
        for p in process_tree(pid) {
            // smaps_rollup: the kernel's own sums over all mappings of the process.
            let Ok(rollup) = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")) else {
                continue;
            };
            let field = |name: &str| {
                rollup
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let pss = field("Pss:");
            m.rss += field("Rss:");
            let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            let name = name.trim().to_owned();
            for (label, kib) in pss_by_mapping(&std::fs::read_to_string(format!("/proc/{p}/smaps")).unwrap_or_default())
            {
                let key = if label.starts_with('[') {
                    format!("{name} {label}")
                } else {
                    label
                };
                *m.regions.entry(key).or_default() += kib;
            }
            m.each.push((name, pss));
        }
        m
    }

    /// The mappings whose PSS grew most from `before` to `self`, largest first, down to
    /// `min` KiB: where the growth lives (a process's heap or anonymous memory, a library).
    fn grown_since(&self, before: &Memory, min: u64) -> Vec<(String, i64)> {
        let mut grown: Vec<(String, i64)> = self
            .regions
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    *v as i64 - before.regions.get(k).copied().unwrap_or(0) as i64,
                )
            })
            .filter(|(_, d)| d.unsigned_abs() >= min)
            .collect();
        grown.sort_by_key(|(_, d)| -d.abs());
        grown
    }
}

/// PSS in KiB summed by mapping name over one `/proc/PID/smaps`: a file's base name, the
/// kernel's own names (`[heap]`, `[stack]`), or for unnamed anonymous memory `[anon jit]`
/// when executable (JavaScriptCore's compiled code) and `[anon]` otherwise.
fn pss_by_mapping(smaps: &str) -> std::collections::BTreeMap<String, u64> {
    let mut by = std::collections::BTreeMap::new();
    // The mapping being read: its label so far and its PSS; VmFlags, its last line, ends it.
    let (mut label, mut pss) = (String::new(), 0u64);
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        match first {
            "Pss:" => pss = words.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "VmFlags:" => {
                if label == "[anon]" && words.any(|f| f == "ex") {
                    label = "[anon jit]".to_owned();
                }
                *by.entry(std::mem::take(&mut label)).or_default() += pss;
            }
            f if f.ends_with(':') => {}
            _ => {
                // A mapping's header: address range, perms, offset, device, inode, [path].
                label = match words.nth(4).unwrap_or("") {
                    "" => "[anon]".to_owned(),
                    p if p.starts_with('[') => p.to_owned(),
                    p => p.rsplit('/').next().unwrap_or(p).to_owned(),
                };
            }
        }
    }
    by
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        write!(
            f,
            "PSS {:.1} MiB (RSS summed {:.1} MiB, {} processes:",
            mib(self.pss()),
            mib(self.rss),
            self.each.len()
        )?;
        for (name, pss) in &self.each {
            write!(f, " {name} {:.1}", mib(*pss))?;
        }
        write!(f, ")")
    }
}

/// Everything `xwininfo -root -tree` (x11-utils) says about the windows on `display`.
fn window_tree(display: &str) -> String {
    std::process::Command::new("xwininfo")
        .args(["-root", "-tree"])
        .env("DISPLAY", display)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The anchor: Debian's linphone-desktop (a Qt SIP softphone), started on the same display
/// with a fresh home, left idle as long as our app once its window is up. `None` when it
/// is not installed (`cargo xtask bench desktop` installs it).
async fn linphone_idle(display: &str, settle: Duration) -> Option<Memory> {
    let bin = Path::new("/usr/bin/linphone");
    if !bin.exists() {
        return None;
    }
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .env("DISPLAY", display)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .env("NO_AT_BRIDGE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // Ready: its window is mapped (the title carries "Linphone").
    gw::eventually(60, "linphone's window", || async {
        window_tree(display).contains("\"Linphone\":").then_some(())
    })
    .await;
    tokio::time::sleep(settle).await;
    let m = Memory::of_tree(pid);
    let _ = std::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .status();
    let _ = child.kill().await;
    let _ = child.wait().await;
    Some(m)
}

struct App {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    /// Milestones read while waiting for another: they need not come in the order asked.
    seen: std::collections::HashMap<String, u64>,
}

impl App {
    async fn start(bin: &Path, display: &str, data: &Path, sign_in: Option<(&str, &str)>) -> Self {
        let mut cmd = Command::new(bin);
        cmd.env("DISPLAY", display)
            .env("NO_AT_BRIDGE", "1")
            .env("SWITCHBOARD_DESKTOP_DATA_DIR", data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        if let Some((url, token)) = sign_in {
            cmd.env("SWITCHBOARD_SIGN_IN_URL", url)
                .env("SWITCHBOARD_SIGN_IN_TOKEN", token);
        }
        // The probe's origin: now, so what comes before the app's `main` (loading it and
        // its libraries) is part of every milestone.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        cmd.env("SWITCHBOARD_STARTUP_PROBE", format!("{:.1}", now.as_secs_f64() * 1e3));
        let mut child = cmd.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            lines,
            seen: Default::default(),
        }
    }

    /// Milliseconds since process start at which the UI reported `label`.
    async fn until(&mut self, label: &str) -> u64 {
        if let Some(ms) = self.seen.get(label) {
            return *ms;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, self.lines.next_line())
                .await
                .expect("milestone in time")
                .unwrap()
                .expect("app running");
            let mut parts = line.split_whitespace();
            if let (Some("startup-probe"), Some(l), Some(ms)) = (parts.next(), parts.next(), parts.next()) {
                self.seen.insert(l.to_owned(), ms.parse().unwrap());
            }
            if let Some(ms) = self.seen.get(label) {
                return *ms;
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

/// CPU time (ms) each process of `pid`'s tree has used so far, by process name: every
/// thread's `schedstat` (to the nanosecond; `stat` counts 10 ms ticks).
fn cpu_ms_by_process(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    for p in process_tree(pid) {
        let Ok(name) = std::fs::read_to_string(format!("/proc/{p}/comm")) else {
            continue;
        };
        let ns: u64 = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .sum();
        *by_name.entry(name.trim().to_owned()).or_insert(0) += ns / 1_000_000;
    }
    by_name
}

/// One display's start-up runs of one build: each milestone's times, in run order.
struct Starts {
    ui: Vec<u64>,
    queue: Vec<u64>,
    /// A stage's times; empty for a stage the build does not report (an older baseline).
    stages: Vec<Vec<u64>>,
    /// CPU time (ms) each process had used when the UI's first frame came, by name.
    cpu: BTreeMap<String, Vec<u64>>,
}

impl Starts {
    /// `RUNS` starts from the cache of each of `apps`, taking turns, so a baseline build
    /// and this one see the same machine.
    async fn run(apps: &[&Path], display: &str, data: &Path) -> Vec<Self> {
        let mut all: Vec<Self> = apps
            .iter()
            .map(|_| Self {
                ui: vec![],
                queue: vec![],
                stages: vec![vec![]; STAGES.len()],
                cpu: BTreeMap::new(),
            })
            .collect();
        for _ in 0..RUNS {
            for (app, s) in apps.iter().zip(all.iter_mut()) {
                let mut a = App::start(app, display, data, None).await;
                s.ui.push(a.until("ui").await);
                for (name, ms) in cpu_ms_by_process(a.pid()) {
                    s.cpu.entry(name).or_default().push(ms);
                }
                s.queue.push(a.until("queue").await);
                // The page's last milestone; the shell's all come before the page loads.
                a.until("paint").await;
                for ((label, _), at) in STAGES.iter().zip(s.stages.iter_mut()) {
                    at.extend(a.seen.get(*label));
                }
                a.stop().await;
            }
        }
        all
    }

    fn print(&mut self, display: &str) {
        let (ui_med, queue_med) = (median(&mut self.ui), median(&mut self.queue));
        println!(
            "cold start from the cache, {display}: queue visible after {queue_med} ms (median; min {} max {}); \
             first UI frame {ui_med} ms (the module's own render) = {:.2}x the queue's",
            self.queue.iter().min().unwrap(),
            self.queue.iter().max().unwrap(),
            ui_med as f64 / queue_med.max(1) as f64
        );
        let at: Vec<String> = STAGES
            .iter()
            .zip(self.stages.iter_mut())
            .filter(|(_, v)| !v.is_empty())
            .map(|((_, what), v)| format!("{what} {}", median(v)))
            .collect();
        println!("  where it goes (medians): {}, first UI frame {ui_med}", at.join(", "));
        // Two cores: a start whose processes together use most of 2 x its time waits for
        // the CPU, not for anything else.
        let cpu: Vec<(String, u64)> = self.cpu.iter_mut().map(|(n, v)| (n.clone(), median(v))).collect();
        let total: u64 = cpu.iter().map(|(_, ms)| ms).sum();
        let each: Vec<String> = cpu.iter().map(|(n, ms)| format!("{n} {ms}")).collect();
        println!(
            "  CPU used by the first UI frame (medians, ms): {}; together {total} ms in {ui_med} ms, {:.2} of this machine's 2 cores",
            each.join(", "),
            total as f64 / ui_med.max(1) as f64
        );
    }
}

/// Each display's starts, this build's then the baseline's (`SWITCHBOARD_BASELINE_BINARY`,
/// another build of the app, when given), with the ratio of their queue-visible medians.
fn print_starts(display: &str, mut starts: Vec<Starts>) {
    starts[0].print(display);
    if let Some(base) = starts.get_mut(1) {
        base.print(&format!("{display}, baseline build"));
        let (ours, theirs) = (median(&mut starts[0].queue), median(&mut starts[1].queue));
        println!(
            "  queue visible: this build {ours} ms vs baseline {theirs} ms = {:.2}x (turns taken, same run)",
            ours as f64 / theirs.max(1) as f64
        );
    }
}

/// How many idle readings each build gets when a baseline build is given.
const IDLE_TURNS: usize = 3;

/// Idle memory of `app` and of `baseline`, started in turns on the same cache: the median
/// reading by PSS of [`IDLE_TURNS`] each.
async fn idle_turns(app: &Path, baseline: &Path, display: &str, data: &Path) -> (Memory, Memory) {
    let (mut ours, mut theirs) = (vec![], vec![]);
    for _ in 0..IDLE_TURNS {
        for (bin, readings) in [(app, &mut ours), (baseline, &mut theirs)] {
            let mut a = App::start(bin, display, data, None).await;
            // The gateway is gone by now and the cache's queue may be empty: the first
            // paint is what both builds report either way.
            a.until("paint").await;
            tokio::time::sleep(SETTLE).await;
            readings.push(Memory::of_tree(a.pid()));
            a.stop().await;
        }
    }
    let middle = |mut v: Vec<Memory>| {
        v.sort_by_key(Memory::pss);
        v.swap_remove(v.len() / 2)
    };
    (middle(ours), middle(theirs))
}

/// Which parts to run: `cargo xtask bench desktop [start] [memory]`, both by default. The
/// start-up runs come first either way (they fill the cache); `start` alone skips the
/// calls and the anchor.
fn wanted(part: &str) -> bool {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["start", "memory"].contains(&a.as_str()))
        .collect();
    parts.is_empty() || parts.iter().any(|p| p == part)
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

    // Every start on `display` is its first client's: Xvfb resets when its last client
    // leaves, and GDK then loads GL to choose its visuals. On a desktop session's display an
    // earlier GTK client has left that choice on the root window, so starts are measured on
    // a display that stays up as well, after one start there to leave it.
    // A baseline build (the last commit's app, say) to take turns with.
    let baseline = std::env::var_os("SWITCHBOARD_BASELINE_BINARY").map(PathBuf::from);
    let apps: Vec<&Path> = std::iter::once(app.as_path()).chain(baseline.as_deref()).collect();
    let fresh = Starts::run(&apps, &display, data.path()).await;
    let (_session_xvfb, session) = switchboard_e2e::xvfb_with(&["-noreset"]).await;
    let mut warm_up = App::start(&app, &session, data.path(), None).await;
    warm_up.until("queue").await;
    warm_up.stop().await;
    let in_use = Starts::run(&apps, &session, data.path()).await;
    println!("switchboard desktop benchmarks (release app, Xvfb, {RUNS} runs; ms since the app was spawned)");
    println!("first start with sign-in and snapshot: queue visible after {signed_in_ms} ms");
    print_starts("display new to GTK each start (Xvfb reset)", fresh);
    print_starts("display in use, as in a desktop session (Xvfb -noreset)", in_use);
    if !wanted("memory") {
        return;
    }
    // Memory: idle after start, then after CALLS calls through the gateway.
    let mut a = App::start(&app, &display, data.path(), None).await;
    a.until("queue").await;
    tokio::time::sleep(SETTLE).await; // idle means idle for a while
    let idle = Memory::of_tree(a.pid());
    let secret = std::fs::read_to_string(secrets.join(switchboard_gateway::demo::DEMO_SECRET)).unwrap();
    let http = reqwest::Client::new();
    let hook = format!("{url}/webhooks/simulator/simulator");
    let cache = format!("sqlite://{}?mode=ro", data.path().join("cache.db").display());
    let pool = sqlx::SqlitePool::connect(&cache).await.unwrap();
    // Calls `from..to`, each ringing then completed, and wait until the app has cached them.
    let calls = |from: usize, to: usize| {
        let (http, hook, secret, pool) = (&http, &hook, &secret, &pool);
        async move {
            for i in from..to {
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
                    let (code, _) = gw::post_signed(http, hook, &serde_json::to_vec(&ev).unwrap(), secret.trim()).await;
                    assert_eq!(code, 200);
                }
            }
            gw::eventually(60, "the app to cache the calls", || async {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE from_number = '+16285550999'")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                (n as usize >= to).then_some(())
            })
            .await;
        }
    };
    // Half the calls first: growth that comes once (code paged in, JIT tiers, caches
    // filled) shows there, and the second half's growth is what calls cost each.
    calls(0, CALLS / 2).await;
    tokio::time::sleep(SETTLE).await;
    let half = Memory::of_tree(a.pid());
    calls(CALLS / 2, CALLS).await;
    tokio::time::sleep(SETTLE).await;
    let after = Memory::of_tree(a.pid());
    // Part of the growth is garbage WebKit frees some seconds later (5.5 MiB of the web
    // process's in one run, gone 10 s on and flat to 55 s); read again to say what stays.
    tokio::time::sleep(RETAINED_AFTER).await;
    let kept = Memory::of_tree(a.pid());
    // The same number of calls again, read as long after (5 s settle + 30 s, as above):
    // what each call keeps once the first ones have warmed WebKit up (its first page
    // updates after start allocate what later ones reuse), apart from that one-off.
    calls(CALLS, 2 * CALLS).await;
    tokio::time::sleep(RETAINED_AFTER + SETTLE).await;
    let kept_again = Memory::of_tree(a.pid());
    a.stop().await;
    drop(gateway);
    let linphone = linphone_idle(&display, SETTLE).await;
    let against_baseline = match baseline.as_deref() {
        Some(b) => Some(idle_turns(&app, b, &display, data.path()).await),
        None => None,
    };

    println!("memory, all app processes (the app, WebKit's web and network processes):");
    println!("  idle after start:     {idle}");
    println!(
        "  after {} calls:       {half}: {:+.1} MiB PSS",
        CALLS / 2,
        (half.pss() as f64 - idle.pss() as f64) / 1024.0
    );
    println!(
        "  after {CALLS} calls:      {after}: {:+.1} MiB PSS; the second {} calls {:+.1} MiB",
        (after.pss() as f64 - idle.pss() as f64) / 1024.0,
        CALLS - CALLS / 2,
        (after.pss() as f64 - half.pss() as f64) / 1024.0
    );
    println!(
        "  {} s later, what stays: {kept}: {:+.1} MiB PSS",
        RETAINED_AFTER.as_secs(),
        (kept.pss() as f64 - idle.pss() as f64) / 1024.0
    );
    println!(
        "  where it stays (PSS by mapping, idle -> {} s later, 0.3 MiB or more):",
        RETAINED_AFTER.as_secs()
    );
    for (mapping, kib) in kept.grown_since(&idle, 300) {
        println!("    {mapping}: {:+.1} MiB", kib as f64 / 1024.0);
    }
    let per_call = (kept_again.pss() as f64 - kept.pss() as f64) / CALLS as f64;
    println!(
        "  {CALLS} calls more, {} s later: {kept_again}: {:+.1} MiB PSS, {per_call:+.1} KiB a call",
        (RETAINED_AFTER + SETTLE).as_secs(),
        (kept_again.pss() as f64 - kept.pss() as f64) / 1024.0
    );
    for (mapping, kib) in kept_again.grown_since(&kept, 300) {
        println!("    {mapping}: {:+.1} MiB", kib as f64 / 1024.0);
    }
    println!("  where idle memory is (PSS by mapping, 2 MiB or more):");
    // Grown from nothing: the largest mappings.
    for (mapping, kib) in idle.grown_since(&Memory::default(), 2048) {
        println!("    {mapping}: {:.1} MiB", kib as f64 / 1024.0);
    }
    match linphone {
        Some(l) => println!(
            "  anchor linphone-desktop idle, same display: {l}; Switchboard/linphone {:.2}x PSS",
            idle.pss() as f64 / l.pss().max(1) as f64
        ),
        None => println!("  anchor linphone-desktop: not installed (cargo xtask bench desktop installs it)"),
    }
    if let Some((ours, theirs)) = against_baseline {
        println!("  idle, {IDLE_TURNS} starts each taking turns with the baseline build (median readings):");
        println!("    this build: {ours}");
        println!("    baseline:   {theirs}");
        println!(
            "    this build / baseline: {:.2}x PSS",
            ours.pss() as f64 / theirs.pss().max(1) as f64
        );
    }
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
