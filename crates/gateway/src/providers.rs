//! The running providers. Each enabled `telephony_providers` row is built by
//! `switchboard_telephony::registry` (the gateway never names a provider kind), given the
//! calls the last run left live to reconcile, and fed into [`crate::ingest`] by a task of
//! its own.
//!
//! A provider can be replaced while the gateway runs ([`Providers::reload`]): the new
//! instance takes new calls at once, and the old one is *retired*: it starts nothing new
//! but keeps carrying the calls it had until they end ([`Providers::for_call`] finds it by
//! the call's start time).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use switchboard_core::api::LeadQuery;
use switchboard_core::{CallRecord, ProviderId};
use switchboard_telephony::registry::{self, Carry, Clock, ProviderContext, SystemClock};
use switchboard_telephony::secret::{Secret, SecretSource, parse_config};
use switchboard_telephony::{LiveCall, ProviderError, ProviderEvent, TelephonyProvider};
use tokio::sync::mpsc;

use crate::secrets::Secrets;
use crate::store::{ProviderRow, Store, StoreError};

/// One running provider instance.
#[derive(Debug)]
pub struct ProviderHandle {
    /// Its row as it was when this instance was built.
    pub row: ProviderRow,
    /// The implementation.
    pub provider: Arc<dyn TelephonyProvider>,
    /// Secret for Switchboard-format webhooks (transcripts), if configured.
    pub webhook_secret: Option<Secret>,
    /// When this instance started taking calls (ms since the epoch).
    pub started_at: i64,
}

impl ProviderHandle {
    /// The carrier name its call ids are qualified with.
    pub fn vendor(&self) -> switchboard_core::TelephonyVendor {
        self.provider.vendor()
    }
}

#[derive(Debug, Default)]
struct Running {
    current: HashMap<ProviderId, Arc<ProviderHandle>>,
    by_name: HashMap<String, ProviderId>,
    /// Replaced instances still carrying calls they started with.
    retired: Vec<Arc<ProviderHandle>>,
    /// What each provider's instances hand on to the next (calls in progress).
    carry: HashMap<ProviderId, Arc<Carry>>,
}

/// All running providers.
#[derive(Debug)]
pub struct Providers {
    running: RwLock<Running>,
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretSource>,
    public_url: String,
    clock: Arc<dyn Clock>,
}

impl Providers {
    /// Build and start every enabled provider. A provider whose configuration is wrong is
    /// logged and left out, so one bad row does not take the gateway down.
    /// From then on, provider and number changes read from `bus` (whichever replica made
    /// them) reload the providers they touch.
    pub async fn start(
        store: Arc<dyn Store>,
        secrets: &Secrets,
        public_url: &str,
        bus: &crate::bus::Bus,
    ) -> Result<Arc<Self>, StoreError> {
        let changes = bus.subscribe();
        let this = Arc::new(Self {
            running: RwLock::new(Running::default()),
            store: store.clone(),
            secrets: Arc::new(secrets.clone()),
            public_url: public_url.trim_end_matches('/').to_owned(),
            clock: Arc::new(SystemClock),
        });
        for row in store.providers().await? {
            let live = store.live_calls_of_provider(row.id).await?;
            let live: Vec<LiveCall> = live
                .iter()
                .map(|c| LiveCall {
                    call: crate::actions::call_ref(c),
                    status: c.status,
                })
                .collect();
            match this.build(row.clone(), &live).await {
                Ok(handle) => {
                    this.install(handle);
                }
                Err(e) => {
                    tracing::error!(provider = %row.name, kind = %row.kind, error = %e, "provider not started")
                }
            }
        }
        tokio::spawn(follow_changes(Arc::downgrade(&this), changes));
        Ok(this)
    }

