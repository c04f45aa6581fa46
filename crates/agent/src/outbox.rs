//! Actions that can wait for the network (status, wrap-up). Each is stored with an
//! idempotency key before anything is sent; the flusher sends them in order when online
//! and marks them sent. A crash between "sent" and "marked" makes it send again, and the
//! key makes the gateway apply it once.

use serde::{Deserialize, Serialize};
use switchboard_client::{Client, ClientError};
use switchboard_core::api::WrapUpRequest;
use switchboard_core::desktop::DesktopError;
use switchboard_core::{AgentStatus, CallSid};

use crate::cache::{Cache, now_ms};

/// One queued action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxItem {
    /// Set my status.
    Status {
        /// The status.
        status: AgentStatus,
    },
    /// Disposition and notes for a call.
    WrapUp {
        /// The call.
        call_sid: CallSid,
        /// Body.
        wrap_up: WrapUpRequest,
    },
}

/// Counts for the UI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting.
    pub pending: usize,
    /// Refused by the gateway.
    pub failed: usize,
}

fn err(e: impl std::fmt::Display) -> DesktopError {
    DesktopError::Cache(e.to_string())
}

/// Queue an action.
pub async fn enqueue(cache: &Cache, item: &OutboxItem) -> Result<(), DesktopError> {
    let kind = match item {
        OutboxItem::Status { .. } => "status",
        OutboxItem::WrapUp { .. } => "wrap_up",
    };
    sqlx::query("INSERT INTO outbox (kind, payload, idem_key, created_at) VALUES (?, ?, ?, ?)")
        .bind(kind)
        .bind(serde_json::to_string(item).map_err(err)?)
        .bind(format!("desk-{}", ulid::Ulid::new()))
        .bind(now_ms())
        .execute(cache.pool())
        .await
        .map_err(err)?;
    Ok(())
}

/// Pending and failed counts.
pub async fn counts(cache: &Cache) -> Result<OutboxCounts, DesktopError> {
    let (pending, failed): (i64, i64) =
        sqlx::query_as("SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0) FROM outbox")
            .fetch_one(cache.pool())
            .await
            .map_err(err)?;
    Ok(OutboxCounts {
        pending: pending as usize,
        failed: failed as usize,
    })
}

/// How a flush ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flush {
    /// Everything pending was sent (or refused for good).
    Done {
        /// Sent now.
        sent: usize,
    },
    /// The gateway is unreachable; the rest waits.
    Offline,
}

/// Send pending actions in order.
pub async fn flush(cache: &Cache, client: &Client) -> Result<Flush, DesktopError> {
    let mut sent = 0;
    loop {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, payload, idem_key FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1")
                .fetch_optional(cache.pool())
                .await
                .map_err(err)?;
        let Some((id, payload, key)) = row else {
            return Ok(Flush::Done { sent });
        };
        sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?")
            .bind(id)
            .execute(cache.pool())
            .await
            .map_err(err)?;
        let item: OutboxItem = serde_json::from_str(&payload).map_err(err)?;
        let result: Result<(), ClientError> = match &item {
            OutboxItem::Status { status } => client.set_status_once(*status, &key).await.map(|_| ()),
            OutboxItem::WrapUp { call_sid, wrap_up } => client.wrap_up(call_sid, wrap_up, Some(&key)).await.map(|_| ()),
        };
        match result {
            Ok(()) => {
                sqlx::query("UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?")
                    .bind(now_ms())
                    .bind(id)
                    .execute(cache.pool())
                    .await
                    .map_err(err)?;
                sent += 1;
            }
            // 4xx: the gateway will never take it; keep it, marked, so the agent sees why.
            Err(e) if e.status().is_some_and(|s| s.is_client_error()) => {
                sqlx::query("UPDATE outbox SET state = 'failed', last_error = ? WHERE id = ?")
                    .bind(e.to_string())
                    .bind(id)
                    .execute(cache.pool())
                    .await
                    .map_err(err)?;
            }
            Err(e) => {
                tracing::info!(error = %e, "outbox: gateway unavailable; will retry");
                sqlx::query("UPDATE outbox SET last_error = ? WHERE id = ?")
                    .bind(e.to_string())
                    .bind(id)
                    .execute(cache.pool())
                    .await
                    .map_err(err)?;
                return Ok(Flush::Offline);
            }
        }
    }
}
