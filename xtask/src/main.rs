//! `cargo xtask`: the project's own scripts, so a clean machine needs nothing by hand.
//!
//! - `setup`: install what the build and the tests need, idempotently.
//! - `run`: the product on the embedded default (gateway on SQLite with the demo).
//! - `test`: setup, then every test.
//! - `bench gateway [ingest|floor|ws]`, `bench media`, `bench desktop`: benchmarks
//!   (figures printed, nothing asserted).

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod go_tools;
mod pg;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => test(&rest),
        Some("run") => run(&rest),
        Some("bench") => bench(&rest),
        Some("ui") => build_ui().map(|_| ()),
        Some("bundle") => bundle(),
        Some("fuzz") => fuzz(&rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup | run [--bind ADDR] | test [cargo test args] | ui | bundle | bench <gateway [ingest|floor|ws] | desktop | media [delay|stages|cpu|sfu]> | fuzz [TARGET] [-- libFuzzer args]>"
            );
            std::process::exit(2);
        }
    }
}

/// The repository root. `cargo run` gives the manifest directory at run time; the value
/// compiled in can name another checkout, because cargo reuses a workspace member's
/// build across checkouts that share one target directory (as CI's clone and a working
/// copy do here).
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    without_crate_env(&mut c);
    c
}

/// Drop the variables cargo sets for the crate it runs (`cargo run` started us with
/// `CARGO_MANIFEST_DIR=.../xtask` and friends). Some build scripts (ring's) list them as
/// inputs, so a nested cargo that inherits them sees "changed" inputs and rebuilds half
/// the dependency tree, then the next plain cargo rebuilds it back.
fn without_crate_env(cmd: &mut Command) -> &mut Command {
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

fn status(cmd: &mut Command) -> Result<()> {
    let s = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !s.success() {
        bail!("{cmd:?} failed with {s}");
    }
    Ok(())
}

fn quiet_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn have(tool: &str) -> bool {
    quiet_ok(Command::new("sh").args(["-c", &format!("command -v {tool}")]))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// `apt-get install` the packages that are missing (as root, or through sudo).
fn apt_install(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            // A removed package still answers dpkg-query, with "deinstall ok config-files".
            let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", p]).output();
            !out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing {}", missing.join(" "));
    let sudo = if is_root() { vec![] } else { vec!["sudo"] };
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.clone();
        all.extend_from_slice(args);
        status(
            Command::new(all[0])
                .args(&all[1..])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    run(&["apt-get", "update", "-q"])?;
    let mut install = vec!["apt-get", "install", "-y", "-q", "--no-install-recommends"];
    install.extend(&missing);
    run(&install)
}

/// Drop databases left by test runs that died before cleaning up (on a server named by
/// `DATABASE_URL`; a throwaway cluster starts empty).
fn drop_stale_test_databases(url: &str) -> Result<()> {
    let out = Command::new("psql")
        .args([
            url,
            "-Atc",
            "SELECT datname FROM pg_database WHERE datname LIKE 'sb\\_t\\_%' OR datname LIKE 'sb\\_bench\\_%'",
        ])
        .output()?;
    for db in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()) {
        let _ = Command::new("psql")
            .args([url, "-qc", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")])
            .status();
    }
    Ok(())
}

/// PostgreSQL for a test or benchmark run: `DATABASE_URL`, or a throwaway cluster.
fn postgres() -> Result<pg::Cluster> {
    postgres_with("")
}

/// [`postgres`], with server options added to a throwaway cluster's.
fn postgres_with(extra_options: &str) -> Result<pg::Cluster> {
    let cluster = pg::Cluster::start_with(extra_options)?;
    drop_stale_test_databases(&cluster.url)?;
    Ok(cluster)
}

/// Debian packages the build and the tests need beyond the base image: the desktop
/// shell (WebKitGTK, tray), the wasm toolchain for the UI (rustup cannot add targets here,
/// so Debian's rustc-web with its std sources and lld), the headless test display and
/// WebDriver, and a real Secret Service for keyring tests.
const DESKTOP_PACKAGES: &[&str] = &[
    "pkg-config",
    "build-essential",
    "libssl-dev",
    "libdbus-1-dev",
    "libwebkit2gtk-4.1-dev",
    "libxdo-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "rustc-web",
    "rust-web-src",
    "cargo-web",
    "lld",
    "binaryen",
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "imagemagick",
    "dbus",
    "dbus-x11",
    "gnome-keyring",
    "file",
    // The tray and notification test: a real XEmbed tray, notification daemon and
    // the X tools to find and read the tray on screen.
    "trayer",
    "notification-daemon",
    "x11-utils",
];

/// What the call-audio engine builds and is tested with: ALSA for cpal, libopus, the
/// WebRTC audio-processing library (0.3, PulseAudio's packaging) with libclang for its
/// bindings, Chromium as the independent WebRTC peer, espeak-ng for speech fixtures,
/// iproute2 for the network-cut test's namespaces and nftables for the lossy-network test's
/// packet drops.
const MEDIA_PACKAGES: &[&str] = &[
    "libasound2-dev",
    "alsa-utils",
    "libopus-dev",
    "libwebrtc-audio-processing-dev",
    "libclang-dev",
    "cmake",
    "chromium",
    "chromium-driver",
    "espeak-ng",
    "iproute2",
    "nftables",
    // A sound server the ALSA device test starts and kills: a headset that goes away.
    "pulseaudio",
    "libasound2-plugins",
];

/// Cargo tools the UI build and the desktop end-to-end tests use, pinned: the
/// wasm-bindgen CLI must equal the `wasm-bindgen` version in ui/Cargo.lock, and crates.io
/// now serves tauri-driver 3 alphas that `cargo install` would otherwise pick.
const CARGO_TOOLS: &[(&str, &str, &str, bool)] = &[
    // (crate, binary, version, --locked)
    ("wasm-bindgen-cli", "wasm-bindgen", "0.2.130", false),
    ("tauri-driver", "tauri-driver", "2.1.0", true),
    ("cargo-fuzz", "cargo-fuzz", "0.13.2", true),
];

fn cargo_tools() -> Result<()> {
    // `cargo install --list` prints "name vX.Y.Z:" per installed crate; not every tool has
    // a --version flag (tauri-driver has none).
    let installed = cargo()
        .args(["install", "--list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for &(krate, bin, version, locked) in CARGO_TOOLS {
        if installed.lines().any(|l| l == format!("{krate} v{version}:")) && have(bin) {
            continue;
        }
        println!("xtask: installing {krate} {version}");
        let mut cmd = cargo();
        cmd.args(["install", krate, "--version", version]);
        if locked {
            cmd.arg("--locked");
        }
        // Tools are built for the host with the rustup toolchain, in their own target dir.
        status(cmd.env_remove("CARGO_TARGET_DIR"))?;
    }
    Ok(())
}

/// Python tools the tests run, pinned, in a virtualenv of the project's own (Debian's pip
/// refuses to install into the system Python).
const PYTHON_TOOLS: &[(&str, &str, &str)] = &[
    // (package, executable, version)
    ("schemathesis", "schemathesis", "4.32.5"),
    // ElevenLabs' SDK, whose webhook verifier and API client the tests use as oracles
    // (tests/python); a library, so the virtualenv's python stands for its executable.
    ("elevenlabs", "python", "2.78.0"),
    // LiveKit's real-time SDK (its own WebRTC build, from the wheel): a room participant
    // that joins with the gateway's tokens and hears and speaks (tests/python).
    ("livekit", "python", "1.0.12"),
    // The Prometheus project's client, whose exposition-format parser reads the gateway's
    // /metrics text in the tests (tests/python/prometheus_text.py).
    ("prometheus-client", "python", "0.26.0"),
];

/// The project's virtualenv for Python tools; kept across runs like the cargo tools.
/// The vendors' npm libraries the tests use as oracles and peers (tests/node), exactly
/// as locked. `npm ci` starts from scratch, so it runs only when the lock changed since
/// the last install: a stamp in node_modules holds the lock it was made from.
fn node_tools() -> Result<()> {
    let dir = root().join("tests/node");
    let lock = std::fs::read_to_string(dir.join("package-lock.json"))?;
    let stamp = dir.join("node_modules/.switchboard-lock");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
        if !have("npm") {
            apt_install(&["nodejs", "npm"])?;
        }
        println!("xtask: installing the vendors' npm libraries (tests/node)");
        status(
            Command::new("npm")
                .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )?;
        std::fs::write(&stamp, &lock)?;
    }
    twilio_openapi(&dir)
}

/// Twilio's own OpenAPI document for its 2010-04-01 API, which Prism serves to the REST
/// tests: shipped in npm `@twilio/cli-core` (pinned), taken from the package tarball.
fn twilio_openapi(node_dir: &Path) -> Result<()> {
    const PACKAGE: &str = "@twilio/cli-core@9.0.0";
    const INSIDE: &str = "package/src/services/twilio-api/twilio_api_v2010.json";
    let target = node_dir.join("specs/twilio_api_v2010.json");
    if target.exists() {
        return Ok(());
    }
    println!("xtask: fetching Twilio's OpenAPI document ({PACKAGE})");
    let scratch = std::env::temp_dir().join(format!("switchboard-twilio-spec-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let out = Command::new("npm")
        .args(["pack", PACKAGE, "--silent", "--pack-destination"])
        .arg(&scratch)
        .output()
        .context("running npm pack")?;
    if !out.status.success() {
        bail!("npm pack {PACKAGE}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tarball = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .to_owned();
    status(
        Command::new("tar")
            .arg("-xzf")
            .arg(scratch.join(&tarball))
            .arg("-C")
            .arg(&scratch)
            .arg(INSIDE),
    )?;
    std::fs::create_dir_all(target.parent().unwrap_or(node_dir))?;
    std::fs::copy(scratch.join(INSIDE), &target)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn python_env() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(".cache/switchboard/py")
}

fn python_tools() -> Result<()> {
    let venv = python_env();
    if !venv.join("bin/pip").exists() {
        apt_install(&["python3-venv", "python3-pip"])?;
        status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    for &(package, exe, version) in PYTHON_TOOLS {
        let installed = Command::new(venv.join("bin/pip"))
            .args(["show", package])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l == format!("Version: {version}"))
            });
        if installed && venv.join("bin").join(exe).exists() {
            continue;
        }
        println!("xtask: installing {package} {version}");
        status(Command::new(venv.join("bin/pip")).args(["install", "-q", &format!("{package}=={version}")]))?;
    }
    Ok(())
}

fn setup() -> Result<()> {
    if !have("psql") || !have("pgbench") {
        apt_install(&["postgresql-client", "postgresql", "postgresql-contrib"])?;
    }
    apt_install(&[DESKTOP_PACKAGES, MEDIA_PACKAGES, go_tools::PACKAGES].concat())?;
    cargo_tools()?;
    go_tools::install()?;
    python_tools()?;
    node_tools()?;
    Ok(())
}

/// The gateway and the desktop app, built with `--workspace`: with the features the whole
/// workspace enables, as `cargo test --workspace` builds their dependencies, so the test run
/// reuses every one of them. With `-p` each package's dependencies got features of their
/// own, and a cold `cargo xtask test` compiled 1,486 units (crates, build scripts, test
/// binaries) where 1,032 do, per cargo's unit graph. The tests' own calls (`tests/lib.rs`'s
/// `app_binary`, the gateway tests' `gateway_bin`) build the same way.
const WORKSPACE_BINS: &[&str] = &[
    "build",
    "--workspace",
    "--bin",
    "switchboard-gateway",
    "--bin",
    "switchboard",
];

fn test(extra: &[&str]) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let started = Instant::now();
    timed("set-up", setup)?;
    // The desktop app embeds the UI, and the end-to-end test drives it.
    timed("the UI", build_ui)?;
    // The binaries the tests launch, built here as the tests build them, so those calls
    // find them fresh instead of compiling inside a running test.
    timed("the gateway and the app", || status(cargo().args(WORKSPACE_BINS)))?;
    let pg = postgres()?;
    let tests = Instant::now();
    let session = KeyringSession::new()?;
    let mut child = session
        .command(&["test", "--workspace", "--no-fail-fast"], extra)
        .env("DATABASE_URL", &pg.url)
        .env("SWITCHBOARD_PY_TOOLS", python_env().join("bin"))
        .env("SWITCHBOARD_GO_TOOLS", go_tools::bin_dir())
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test in a D-Bus session")?;
    // Pass the output through and add up cargo's per-binary results, so the run ends with
    // one total instead of the last (often empty) doc-test summary.
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    for line in BufReader::new(child.stdout.take().context("cargo test stdout")?).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| {
                        part.trim()
                            .trim_start_matches("ok. ")
                            .trim_start_matches("FAILED. ")
                            .strip_suffix(word)
                    })
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
            ignored += count(" ignored");
        }
    }
    let result = child.wait()?;
    println!("xtask: the test build and run: {} s", tests.elapsed().as_secs());
    drop(session);
    drop(pg);
    println!("\nsummary: {passed} passed, {failed} failed, {ignored} skipped");
    if !result.success() {
        bail!("cargo test failed ({result})");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    // A full run also builds every fuzz target and runs each briefly; long campaigns are
    // `cargo xtask fuzz TARGET -- -runs=N` by hand.
    if extra.is_empty() {
        timed("the fuzz targets", || {
            FUZZ_TARGETS
                .iter()
                .try_for_each(|target| fuzz(&[target, "--", "-runs=20000"]))
        })?;
    }
    println!("xtask: cargo xtask test: {} s in all", started.elapsed().as_secs());
    Ok(())
}

/// Run one step of `cargo xtask test` and print how long it took, so that a run's log
/// (CI's first of all, on a machine with empty caches) shows where its time went.
fn timed<T>(what: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let result = step();
    println!("xtask: {what}: {} s", started.elapsed().as_secs());
    result
}

/// The cargo-fuzz targets in fuzz/.
const FUZZ_TARGETS: &[&str] = &["twilio_webhook", "livekit_webhook", "ami_framing"];

/// `cargo xtask fuzz [TARGET] [-- libFuzzer args]`: build the target (all of them when
/// none is named) with cargo-fuzz and run it. cargo-fuzz needs nightly flags
/// (`-Zsanitizer`); RUSTC_BOOTSTRAP lets the stable toolchain accept them. The fuzz build
/// has its own target dir: its sanitizer flags would otherwise invalidate the main one.
fn fuzz(args: &[&str]) -> Result<()> {
    cargo_tools()?;
    let (named, libfuzzer) = match args.iter().position(|a| *a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let targets: Vec<&str> = if named.is_empty() {
        FUZZ_TARGETS.to_vec()
    } else {
        named.to_vec()
    };
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || root().join("target/fuzz"),
        |t| PathBuf::from(t).with_file_name("fuzz-target"),
    );
    for target in targets {
        if !FUZZ_TARGETS.contains(&target) {
            bail!("unknown fuzz target {target:?}; available: {}", FUZZ_TARGETS.join(", "));
        }
        let mut cmd = cargo();
        cmd.current_dir(root().join("fuzz"))
            .args(["fuzz", "run", "--fuzz-dir", ".", target, "--"])
            .args(["-print_final_stats=1"])
            .args(libfuzzer)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &target_dir);
        status(&mut cmd)
            .with_context(|| format!("fuzz target {target} failed (a crash is saved under fuzz/artifacts/)"))?;
    }
    Ok(())
}

/// A D-Bus session of its own with an unlocked gnome-keyring, for cargo runs that use the
/// OS keyring (tests, the desktop benchmark): a real Secret Service, and never the
/// developer's own keyring.
struct KeyringSession {
    scratch: PathBuf,
}

impl KeyringSession {
    fn new() -> Result<Self> {
        let scratch = std::env::temp_dir().join(format!("switchboard-keyring-session-{}", std::process::id()));
        std::fs::create_dir_all(scratch.join("data"))?;
        std::fs::create_dir_all(scratch.join("run"))?;
        #[cfg(unix)]
        std::fs::set_permissions(scratch.join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        Ok(Self { scratch })
    }

    /// `cargo <args> <extra>` inside the session.
    fn command(&self, args: &[&str], extra: &[&str]) -> Command {
        let script =
            "printf %s switchboard | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec \"$@\"";
        let mut cmd = Command::new("dbus-run-session");
        without_crate_env(&mut cmd);
        cmd.args(["--", "sh", "-c", script, "sh"])
            .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .args(extra)
            .current_dir(root())
            .env("XDG_DATA_HOME", self.scratch.join("data"))
            .env("XDG_RUNTIME_DIR", self.scratch.join("run"));
        cmd
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// `.deb` and `.rpm` through the Tauri CLI (pinned; installed on first use, ~9 minutes).
/// AppImage is not offered: its bundler downloads linuxdeploy and AppRun from GitHub.
fn bundle() -> Result<()> {
    setup()?;
    build_ui()?;
    let current = Command::new("cargo")
        .args(["tauri", "--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if !current.as_deref().is_ok_and(|v| v.contains("2.12.4")) {
        println!("xtask: installing tauri-cli 2.12.4");
        status(
            cargo()
                .args(["install", "tauri-cli", "--version", "2.12.4", "--locked"])
                .env_remove("CARGO_TARGET_DIR"),
        )?;
    }
    // Without the variables `cargo run` gave us: ring's build script would see them as
    // changed inputs and this release build and the benchmark's would rebuild each other's.
    status(
        without_crate_env(&mut Command::new("cargo"))
            .args(["tauri", "build", "--bundles", "deb,rpm"])
            .current_dir(root().join("src-tauri")),
    )?;
    let dir = target_root().join("release").join("bundle");
    for kind in ["deb", "rpm"] {
        for e in std::fs::read_dir(dir.join(kind))?.flatten() {
            println!("xtask: {} ({} bytes)", e.path().display(), e.metadata()?.len());
        }
    }
    Ok(())
}

fn target_root() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"))
}

/// Build the Yew UI to `ui/dist` (what tauri.conf.json's frontendDist points at).
///
/// rustup cannot add targets on every machine we build on, so: rustup's wasm32 target when
/// it is installed, else Debian's rustc-web (1.96 with its std sources) and `-Z build-std`.
/// Reference types stay off so Debian's wasm-opt 108 can read the module.
fn build_ui() -> Result<PathBuf> {
    let ui = root().join("ui");
    let target = target_root().join("ui");
    let wasm_target = "wasm32-unknown-unknown";
    let rustup_has_wasm = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == wasm_target)
        });
    let mut cmd;
    if rustup_has_wasm {
        cmd = Command::new("cargo");
        cmd.args(["build", "--release", "--target", wasm_target]);
    } else {
        if !PathBuf::from("/usr/bin/rustc").exists() || !PathBuf::from("/usr/lib/rustlib/src/rust/library").exists() {
            apt_install(&["rustc-web", "rust-web-src", "cargo-web", "lld"])?;
        }
        cmd = Command::new("/usr/bin/cargo");
        let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
        cmd.args([
            "build",
            "--release",
            "-Z",
            "build-std=std,panic_abort",
            "--target",
            wasm_target,
        ])
        .env("PATH", path)
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO");
    }
    cmd.current_dir(&ui)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C target-feature=-reference-types,-multivalue")
        .env_remove("CARGO_BUILD_TARGET");
    status(&mut cmd)?;
    let wasm = target.join(wasm_target).join("release").join("switchboard-ui.wasm");
    let dist = ui.join("dist");
    std::fs::create_dir_all(&dist)?;
    status(
        Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                "switchboard-ui",
                "--out-dir",
            ])
            .arg(&dist)
            .arg(&wasm),
    )?;
    let bg = dist.join("switchboard-ui_bg.wasm");
    if have("wasm-opt") {
        status(Command::new("wasm-opt").arg("-Oz").arg(&bg).arg("-o").arg(&bg))?;
    }
    for f in ["index.html", "styles.css"] {
        std::fs::copy(ui.join(f), dist.join(f)).with_context(|| format!("copying {f}"))?;
    }
    println!(
        "xtask: UI built into {} ({} KiB of wasm)",
        dist.display(),
        std::fs::metadata(&bg)?.len() / 1024
    );
    Ok(dist)
}

