//! The provider-event path inside one transaction: correlate the call (call_sid -> vendor
//! id -> platform id -> service-number fallback), dedupe by receipt before any write, merge
//! with core's rules, route new inbound calls, and append the stream events.

use sqlx::AnyConnection;
use switchboard_core::api::TranscriptTurnIn;
use switchboard_core::{
    BusinessId, CallRecord, CallSid, CallStatus, Direction, LeadId, NormalizedCallEvent, NumberId, QueueId,
    StreamEventKind, TranscriptTurn,
};

use super::super::rows::{CALL_INSERT, CALL_UPDATE, bind_call};
use super::super::{IngestOutcome, Ingested, ProviderRow, StoreError, StoreResult};
use super::{Backend, Bind, Created, NewEvent, Receipt, SqlStore, now_ms, record_json};
use crate::policy;

/// A merge that would give a call an id another call of the business already has: the
/// event contradicts what is stored. Not a database failure to retry (that would wedge the
/// provider's event queue behind it), so it is refused with both calls named.
fn id_taken(e: sqlx::Error, rec: &CallRecord) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(format!(
            "call {}: its vendor id {:?} or voice platform id {:?} already belongs to another call",
            rec.call_sid, rec.vendor_call_id, rec.voice_platform_call_id
        )),
        _ => StoreError::Database(e),
    }
}

/// The statuses of a call still in progress, as the fallback lookup of [`correlate`]
/// spells them: word for word the condition of the partial index `call_records_live`
/// (migrations `*_live_calls_index.sql`), which both databases use only for a query
/// whose condition contains the index's.
///
/// [`correlate`]: SqlStore::correlate
const LIVE: &str = "('ringing', 'queued', 'answered', 'on_hold', 'transferred')";

/// Records that `ev` was received, for the call it concerns; false when it was received
/// before (a redelivery). It is the transaction's first write, after the lookups only: a
/// redelivered event stops here, and under PostgreSQL a concurrent copy waits on the
/// unique key until this transaction ends, then finds the receipt. Writing the call's sid
/// with it saves a second statement per webhook.
async fn receipt(
    conn: &mut AnyConnection,
    provider: &ProviderRow,
    ev: &NormalizedCallEvent,
    sid: &CallSid,
) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_receipts (provider_id, event_id, call_sid, received_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(provider.id.get())
    .bind(ev.event_id.clone())
    .bind(sid.to_string())
    .bind(now_ms())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// What a provider event's write stores beside the call: its receipt, and the stream
/// event (`payload` is the record's JSON).
fn receipt_and_event<'a>(
    provider: &ProviderRow,
    ev: &'a NormalizedCallEvent,
    rec: &'a CallRecord,
    kind: StreamEventKind,
    payload: &'a str,
    now: i64,
) -> (Receipt<'a>, NewEvent<'a>) {
    let seen = Receipt {
        provider: provider.id,
        event_id: &ev.event_id,
        received_at: now,
    };
    let event = NewEvent {
        business: rec.business_id,
        kind,
        call_sid: Some(&rec.call_sid),
        payload,
        created_at: now,
    };
    (seen, event)
}

/// Write the change `ev` made to its call, `rec`, with the event's receipt and the stream
/// event: false when the receipt shows a redelivery, and nothing is written. One statement
/// where the backend can, else three.
async fn update<B: Backend>(
    tx: &mut super::Tx<'_, B>,
    provider: &ProviderRow,
    ev: &NormalizedCallEvent,
    rec: &CallRecord,
) -> StoreResult<bool> {
    let payload = record_json(rec).to_string();
    let now = now_ms();
    let (seen, event) = receipt_and_event(provider, ev, rec, StreamEventKind::CallUpdated, &payload, now);
    let backend = tx.backend;
    match backend.receipt_update_append(tx.conn(), seen, rec, event).await {
        Ok(Some(fresh)) => {
            tx.appended += usize::from(fresh);
            return Ok(fresh);
        }
        Ok(None) => {}
        Err(e) => return Err(id_taken(e, rec)),
    }
    if !receipt(tx.conn(), provider, ev, &rec.call_sid).await? {
        return Ok(false);
    }
    bind_call(sqlx::query(&CALL_UPDATE), rec, now)
        .execute(tx.conn())
        .await
        .map_err(|e| id_taken(e, rec))?;
    backend.append(tx.conn(), event).await?;
    tx.appended += 1;
    Ok(true)
}

