//! The running providers: built from the `telephony_providers` table at start-up, with
//! secrets resolved, each with a task that feeds its in-process events into [`crate::ingest`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::api::LeadQuery;
use switchboard_core::{ProviderId, TelephonyVendor};
use switchboard_telephony::secret::{Secret, SecretSource, parse_config};
use switchboard_telephony::simulator::{Simulator, SimulatorConfig};
use switchboard_telephony::{ProviderError, ProviderEvent, TelephonyProvider};
use tokio::sync::mpsc;

use crate::secrets::Secrets;
use crate::store::{ProviderRow, Store, StoreError};

/// One running provider.
#[derive(Debug)]
pub struct ProviderHandle {
    /// Its row.
    pub row: ProviderRow,
    /// The implementation.
    pub provider: Arc<dyn TelephonyProvider>,
    /// The carrier name its call ids are qualified with.
    pub vendor: TelephonyVendor,
    /// Secret for Switchboard-format webhooks (transcripts), if configured.
    pub webhook_secret: Option<Secret>,
}

/// All running providers, by id and by name.
#[derive(Debug, Default)]
pub struct Providers {
    by_id: HashMap<ProviderId, Arc<ProviderHandle>>,
    by_name: HashMap<String, Arc<ProviderHandle>>,
}

impl Providers {
    /// By id.
    pub fn get(&self, id: ProviderId) -> Option<&Arc<ProviderHandle>> {
        self.by_id.get(&id)
    }

    /// By configured name.
    pub fn by_name(&self, name: &str) -> Option<&Arc<ProviderHandle>> {
        self.by_name.get(name)
    }

    /// How many are running.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// None running?
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Build and start every enabled provider. A provider whose configuration is wrong is
/// logged and left out, so one bad row does not take the gateway down.
pub async fn start(store: Arc<dyn Store>, secrets: &Secrets) -> Result<Providers, StoreError> {
    let secrets: Arc<dyn SecretSource> = Arc::new(secrets.clone());
    let mut out = Providers::default();
    for row in store.providers().await? {
        match build(store.clone(), &secrets, row.clone()).await {
            Ok(handle) => {
                let handle = Arc::new(handle);
                out.by_name.insert(row.name.clone(), handle.clone());
                out.by_id.insert(row.id, handle);
            }
            Err(e) => {
                tracing::error!(provider = %row.name, kind = %row.kind, error = %e, "provider not started")
            }
        }
    }
    Ok(out)
}

/// The part of every provider's config the gateway itself reads.
#[derive(Debug, Default, serde::Deserialize)]
struct Common {
    /// Signs Switchboard-format webhooks (transcripts) from this provider.
    #[serde(default)]
    webhook_secret: Option<Secret>,
}

async fn build(
    store: Arc<dyn Store>,
    secrets: &Arc<dyn SecretSource>,
    row: ProviderRow,
) -> Result<ProviderHandle, ProviderError> {
    // References stay unresolved until a typed parse reads them (see telephony::secret).
    let mut config = row.config.clone();
    let webhook_secret = parse_config::<Common>(&config, secrets)?.webhook_secret;
    let (tx, rx) = mpsc::channel(1024);
    let (provider, vendor): (Arc<dyn TelephonyProvider>, TelephonyVendor) = match row.kind.as_str() {
        "simulator" => {
            // Callers are the business's leads and calls arrive at the numbers this
            // provider carries, unless the config names them.
            let obj = config
                .as_object_mut()
                .ok_or_else(|| ProviderError::Config("config must be a JSON object".into()))?;
            if !obj.contains_key("callers") {
                let leads = store
                    .leads(
                        row.business_id,
                        &LeadQuery {
                            phone: None,
                            limit: Some(200),
                        },
                    )
                    .await
                    .map_err(|e| ProviderError::Config(e.to_string()))?;
                obj.insert("callers".into(), leads.into_iter().map(|l| l.phone).collect());
            }
            if !obj.contains_key("service_numbers") {
                let numbers = store
                    .numbers(row.business_id)
                    .await
                    .map_err(|e| ProviderError::Config(e.to_string()))?;
                let mine = numbers
                    .into_iter()
                    .filter(|n| n.provider_id == row.id && n.capabilities.inbound);
                obj.insert("service_numbers".into(), mine.map(|n| n.e164.to_string()).collect());
            }
            let sim = Simulator::new(SimulatorConfig::parse(&config, secrets)?, tx)?;
            let orphans = store
                .live_calls_of_provider(row.id)
                .await
                .map_err(|e| ProviderError::Config(e.to_string()))?;
            let orphans: Vec<_> = orphans
                .iter()
                .map(|c| (crate::actions::call_ref(c), c.status))
                .collect();
            if !orphans.is_empty() {
                tracing::info!(provider = %row.name, calls = orphans.len(), "ending simulated calls left over from the last run");
                let sim = sim.clone();
                tokio::spawn(async move { sim.hang_up_orphans(&orphans).await });
            }
            sim.start();
            (Arc::new(sim), TelephonyVendor::Simulator)
        }
        other => {
            return Err(ProviderError::Config(format!(
                "provider kind {other:?} is not available in this build (available: simulator)"
            )));
        }
    };
    provider.validate_config()?;
    let handle = ProviderHandle {
        row,
        provider,
        vendor,
        webhook_secret,
    };
    tokio::spawn(drain(store, handle.row.clone(), rx));
    Ok(handle)
}

/// Feed a provider's in-process events into the store. A database failure is retried with
/// backoff, never dropped: the provider has no other copy.
async fn drain(store: Arc<dyn Store>, row: ProviderRow, mut rx: mpsc::Receiver<ProviderEvent>) {
    while let Some(ev) = rx.recv().await {
        let mut backoff = Duration::from_millis(100);
        loop {
            match crate::ingest::ingest(&*store, &row, &ev).await {
                Ok(_) => break,
                Err(StoreError::UnknownCall(m)) => {
                    tracing::warn!(provider = %row.name, reason = %m, "provider event for an unknown call");
                    break;
                }
                Err(StoreError::Database(e)) => {
                    tracing::warn!(provider = %row.name, error = %e, "could not store provider event; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(provider = %row.name, error = %e, "provider event rejected");
                    break;
                }
            }
        }
    }
}
