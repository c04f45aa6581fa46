//! Realtime fan-out. One feeder task per process reads committed `call_events` (woken by
//! the store after each commit, or by PostgreSQL NOTIFY from any replica) and broadcasts
//! them; WebSocket sessions filter by business. Each business numbers its events on its
//! own, so the feeder keeps one cursor per business: it compares every business's newest
//! number with what it forwarded and reads the difference in order. Reading from the table
//! instead of passing events along in memory is what keeps the order right across
//! concurrent writers and replicas.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{BusinessId, StreamEvent};
use tokio::sync::broadcast;

use crate::store::Store;

/// One event on its way to subscribers, serialised once for all of them.
#[derive(Debug)]
pub struct BusEvent {
    /// Whose event.
    pub business_id: BusinessId,
    /// The event.
    pub event: StreamEvent,
    /// Its JSON text, shared by every session that sends it unchanged (a clone is a
    /// reference count, not a copy).
    pub json: axum::extract::ws::Utf8Bytes,
}

/// The in-process broadcast. A subscriber that falls behind by more than the capacity is
/// told so (`Lagged`) and catches up from the database.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Arc<BusEvent>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with room for 4096 events per subscriber.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(4096).0,
        }
    }

    /// Listen to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BusEvent>> {
        self.tx.subscribe()
    }

    /// Start the feeder: from the current end of every business's log, forward every
    /// committed event.
    pub async fn start_feeder(
        &self,
        store: Arc<dyn Store>,
    ) -> Result<tokio::task::JoinHandle<()>, crate::store::StoreError> {
        let mut forwarded: HashMap<BusinessId, i64> = store.event_heads().await?.into_iter().collect();
        let tx = self.tx.clone();
        let wake = store.commits();
        Ok(tokio::spawn(async move {
            // Events a process killed between commit and numbering left behind.
            let mut idle = true;
            loop {
                if idle && let Err(e) = store.settle().await {
                    tracing::warn!(error = %e, "could not number left-over events; retrying");
                }
                // The timeout is a safety net for a wake-up lost with a dropped PostgreSQL
                // connection; normally the notification arrives first.
                idle = tokio::time::timeout(Duration::from_secs(1), wake.notified())
                    .await
                    .is_err();
                if let Err(e) = forward_new(&*store, &mut forwarded, &tx).await {
                    tracing::warn!(error = %e, "realtime feeder could not read events; retrying");
                }
            }
        }))
    }
}

/// Forward what every business appended since `forwarded`, business by business in order.
async fn forward_new(
    store: &dyn Store,
    forwarded: &mut HashMap<BusinessId, i64>,
    tx: &broadcast::Sender<Arc<BusEvent>>,
) -> Result<(), crate::store::StoreError> {
    for (business_id, head) in store.event_heads().await? {
        // A business created after the feeder started begins at 0.
        let last = forwarded.entry(business_id).or_insert(0);
        while *last < head {
            let events = store.events_since(business_id, *last, 500).await?;
            if events.is_empty() {
                break;
            }
            crate::metrics::events_forwarded(events.len() as u64);
            for event in events {
                *last = event.id;
                let json = serde_json::to_string(&event).unwrap_or_default();
                // No subscribers is fine: nobody is watching.
                let _ = tx.send(Arc::new(BusEvent {
                    business_id,
                    event,
                    json: json.into(),
                }));
            }
        }
    }
    Ok(())
}