/// Store the new call `rec` that `ev` starts, with the event's receipt, its lead's link to
/// the call and the stream event. One statement where the backend can, else four.
async fn create<B: Backend>(
    tx: &mut super::Tx<'_, B>,
    provider: &ProviderRow,
    ev: &NormalizedCallEvent,
    rec: &CallRecord,
) -> StoreResult<Created> {
    let payload = record_json(rec).to_string();
    let now = now_ms();
    let (seen, event) = receipt_and_event(provider, ev, rec, StreamEventKind::CallCreated, &payload, now);
    let backend = tx.backend;
    if let Some(created) = backend.receipt_insert_append(tx.conn(), seen, rec, event).await? {
        tx.appended += usize::from(created == Created::Stored);
        return Ok(created);
    }
    if !receipt(tx.conn(), provider, ev, &rec.call_sid).await? {
        return Ok(Created::Redelivered);
    }
    let inserted = bind_call(sqlx::query(&CALL_INSERT), rec, now)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if inserted == 0 {
        return Ok(Created::Raced);
    }
    link_lead(tx.conn(), rec).await?;
    backend.append(tx.conn(), event).await?;
    tx.appended += 1;
    Ok(Created::Stored)
}

/// A redelivered event: nothing is written, and the answer names the call the first
/// delivery concerned.
async fn duplicate<B: Backend>(
    mut tx: super::Tx<'_, B>,
    provider: &ProviderRow,
    ev: &NormalizedCallEvent,
) -> StoreResult<Ingested> {
    let sid: Option<String> =
        sqlx::query_scalar("SELECT call_sid FROM webhook_receipts WHERE provider_id = $1 AND event_id = $2")
            .bind(provider.id.get())
            .bind(ev.event_id.clone())
            .fetch_optional(tx.conn())
            .await?
            .flatten();
    tx.rollback().await?;
    let call_sid = sid
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::UnknownCall(format!("event {} was seen but matched no call", ev.event_id)))?;
    Ok(Ingested {
        call_sid,
        outcome: IngestOutcome::Duplicate,
    })
}

impl<B: Backend> SqlStore<B> {
    pub(super) async fn ingest_call(&self, provider: &ProviderRow, ev: &NormalizedCallEvent) -> StoreResult<Ingested> {
        let business = provider.business_id;
        // Two attempts: the second only runs when a concurrent writer created the same
        // call between our lookup and our insert.
        for _ in 0..2 {
            let mut tx = self.begin().await?;
            let (rec, outcome) = match self.correlate(tx.conn(), business, ev).await? {
                Some(mut rec) => {
                    // The merge is worked out first, in memory; nothing is written before
                    // the receipt shows the event is new.
                    let takeover = policy::takes_over(&rec, ev, provider.id);
                    let mut applied = rec.apply(ev);
                    if takeover {
                        rec.provider_id = Some(provider.id);
                        rec.capabilities = provider.capabilities;
                        applied.changed = true;
                    }
                    if applied.changed
                        && applied.to == CallStatus::Transferred
                        && applied.from != CallStatus::Transferred
                    {
                        // The gateway, not the provider, decides who gets a transferred call.
                        rec.agent_id = policy::holder_after_transfer(&rec);
                    }
                    let fresh = if applied.changed {
                        update(&mut tx, provider, ev, &rec).await?
                    } else {
                        receipt(tx.conn(), provider, ev, &rec.call_sid).await?
                    };
                    if !fresh {
                        return duplicate(tx, provider, ev).await;
                    }
                    if takeover {
                        tracing::info!(call_sid = %rec.call_sid, provider = %provider.name,
                            "the voice platform's provider controls the call from now on");
                    }
                    if !applied.in_order {
                        tracing::info!(call_sid = %rec.call_sid, from = %applied.from, to = %applied.to, event = %ev.event_id,
                            "status skipped a step; an earlier event is missing or late");
                    }
                    let outcome = if applied.changed {
                        IngestOutcome::Updated
                    } else {
                        IngestOutcome::Unchanged
                    };
                    (rec, outcome)
                }
                None => {
                    // An event that names our call_sid refers to an existing call; when
                    // that call is not in this business it must not start a new one.
                    let created = match ev.call_sid {
                        Some(_) => None,
                        None => CallRecord::inbound(crate::new_call_sid(), business, ev),
                    };
                    let Some(mut rec) = created else {
                        tx.rollback().await?;
                        let what = serde_json::json!({
                            "provider": provider.name, "event_id": ev.event_id, "call_sid": ev.call_sid,
                            "vendor_call_id": ev.vendor_call_id, "voice_platform_call_id": ev.voice_platform_call_id,
                            "status": ev.status, "reason": "no call matches this event and it cannot start one",
                        });
                        self.audit_unknown(provider, what).await?;
                        return Err(StoreError::UnknownCall(describe(ev)));
                    };
                    rec.provider_id = Some(provider.id);
                    rec.capabilities = provider.capabilities;
                    // Reads only: nothing is written before the receipt shows the event is new.
                    self.route_inbound(tx.conn(), &mut rec).await?;
                    match create(&mut tx, provider, ev, &rec).await? {
                        Created::Redelivered => return duplicate(tx, provider, ev).await,
                        Created::Raced => {
                            tx.rollback().await?;
                            continue;
                        }
                        Created::Stored => (rec, IngestOutcome::Created),
                    }
                }
            };
            tx.commit().await?;
            return Ok(Ingested {
                call_sid: rec.call_sid,
                outcome,
            });
        }
        Err(StoreError::Conflict(format!(
            "event {} raced with another writer twice; retry",
            ev.event_id
        )))
    }

