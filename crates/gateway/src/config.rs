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
    /// Print a new bearer token for an agent, or list or revoke tokens.
    Token(TokenCmd),
    /// Businesses: `business add NAME --admin LOGIN`.
    #[command(subcommand)]
    Business(BusinessCmd),
    /// Agents: `agent add LOGIN --business NAME --role agent`.
    #[command(subcommand)]
    Agent(AgentCmd),
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
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "SWITCHBOARD_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "SWITCHBOARD_BODY_TIMEOUT_SECS", default_value_t = 15)]
    pub body_timeout_secs: u64,
    /// Open connections one IP address may hold (raise it behind a load balancer).
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_PEER", default_value_t = 256)]
    pub max_connections_per_peer: usize,
    /// Open connections in total.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Serve Prometheus metrics (`GET /metrics`, unauthenticated) on this address; off
    /// when unset. Keep it private: the public address never serves them.
    #[arg(long, env = "SWITCHBOARD_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
}

impl ServeArgs {
    /// The edge's limits from the flags.
    pub fn limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs.max(1)),
            body_timeout: std::time::Duration::from_secs(self.body_timeout_secs.max(1)),
            max_connections_per_peer: self.max_connections_per_peer.max(1),
            max_connections: self.max_connections.max(1),
        }
    }
}

/// `token`: without a subcommand, issue one (`token --agent alice`).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TokenCmd {
    /// List or revoke instead of issuing.
    #[command(subcommand)]
    pub action: Option<TokenAction>,
    /// Issue a token.
    #[command(flatten)]
    pub issue: TokenArgs,
}

/// `token list` / `token revoke`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// List a business's tokens (never the tokens themselves).
    List {
        /// Database.
        #[command(flatten)]
        db: DbArgs,
        /// Business name.
        #[arg(long)]
        business: String,
    },
    /// Revoke a token by id (see `token list`); it stops working at once.
    Revoke {
        /// Database.
        #[command(flatten)]
        db: DbArgs,
        /// Business name.
        #[arg(long)]
        business: String,
        /// The token's id.
        id: i64,
    },
}

/// Issuing a token.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Agent login name.
    #[arg(long, required = true)]
    pub agent: Option<String>,
    /// Business name, when several have an agent of that name.
    #[arg(long)]
    pub business: Option<String>,
    /// Days until the token expires (1 to 365).
    #[arg(long, default_value_t = crate::auth::DEFAULT_TOKEN_TTL_DAYS)]
    pub ttl_days: u32,
    /// What the token is for ("alice's laptop").
    #[arg(long, default_value = "")]
    pub label: String,
}

/// `business ...`.
#[derive(Debug, Subcommand)]
pub enum BusinessCmd {
    /// Create a business and its first admin; prints the admin's token.
    Add {
        /// Database.
        #[command(flatten)]
        db: DbArgs,
        /// Its name (unique).
        name: String,
        /// Login name of its first admin.
        #[arg(long)]
        admin: String,
        /// The operator's own business: its admins may create businesses over the API.
        #[arg(long)]
        platform: bool,
    },
}

/// `agent ...`.
#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Create an agent in a business.
    Add {
        /// Database.
        #[command(flatten)]
        db: DbArgs,
        /// Login name.
        name: String,
        /// The business.
        #[arg(long)]
        business: String,
        /// agent, supervisor or admin.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Name shown to colleagues (default: the login name).
        #[arg(long)]
        display_name: Option<String>,
    },
}
