//! PostgreSQL for the tests and benchmarks: the server named by `DATABASE_URL`, or else a
//! throwaway cluster of our own. The machine's own cluster is never used: how it
//! authenticates (peer, scram, trust) is the machine owner's choice, and a stock Debian
//! cluster refuses the password-less TCP logins the tests make.
//!
//! The throwaway cluster is `initdb`'d into a fresh directory with trust authentication,
//! listens on 127.0.0.1 on a port nobody uses and in its own socket directory, and is
//! stopped and deleted when the [`Cluster`] is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{apt_install, quiet_ok, status};

/// A PostgreSQL server the tests can use, for as long as this value lives.
#[derive(Debug)]
pub struct Cluster {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`, or `DATABASE_URL`.
    pub url: String,
    /// Our own cluster's directory, when we started one.
    own: Option<PathBuf>,
}

fn ready(url: &str) -> bool {
    quiet_ok(Command::new("psql").args([url, "-Atc", "SELECT 1"]))
}

/// The newest installed server's bin directory (Debian keeps them versioned).
fn server_bin() -> Result<PathBuf> {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .max_by_key(|bin| {
            bin.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
    match newest {
        Some(bin) => Ok(bin),
        None => {
            apt_install(&["postgresql", "postgresql-contrib", "postgresql-client"])?;
            server_bin_installed()
        }
    }
}

fn server_bin_installed() -> Result<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed under /usr/lib/postgresql")?
        .flatten()
        .map(|e| e.path().join("bin"))
        .find(|bin| bin.join("initdb").exists())
        .context("no initdb under /usr/lib/postgresql/*/bin")
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// PostgreSQL refuses to run as root; as root we run it as the `postgres` system user
/// that Debian's package creates.
fn as_server_user(bin: &Path, tool: &str) -> Command {
    if crate::is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

impl Cluster {
    /// `DATABASE_URL` when it is set (it must answer, and is used as it is), else a new
    /// throwaway cluster, with server `extra_options` (`-c name=value ...`) added to its own.
    pub fn start_with(extra_options: &str) -> Result<Self> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !ready(&url) {
                bail!("DATABASE_URL={url} does not answer; unset it to use a throwaway cluster");
            }
            return Ok(Self { url, own: None });
        }
        let bin = server_bin()?;
        let dir = std::env::temp_dir().join(format!("switchboard-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let data = dir.join("data");
        let sockets = dir.join("run");
        std::fs::create_dir_all(&sockets)?;
        if crate::is_root() {
            status(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir))?;
        }
        let mut cluster = Self {
            url: String::new(),
            own: Some(dir.clone()),
        };
        status(
            as_server_user(&bin, "initdb")
                .args(["-D"])
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "-N"])
                .stdout(std::process::Stdio::null()),
        )
        .context("initdb of the throwaway test cluster")?;
        let port = free_port()?;
        // Test databases are many and short-lived: durability buys nothing here.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 {extra_options}",
            sockets.display()
        );
        status(
            as_server_user(&bin, "pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "60", "start"])
                .stdout(std::process::Stdio::null()),
        )
        .context("starting the throwaway test cluster (see its server.log)")?;
        cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(&cluster.url) {
            if Instant::now() > deadline {
                bail!("the throwaway cluster at {} did not answer within 60 s", cluster.url);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "xtask: throwaway PostgreSQL cluster at {} ({})",
            cluster.url,
            dir.display()
        );
        Ok(cluster)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(dir) = self.own.take() else { return };
        if let Ok(bin) = server_bin_installed() {
            let _ = as_server_user(&bin, "pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
