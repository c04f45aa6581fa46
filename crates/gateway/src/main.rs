//! `switchboard-gateway`: a thin shell over the library (see its docs).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use switchboard_gateway::config::{Cli, Command};
use switchboard_gateway::{demo, secrets::Secrets, store};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).context("invalid --log filter")?)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Migrate(db) => {
            let url = db.url()?;
            store::connect(&url).await.with_context(|| format!("opening {url}"))?;
            eprintln!("database {url} is up to date");
        }
        Command::Token(args) => {
            let store = store::connect(&args.db.url()?).await?;
            let business = match &args.business {
                Some(name) => Some(
                    store
                        .business_by_name(name)
                        .await?
                        .with_context(|| format!("no business named {name:?}"))?,
                ),
                None => None,
            };
            let found = store.agents_named(&args.agent, business).await?;
            let (_, agent) = match found.as_slice() {
                [one] => one.clone(),
                [] => anyhow::bail!("no agent named {:?}", args.agent),
                _ => anyhow::bail!("several businesses have an agent {:?}; pass --business", args.agent),
            };
            let token = demo::issue_token(&*store, agent.id).await?;
            #[allow(clippy::print_stdout)]
            {
                println!("{token}");
            }
        }
        Command::Serve(args) => {
            let url = args.db.url()?;
            let store: Arc<dyn store::Store> = store::connect(&url).await.with_context(|| format!("opening {url}"))?;
            let secrets_dir = match &args.secrets_dir {
                Some(d) => d.clone(),
                None => args.db.data_dir()?.join("secrets"),
            };
            if args.demo {
                demo::seed_demo(&store, &secrets_dir).await?;
            }
            let listener = tokio::net::TcpListener::bind(args.bind)
                .await
                .with_context(|| format!("binding {}", args.bind))?;
            let addr = listener.local_addr()?;
            let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
            let state = switchboard_gateway::start(store.clone(), &Secrets::new(Some(secrets_dir)), public_url).await?;
            tracing::info!(
                database = store.backend(),
                providers = state.providers.len(),
                "gateway ready"
            );
            // Tests and scripts read this line to learn the port when --bind ends in :0.
            #[allow(clippy::print_stdout)]
            {
                println!("switchboard-gateway listening on http://{addr}");
            }
            switchboard_gateway::serve(listener, state, shutdown_signal()).await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
