//! Where provider reports enter the store: the same function for webhooks and in-process
//! providers, so both take the one path.

use switchboard_core::CallSid;
use switchboard_telephony::ProviderEvent;

use crate::store::{ProviderRow, Store, StoreResult};

/// Store one provider report; returns the call it concerns. The store commits before this
/// returns, so a webhook acknowledged after it is durable.
pub async fn ingest(store: &dyn Store, provider: &ProviderRow, ev: &ProviderEvent) -> StoreResult<Option<CallSid>> {
    match ev {
        ProviderEvent::Call(ev) => Ok(Some(store.ingest_call_event(provider, ev).await?.call_sid)),
        ProviderEvent::Transcript { call_sid, turn } => {
            store
                .ingest_transcript(provider, call_sid, std::slice::from_ref(turn))
                .await?;
            Ok(Some(call_sid.clone()))
        }
        _ => Ok(None),
    }
}