    /// Reload every provider (after missing change events).
    async fn reload_all(&self) {
        let mut ids: Vec<ProviderId> = self.read().current.keys().copied().collect();
        if let Ok(rows) = self.store.providers().await {
            ids.extend(rows.iter().map(|r| r.id));
        }
        ids.sort_unstable_by_key(|id| id.get());
        ids.dedup();
        for id in ids {
            if let Err(e) = self.reload(id).await {
                tracing::error!(provider = %id, error = %e, "provider not reloaded");
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Running> {
        self.running.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Running> {
        self.running.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where `secret:NAME` references resolve.
    pub fn secrets(&self) -> Arc<dyn SecretSource> {
        self.secrets.clone()
    }

    /// The current instance of a provider.
    pub fn get(&self, id: ProviderId) -> Option<Arc<ProviderHandle>> {
        self.read().current.get(&id).cloned()
    }

    /// The state provider `id`'s instances share across reloads.
    fn carry(&self, id: ProviderId) -> Arc<Carry> {
        self.write().carry.entry(id).or_default().clone()
    }

    /// The current instance by configured name.
    pub fn by_name(&self, name: &str) -> Option<Arc<ProviderHandle>> {
        let r = self.read();
        r.by_name.get(name).and_then(|id| r.current.get(id)).cloned()
    }

    /// The instance carrying `call`: the one that was current when the call started, so a
    /// call keeps its provider through a configuration change.
    pub fn for_call(&self, call: &CallRecord) -> Option<Arc<ProviderHandle>> {
        let id = call.provider_id?;
        let r = self.read();
        let current = r.current.get(&id);
        if current.is_some_and(|h| h.started_at <= call.created_at) {
            return current.cloned();
        }
        r.retired
            .iter()
            .filter(|h| h.row.id == id && h.started_at <= call.created_at)
            .max_by_key(|h| h.started_at)
            .or(current)
            .cloned()
    }

    /// How many providers are running (current instances).
    pub fn len(&self) -> usize {
        self.read().current.len()
    }

    /// None running?
    pub fn is_empty(&self) -> bool {
        self.read().current.is_empty()
    }

    /// Bring provider `id` in line with its row: a new instance for a changed row, none for
    /// a removed or disabled one. Either way the instance it replaces retires and keeps
    /// its calls. A row that cannot be built leaves the old instance running and says why.
    pub async fn reload(&self, id: ProviderId) -> Result<(), ProviderError> {
        let rows = self
            .store
            .providers()
            .await
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        match rows.into_iter().find(|r| r.id == id) {
            Some(row) => {
                let handle = self.build(row, &[]).await?;
                self.install(handle);
            }
            None => {
                let mut r = self.write();
                r.by_name.retain(|_, p| *p != id);
                // The retired instance keeps its own reference while it carries calls.
                r.carry.remove(&id);
                if let Some(old) = r.current.remove(&id) {
                    old.provider.retire();
                    r.retired.push(old);
                }
            }
        }
        self.sweep().await;
        Ok(())
    }

    /// Let go of retired instances that no longer carry a live call.
    pub async fn sweep(&self) {
        let retired: Vec<Arc<ProviderHandle>> = self.read().retired.clone();
        let mut done = Vec::new();
        for h in retired {
            let Ok(live) = self.store.live_calls_of_provider(h.row.id).await else {
                continue;
            };
            let carried = live
                .iter()
                .any(|c| self.for_call(c).is_some_and(|carrier| Arc::ptr_eq(&carrier, &h)));
            if !carried {
                done.push(h);
            }
        }
        if !done.is_empty() {
            self.write().retired.retain(|h| !done.iter().any(|d| Arc::ptr_eq(d, h)));
        }
    }

    /// Make `handle` the current instance of its provider; the one it replaces retires.
    fn install(&self, handle: ProviderHandle) {
        let handle = Arc::new(handle);
        let mut r = self.write();
        r.by_name.retain(|_, id| *id != handle.row.id);
        r.by_name.insert(handle.row.name.clone(), handle.row.id);
        if let Some(old) = r.current.insert(handle.row.id, handle) {
            old.provider.retire();
            r.retired.push(old);
        }
    }

    /// Build one provider from its row and reconcile it with `live`.
    async fn build(&self, row: ProviderRow, live: &[LiveCall]) -> Result<ProviderHandle, ProviderError> {
        let store_err = |e: StoreError| ProviderError::Config(e.to_string());
        // References stay unresolved until a typed parse reads them (see telephony::secret).
        let webhook_secret = parse_config::<Common>(&row.config, &self.secrets)?.webhook_secret;
        let numbers = self.store.numbers(row.business_id).await.map_err(store_err)?;
        let lead_phones = self
            .store
            .leads(
                row.business_id,
                &LeadQuery {
                    phone: None,
                    limit: Some(200),
                },
            )
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|l| l.phone)
            .collect();
        let (tx, rx) = mpsc::channel(1024);
        let ctx = ProviderContext {
            provider_id: row.id,
            name: row.name.clone(),
            numbers: numbers.into_iter().filter(|n| n.provider_id == row.id).collect(),
            lead_phones,
            sink: tx,
            public_url: self.public_url.clone(),
            clock: self.clock.clone(),
            secrets: self.secrets.clone(),
            carry: self.carry(row.id),
        };
        let provider = registry::build(&row.kind, &row.config, ctx)?;
        let started_at = self.clock.now_ms();
        let row = ProviderRow {
            capabilities: Some(provider.capabilities()),
            ..row
        };
        tokio::spawn(drain(self.store.clone(), row.clone(), rx));
        provider.reconcile(live).await?;
        Ok(ProviderHandle {
            row,
            provider,
            webhook_secret,
            started_at,
        })
    }
}

/// The providers a change event touches.
fn touched(ev: &switchboard_core::StreamEvent) -> Vec<ProviderId> {
    use switchboard_core::StreamEventKind::{NumberChanged, ProviderChanged};
    let ids = match ev.kind {
        ProviderChanged => vec![ev.data["provider_id"].clone()],
        NumberChanged => ev.data["provider_ids"].as_array().cloned().unwrap_or_default(),
        _ => return Vec::new(),
    };
    ids.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect()
}

/// Apply provider and number changes as the realtime feeder reads them. Ends with the
/// gateway (when `Providers` is dropped).
async fn follow_changes(
    providers: std::sync::Weak<Providers>,
    mut changes: tokio::sync::broadcast::Receiver<Arc<crate::bus::BusEvent>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let ev = changes.recv().await;
        let Some(this) = providers.upgrade() else { return };
        match ev {
            Ok(ev) => {
                for id in touched(&ev.event) {
                    if let Err(e) = this.reload(id).await {
                        tracing::error!(provider = %id, error = %e, "provider change not applied; the previous instance keeps running");
                    }
                }
            }
            Err(RecvError::Lagged(_)) => this.reload_all().await,
            Err(RecvError::Closed) => return,
        }
    }
}

/// The part of every provider's config the gateway itself reads.
#[derive(Debug, Default, serde::Deserialize)]
struct Common {
    /// Signs Switchboard-format webhooks (transcripts) from this provider.
    #[serde(default)]
    webhook_secret: Option<Secret>,
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
