//! The LiveKit services the LiveKit SIP tests run for real: `livekit-server` and
//! `livekit-sip`, built from the Go module proxy at pinned versions into
//! `~/.cache/switchboard/go/bin` (kept between runs, so only a new machine builds them).
//!
//! The pair is chosen to fit together and to be served here: livekit-server 1.8.4 and
//! livekit-sip 1.0.0 speak the same internal RPC (both pin psrpc
//! v0.6.1-0.20250205181828-a0beed2e4126). Newer servers carry `replace` directives to
//! LiveKit forks the proxy does not serve; newer SIP tags are not served at all.
//!
//! `go install module/cmd@version` works for the server. For livekit-sip it refuses
//! before building: it asks the proxy for the module's version list (to look for a
//! deprecation notice), and the proxy answers 403 for that list although it serves the
//! version itself. So that one is downloaded with `go mod download` and built with
//! `go build` inside the module's own directory, which is the same build.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// (binary, module, package inside it, version, `go install` works)
const GO_TOOLS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "livekit-server",
        "github.com/livekit/livekit-server",
        "cmd/server",
        "v1.8.4",
        true,
    ),
    (
        "livekit-sip",
        "github.com/livekit/sip",
        "cmd/livekit-sip",
        "v1.0.0",
        false,
    ),
];

/// Debian packages they need: cgo's codecs for livekit-sip, Redis, through which the SIP
/// service and the server talk, baresip, the SIP phone the tests call in with, and SIPp
/// (sip-tester), which scripts the busy, unanswered and carrier-side SIP endpoints.
pub const PACKAGES: &[&str] = &[
    "libopus-dev",
    "libopusfile-dev",
    "libsoxr-dev",
    "redis-server",
    "baresip",
    "sip-tester",
];

/// Where the binaries go.
pub fn bin_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/switchboard/go/bin")
}

/// The version a built binary was made from, as recorded next to it.
fn stamp(bin: &str) -> PathBuf {
    bin_dir().join(format!(".{bin}.version"))
}

fn go() -> Command {
    let mut cmd = Command::new("go");
    cmd.env("GOFLAGS", "-trimpath").env("CGO_ENABLED", "1");
    cmd
}

/// Build each tool that is missing or was built from another version.
pub fn install() -> Result<()> {
    if !super::have("go") {
        // Debian's golang-go (1.19) is too old for these modules (1.23+).
        bail!("the LiveKit services are built with Go 1.23 or newer, and there is no `go` on PATH");
    }
    std::fs::create_dir_all(bin_dir())?;
    for &(bin, module, package, version, go_install) in GO_TOOLS {
        let path = bin_dir().join(bin);
        let built = std::fs::read_to_string(stamp(bin)).unwrap_or_default();
        if path.exists() && built.trim() == version {
            continue;
        }
        println!("xtask: building {bin} {version} from the Go module proxy (minutes, once per machine)");
        let started = std::time::Instant::now();
        if go_install {
            let tmp = bin_dir().join(format!(".{bin}-gobin"));
            std::fs::create_dir_all(&tmp)?;
            super::status(
                go().args(["install", &format!("{module}/{package}@{version}")])
                    .env("GOBIN", &tmp),
            )?;
            let produced = std::fs::read_dir(&tmp)?
                .next()
                .context("go install produced no binary")??
                .path();
            std::fs::rename(produced, &path)?;
            std::fs::remove_dir_all(&tmp)?;
        } else {
            let out = go()
                .args(["mod", "download", "-json", &format!("{module}@{version}")])
                .current_dir(std::env::temp_dir())
                .output()
                .context("go mod download")?;
            let info: serde_json::Value = serde_json::from_slice(&out.stdout).context("go mod download -json")?;
            if let Some(e) = info["Error"].as_str() {
                bail!("go mod download {module}@{version}: {e}");
            }
            let dir = info["Dir"].as_str().context("go mod download gave no Dir")?;
            super::status(
                go().args(["build", "-o"])
                    .arg(&path)
                    .arg(format!("./{package}"))
                    .current_dir(dir),
            )?;
        }
        std::fs::write(stamp(bin), version)?;
        println!("xtask: {bin} built in {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
