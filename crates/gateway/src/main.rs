//! `switchboard-gateway`: a thin shell over the library (see its docs).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use switchboard_core::{AgentRole, BusinessId};
use switchboard_gateway::config::{AgentCmd, BusinessCmd, Cli, Command, TokenAction};
use switchboard_gateway::{auth, demo, onboarding, secrets::Secrets, store};
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
        Command::Token(cmd) => match cmd.action {
            None => {
                let args = cmd.issue;
                let store = store::connect(&args.db.url()?).await?;
                let business = match &args.business {
                    Some(name) => Some(business_named(&*store, name).await?),
                    None => None,
                };
                let login = args.agent.context("--agent is required")?;
                let found = store.agents_named(&login, business).await?;
                let (_, agent) = match found.as_slice() {
                    [one] => one.clone(),
                    [] => anyhow::bail!("no agent named {login:?}"),
                    _ => anyhow::bail!("several businesses have an agent {login:?}; pass --business"),
                };
                let issued = auth::issue(&*store, agent.id, &args.label, args.ttl_days).await?;
                print_line(&issued.token);
            }
            Some(TokenAction::List { db, business }) => {
                let store = store::connect(&db.url()?).await?;
                let business = business_named(&*store, &business).await?;
                for t in store.tokens(business).await? {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.expires_at <= switchboard_gateway::now_ms() {
                        "expired"
                    } else {
                        "valid"
                    };
                    print_line(&format!(
                        "{}\tagent {}\t{state}\texpires_at {}\t{}",
                        t.id, t.agent_id, t.expires_at, t.label
                    ));
                }
            }
            Some(TokenAction::Revoke { db, business, id }) => {
                let store = store::connect(&db.url()?).await?;
                let business = business_named(&*store, &business).await?;
                store.revoke_token(business, id, switchboard_gateway::now_ms()).await?;
                eprintln!("token {id} revoked");
            }
        },
        Command::Business(BusinessCmd::Add {
            db,
            name,
            admin,
            platform,
        }) => {
            let store = store::connect(&db.url()?).await?;
            let (business, agent) = if platform {
                onboarding::create_platform_business(&*store, &name, &admin).await?
            } else {
                onboarding::create_business_with_admin(&*store, &name, &admin).await?
            };
            let issued = auth::issue(&*store, agent.id, "first admin", auth::DEFAULT_TOKEN_TTL_DAYS).await?;
            eprintln!("business {name:?} ({business}) created with admin {admin:?}; their token:");
            print_line(&issued.token);
        }
        Command::Agent(AgentCmd::Add {
            db,
            name,
            business,
            role,
            display_name,
        }) => {
            let store = store::connect(&db.url()?).await?;
            let business = business_named(&*store, &business).await?;
            let role = AgentRole::from_name(&role)
                .with_context(|| format!("role {role:?}: use agent, supervisor or admin"))?;
            let id = store
                .create_agent(business, &name, display_name.as_deref().unwrap_or(&name), role)
                .await?;
            eprintln!("agent {name:?} created ({id}); issue a token with: switchboard-gateway token --agent {name}");
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
            // Bound (and the recorder installed) before anything is served, so no figure
            // of this process is missed and a taken address fails the start.
            let metrics = match args.metrics_bind {
                Some(bind) => {
                    let handle =
                        switchboard_gateway::metrics::install().map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
                    let listener = tokio::net::TcpListener::bind(bind)
                        .await
                        .with_context(|| format!("binding the metrics address {bind}"))?;
                    Some((listener, handle))
                }
                None => None,
            };
            let listener = tokio::net::TcpListener::bind(args.bind)
                .await
                .with_context(|| format!("binding {}", args.bind))?;
            let addr = listener.local_addr()?;
            let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
            let state = switchboard_gateway::start(store.clone(), &Secrets::new(Some(secrets_dir)), public_url).await?;
            let limits = args.limits();
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
            if let Some((listener, handle)) = metrics {
                let at = listener.local_addr()?;
                tokio::spawn(async move {
                    if let Err(e) = switchboard_gateway::metrics::serve(listener, handle).await {
                        tracing::error!(error = %e, "the metrics listener stopped");
                    }
                });
                // After the line above, which scripts read first for the API's address.
                #[allow(clippy::print_stdout)]
                {
                    println!("switchboard-gateway metrics on http://{at}/metrics");
                }
            }
            switchboard_gateway::serve_with(listener, state, limits, shutdown_signal()).await?;
        }
    }
    Ok(())
}

async fn business_named(store: &dyn store::Store, name: &str) -> anyhow::Result<BusinessId> {
    store
        .business_by_name(name)
        .await?
        .with_context(|| format!("no business named {name:?}"))
}

/// Tokens and ids go to stdout (scripts read them); everything else to stderr.
fn print_line(line: &str) {
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
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
