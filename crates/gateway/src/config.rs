//! Command line and environment. Every flag has an environment variable, so the same
//! binary is configured by flags on a laptop and by env in a deployment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The Switchboard gateway.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard-gateway",
    version,
    about = "Switchboard telephony gateway: one API for calls, whatever the provider"
)]
pub struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `switchboard_gateway=debug`.
    #[arg(long, env = "SWITCHBOARD_LOG", default_value = "info", global = true)]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(DbArgs),
    /// Print a new bearer token for an agent.
    Token(TokenArgs),
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: sqlite:///path/file.db or postgres://user@host/db. Default: a SQLite
    /// file in the data directory.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL")]
    pub database: Option<String>,
    /// Data directory (default SQLite file, demo secrets). Default: the user's data dir.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DbArgs {
    /// The data directory, created if missing.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = match &self.data_dir {
            Some(d) => d.clone(),
            None => dirs::data_dir()
                .ok_or_else(|| anyhow::anyhow!("no user data directory; pass --data-dir or --database"))?
                .join("switchboard"),
        };
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// The database URL to use.
    pub fn url(&self) -> anyhow::Result<String> {
        match &self.database {
            Some(u) => Ok(u.clone()),
            None => Ok(format!("sqlite://{}", self.data_dir()?.join("gateway.db").display())),
        }
    }
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on; port 0 picks a free one (the chosen address is printed).
    #[arg(long, env = "SWITCHBOARD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Seed a demo business (agents alice, bob and supervisor sam, three numbers, fifty
    /// leads) and turn the simulator's inbound traffic on. Safe to repeat.
    #[arg(long, env = "SWITCHBOARD_DEMO")]
    pub demo: bool,
    /// Directory of secret files for `secret:NAME` references. Default: <data dir>/secrets.
    #[arg(long, env = "SWITCHBOARD_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Public base URL providers reach this gateway at (used for webhook signatures).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Agent login name.
    #[arg(long)]
    pub agent: String,
    /// Business name, when several have an agent of that name.
    #[arg(long)]
    pub business: Option<String>,
}