fn run(extra: &[&str]) -> Result<()> {
    build_ui()?;
    status(cargo().args(WORKSPACE_BINS))?;
    let bin = target_root().join("debug");
    let bind = extra
        .windows(2)
        .find(|w| w[0] == "--bind")
        .map_or("127.0.0.1:8080", |w| w[1]);
    let mut gateway = Command::new(bin.join("switchboard-gateway"))
        .args(["serve", "--demo", "--bind", bind])
        .spawn()
        .context("starting the gateway")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = format!("http://{bind}/healthz");
    while !quiet_ok(Command::new("curl").args(["-sf", &health])) {
        if let Some(s) = gateway.try_wait()? {
            bail!("the gateway exited with {s}");
        }
        if Instant::now() > deadline {
            bail!("the gateway did not answer {health} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let token = Command::new(bin.join("switchboard-gateway"))
        .args(["token", "--agent", "alice"])
        .output()?;
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    println!("\nSwitchboard gateway (demo) on http://{bind}; API description at /openapi.json");
    let result = if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        println!("No display: the desktop app is not started. Agent alice's token: {token}");
        println!("Stop with Ctrl-C.");
        gateway.wait().map(|_| ())
    } else {
        println!("Starting the desktop app signed in as alice (token kept in the system keyring).");
        let app = Command::new(bin.join("switchboard"))
            .env("SWITCHBOARD_SIGN_IN_URL", format!("http://{bind}"))
            .env("SWITCHBOARD_SIGN_IN_TOKEN", &token)
            .status();
        let _ = gateway.kill();
        app.map(|_| ())
    };
    result.context("running the demo")
}

fn bench(what: &[&str]) -> Result<()> {
    let target = what.first().copied().unwrap_or("gateway");
    match target {
        "gateway" => {
            setup()?;
            // pg_stat_statements (in Debian's server package) lets the ingest part say
            // which statements PostgreSQL's time goes to.
            let pg = postgres_with("-c shared_preload_libraries=pg_stat_statements")?;
            // One process per part: a part's gateways and whatever their calls left
            // running must not load the next part's measurements.
            let parts: Vec<&str> = match &what[1..] {
                [] => vec!["ingest", "floor", "ws"],
                given => given.to_vec(),
            };
            for part in parts {
                status(
                    cargo()
                        .args(["bench", "-p", "switchboard-gateway", "--bench", "gateway", "--", part])
                        .env("DATABASE_URL", &pg.url),
                )?;
            }
            Ok(())
        }
        "desktop" => {
            // Bundling builds the release app; the benchmark measures that very binary.
            bundle()?;
            // The memory anchor: a SIP softphone from Debian, measured in the same run.
            apt_install(&["linphone-desktop"])?;
            let app = target_root().join("release").join("switchboard");
            let session = KeyringSession::new()?;
            let result = status(
                session
                    .command(
                        &["bench", "-p", "switchboard-e2e", "--bench", "desktop", "--"],
                        &what[1..],
                    )
                    .env("SWITCHBOARD_APP_BINARY", app),
            );
            drop(session);
            result
        }
        "media" => {
            setup()?;
            // Parts: delay, stages, cpu, sfu (all by default).
            let mut args = vec!["bench", "-p", "switchboard-media", "--bench", "media", "--"];
            args.extend(&what[1..]);
            status(cargo().args(args))
        }
        other => bail!("unknown benchmark {other:?}; available: gateway, desktop, media"),
    }
}