    pub(super) async fn ingest_turns(
        &self,
        provider: &ProviderRow,
        sid: &CallSid,
        turns: &[TranscriptTurnIn],
    ) -> StoreResult<usize> {
        let business = provider.business_id;
        let mut tx = self.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT call_sid FROM call_records WHERE call_sid = $1 AND business_id = $2")
                .bind(sid.to_string())
                .bind(business.get())
                .fetch_optional(tx.conn())
                .await?;
        if exists.is_none() {
            tx.rollback().await?;
            let what = serde_json::json!({ "provider": provider.name, "call_sid": sid, "turns": turns.len(),
                "reason": "transcript for a call this business does not have" });
            self.audit_unknown(provider, what).await?;
            return Err(StoreError::UnknownCall(format!("no call {sid} in this business")));
        }
        let mut stored = 0;
        for t in turns {
            let n = sqlx::query(
                "INSERT INTO conversation_transcripts (business_id, call_sid, role, content, occurred_at, sequence, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(business.get())
            .bind(sid.to_string())
            .bind(t.role.as_str())
            .bind(t.content.clone())
            .bind(t.occurred_at)
            .bind(t.sequence)
            .bind(provider.name.clone())
            .execute(tx.conn())
            .await?
            .rows_affected();
            if n == 1 {
                let turn = TranscriptTurn {
                    call_sid: sid.clone(),
                    role: t.role,
                    content: t.content.clone(),
                    occurred_at: t.occurred_at,
                    sequence: t.sequence,
                };
                let data = serde_json::to_value(&turn).unwrap_or_default();
                tx.append(business, StreamEventKind::TranscriptTurn, Some(sid), &data)
                    .await?;
                stored += 1;
            }
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Find the call an event belongs to, in the documented order: call_sid, then
    /// (vendor, vendor_call_id), then (platform, voice_platform_call_id), then the newest
    /// in-progress call on the same service number that lacks the event's ids.
    pub(super) async fn correlate(
        &self,
        tx: &mut AnyConnection,
        business: BusinessId,
        ev: &NormalizedCallEvent,
    ) -> StoreResult<Option<CallRecord>> {
        let b = Bind::Int(business.get());
        if let Some(sid) = &ev.call_sid {
            // An explicit sid that is not ours is unknown; guessing would merge strangers.
            return self
                .call_in_tx(
                    tx,
                    "c.call_sid = $1 AND c.business_id = $2",
                    &[Bind::Text(sid.as_str()), b],
                )
                .await;
        }
        if let (Some(v), Some(id)) = (&ev.telephony_vendor, &ev.vendor_call_id) {
            let found = self
                .call_in_tx(
                    tx,
                    "c.telephony_vendor = $1 AND c.vendor_call_id = $2 AND c.business_id = $3",
                    &[Bind::Text(v.as_str()), Bind::Text(id), b],
                )
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        if let (Some(p), Some(id)) = (&ev.voice_platform, &ev.voice_platform_call_id) {
            let found = self
                .call_in_tx(
                    tx,
                    "c.voice_platform = $1 AND c.voice_platform_call_id = $2 AND c.business_id = $3",
                    &[Bind::Text(p.as_str()), Bind::Text(id), b],
                )
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(service) = ev.service_number() else {
            return Ok(None);
        };
        let mut filter =
            format!("c.business_id = $1 AND c.service_number = $2 AND c.created_at >= $3 AND c.status IN {LIVE}");
        if ev.vendor_call_id.is_some() {
            filter.push_str(" AND c.vendor_call_id IS NULL");
        }
        if ev.voice_platform_call_id.is_some() {
            filter.push_str(" AND c.voice_platform_call_id IS NULL");
        }
        if let Some(d) = ev.direction {
            filter.push_str(if d == Direction::Inbound {
                " AND c.direction = 'inbound'"
            } else {
                " AND c.direction = 'outbound'"
            });
        }
        filter.push_str(" ORDER BY c.created_at DESC, c.call_sid DESC LIMIT 1");
        let since = Bind::Int(policy::fallback_since(ev.occurred_at, now_ms()));
        self.call_in_tx(tx, &filter, &[b, Bind::Text(service), since]).await
    }

    /// Routing for a new inbound call: the number it rang, the lead who called, the
    /// business's default queue. Providers never decide these.
    pub(super) async fn route_inbound(&self, tx: &mut AnyConnection, rec: &mut CallRecord) -> StoreResult<()> {
        // One statement (a round trip on PostgreSQL): the number and the lead are unique
        // per business, and the outer join keeps their row when the business has no queues.
        // (number, lead, queue, is_default): the first two repeated on every queue's row.
        type Row = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT (SELECT id FROM business_phone_numbers \
                     WHERE business_id = $1 AND e164 = $2 AND removed_at IS NULL), \
                    (SELECT id FROM leads WHERE business_id = $1 AND phone = $3), \
                    q.id, q.is_default \
             FROM (SELECT 1 AS one) AS one LEFT JOIN queues q ON q.business_id = $1",
        )
        .bind(rec.business_id.get())
        .bind(rec.to.clone())
        .bind(rec.from.clone())
        .fetch_all(&mut *tx)
        .await?;
        let (number, lead) = rows.first().map_or((None, None), |r| (r.0, r.1));
        let queues: Vec<(i64, i64)> = rows.iter().filter_map(|r| Some((r.2?, r.3?))).collect();
        let corrupt = |e: switchboard_core::IdError| StoreError::Corrupt(e.to_string());
        let queues = queues
            .into_iter()
            .map(|(id, d)| {
                Ok(policy::QueueFacts {
                    id: QueueId::try_from(id).map_err(corrupt)?,
                    is_default: d == 1,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let routing = policy::route_inbound(
            number.map(NumberId::try_from).transpose().map_err(corrupt)?,
            lead.map(LeadId::try_from).transpose().map_err(corrupt)?,
            &queues,
        );
        rec.number_id = routing.number;
        rec.lead_id = routing.lead;
        rec.queue_id = routing.queue;
        Ok(())
    }

    pub(super) async fn audit_unknown(&self, provider: &ProviderRow, what: serde_json::Value) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.append(provider.business_id, StreamEventKind::WebhookRejected, None, &what)
            .await?;
        tx.commit().await
    }
}

/// A new call's lead (the caller, when routing matched one) points at it from now on.
pub(super) async fn link_lead(tx: &mut AnyConnection, rec: &CallRecord) -> StoreResult<()> {
    if let Some(lead) = rec.lead_id {
        sqlx::query("UPDATE leads SET call_sid = $1, updated_at = $2 WHERE id = $3 AND business_id = $4")
            .bind(rec.call_sid.to_string())
            .bind(now_ms())
            .bind(lead.get())
            .bind(rec.business_id.get())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

fn describe(ev: &NormalizedCallEvent) -> String {
    let ids: Vec<String> = [
        ev.call_sid.as_ref().map(|s| format!("call_sid {s}")),
        ev.vendor_call_id.as_ref().map(|s| format!("vendor_call_id {s}")),
        ev.voice_platform_call_id
            .as_ref()
            .map(|s| format!("voice_platform_call_id {s}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if ids.is_empty() {
        "the event names no call".into()
    } else {
        format!("no call matches {}", ids.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_call_index_covers_the_domains_live_statuses() {
        let domain: Vec<String> = CallStatus::ALL
            .iter()
            .filter(|s| !s.is_terminal())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(LIVE, format!("({})", domain.join(", ")));
        for migration in [
            include_str!("../../../../../migrations/gateway-sqlite/0007_live_calls_index.sql"),
            include_str!("../../../../../migrations/gateway-postgres/0008_live_calls_index.sql"),
        ] {
            assert!(migration.contains(&format!("WHERE status IN {LIVE};")), "{migration}");
        }
    }
}
