//! The supervisors' floor, computed once per change. Every board refetches the floor when
//! the event stream reports a change, so one call event brings every connected
//! supervisor's request at once; they share one computation. A floor is reused while the
//! business's newest event is the one it was computed at (every change to calls and agent
//! statuses is an event) and for at most [`MAX_AGE_MS`], which bounds what a change
//! without an event (an agent added from the command line) can leave stale. Figures that
//! move with time alone (time in status, waits) are given as of the floor's `at`; boards
//! add the time since.
//!
//! Each replica keeps its own: the event number comes from the database, so replicas agree
//! on when a floor is out of date.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchboard_core::BusinessId;
use switchboard_core::floor::Floor;

use crate::store::{Store, StoreResult};

/// The longest a computed floor is served.
pub const MAX_AGE_MS: i64 = 5_000;

#[derive(Debug)]
struct Computed {
    head: i64,
    floor: Arc<Floor>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Computed>>>;

/// The last floor of each (business, day start).
#[derive(Debug, Default)]
pub struct FloorCache {
    slots: Mutex<HashMap<(BusinessId, i64), Slot>>,
}

impl FloorCache {
    /// The floor of `business` for the day starting at `day_start`, as of `now`.
    pub async fn get(
        &self,
        store: &dyn Store,
        business: BusinessId,
        day_start: i64,
        now: i64,
    ) -> StoreResult<Arc<Floor>> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            // Yesterday's floors are not asked for again.
            slots.retain(|(_, d), _| now - d < 8 * 24 * 3_600_000);
            slots.entry((business, day_start)).or_default().clone()
        };
        // Requests for the same floor wait for one computation instead of each running it.
        let mut computed = slot.lock().await;
        let head = store.last_event_id(business).await?;
        if let Some(c) = computed.as_ref() {
            if c.head == head && now - c.floor.at < MAX_AGE_MS {
                return Ok(c.floor.clone());
            }
        }
        let (agents, data) = tokio::try_join!(store.agents(business), store.floor_data(business, day_start))?;
        let floor = Arc::new(Floor::compute(
            now,
            day_start,
            &agents,
            &data.queues,
            &data.live,
            &data.offered,
        ));
        *computed = Some(Computed {
            head,
            floor: floor.clone(),
        });
        Ok(floor)
    }
}
