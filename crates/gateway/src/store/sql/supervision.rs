//! Supervisors on calls and attended transfers: the record's `monitors` and `consult`
//! change in one transaction with their audit event (`call_monitor`, `call_consult`), after
//! [`crate::policy`] approved the change against the call as it stands. Also the call's
//! audit trail, the business settings that say what agents are told, and the queues'
//! answer-time targets the floor measures against.

use switchboard_core::api::{BusinessSettings, QueueInfo, QueuePatch, SettingsPatch, TransferTarget};
use switchboard_core::{BusinessId, CallRecord, CallSid, QueueId, StreamEvent, StreamEventKind};

use super::super::rows::{EVENT_SELECT, EventRow, bind_call};
use super::super::{Principal, StoreError, StoreResult, Supervision};
use super::{Backend, Bind, SqlStore, Tx, now_ms};
use crate::policy::{self, MonitorChange};

/// The kinds of event that make up a call's audit trail.
const TRAIL: &str = "'call_action', 'call_action_failed', 'call_monitor', 'call_consult'";

impl<B: Backend> SqlStore<B> {
    pub(super) async fn supervise_call(
        &self,
        who: &Principal,
        sid: &CallSid,
        change: Supervision<'_>,
    ) -> StoreResult<CallRecord> {
        let mut tx = self.begin().await?;
        let mut rec = self
            .call_in_tx(
                tx.conn(),
                "c.call_sid = $1 AND c.business_id = $2",
                &[Bind::Text(sid.as_str()), Bind::Int(who.business_id.get())],
            )
            .await?
            .ok_or(StoreError::NotFound("call"))?;
        let actor = policy::Actor::from(who);
        let now = now_ms();
        let (kind, data) = match change {
            Supervision::Monitor { name, change } => {
                let was = rec.monitors.iter().find(|m| m.agent_id == who.agent_id).map(|m| m.mode);
                rec.monitors = policy::monitor(actor, name, &rec, change, now)?;
                let (verb, mode) = match change {
                    MonitorChange::Start(m) => ("start", Some(m)),
                    MonitorChange::Switch(m) => ("switch", Some(m)),
                    MonitorChange::Stop => ("stop", None),
                };
                let data = serde_json::json!({
                    "agent_id": who.agent_id, "name": name, "change": verb, "mode": mode, "was": was,
                });
                (StreamEventKind::CallMonitor, data)
            }
            Supervision::Consult { step, target } => {
                let in_business = match target {
                    Some(TransferTarget::Agent(a)) => Self::agent_in_tx(&mut tx, who.business_id, a.get()).await?,
                    _ => false,
                };
                let before = rec.consult.clone();
                let outcome = policy::consult(actor, &rec, step, target, in_business, now)?;
                let to = outcome.consult.as_ref().or(before.as_ref()).map(|c| c.to.clone());
                rec.consult = outcome.consult;
                if let Some(agent) = outcome.assign {
                    rec.agent_id = Some(agent);
                }
                if let Some(number) = outcome.transfer_to {
                    rec.transfer_to = Some(number);
                }
                let data = serde_json::json!({ "agent_id": who.agent_id, "step": step, "to": to });
                (StreamEventKind::CallConsult, data)
            }
        };
        bind_call(sqlx::query(&super::super::rows::CALL_UPDATE), &rec, now)
            .execute(tx.conn())
            .await?;
        let mut data = data;
        data["call"] = serde_json::to_value(&rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.append(who.business_id, kind, Some(sid), &data).await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn agent_in_tx(tx: &mut Tx<'_, B>, business: BusinessId, agent: i64) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM agents WHERE id = $1 AND business_id = $2")
            .bind(agent)
            .bind(business.get())
            .fetch_optional(tx.conn())
            .await?;
        Ok(found.is_some())
    }

    pub(super) async fn history_of(&self, business: BusinessId, sid: &CallSid) -> StoreResult<Vec<StreamEvent>> {
        let sql = format!(
            "SELECT {EVENT_SELECT} FROM call_events WHERE call_sid = $1 AND business_id = $2 \
             AND seq IS NOT NULL AND kind IN ({TRAIL}) ORDER BY seq"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(sid.to_string())
            .bind(business.get())
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(StreamEvent::try_from).collect()
    }

    pub(super) async fn settings_of(&self, business: BusinessId) -> StoreResult<BusinessSettings> {
        let announce: Option<i64> = sqlx::query_scalar("SELECT announce_listening FROM businesses WHERE id = $1")
            .bind(business.get())
            .fetch_optional(&self.read)
            .await?;
        let announce = announce.ok_or(StoreError::NotFound("business"))?;
        Ok(BusinessSettings {
            announce_listening: announce == 1,
        })
    }

    pub(super) async fn patch_settings(&self, who: &Principal, patch: &SettingsPatch) -> StoreResult<BusinessSettings> {
        if !policy::administers(who.role) {
            return Err(StoreError::Forbidden(
                "only admins change the business's settings".into(),
            ));
        }
        let mut tx = self.begin().await?;
        if let Some(a) = patch.announce_listening {
            sqlx::query("UPDATE businesses SET announce_listening = $1 WHERE id = $2")
                .bind(i64::from(a))
                .bind(who.business_id.get())
                .execute(tx.conn())
                .await?;
        }
        let announce: i64 = sqlx::query_scalar("SELECT announce_listening FROM businesses WHERE id = $1")
            .bind(who.business_id.get())
            .fetch_one(tx.conn())
            .await?;
        let settings = BusinessSettings {
            announce_listening: announce == 1,
        };
        let data = serde_json::json!({ "agent_id": who.agent_id, "settings": settings });
        tx.append(who.business_id, StreamEventKind::SettingsChanged, None, &data)
            .await?;
        tx.commit().await?;
        Ok(settings)
    }
}

impl<B: Backend> SqlStore<B> {
    pub(super) async fn patch_queue(&self, who: &Principal, id: QueueId, patch: &QueuePatch) -> StoreResult<QueueInfo> {
        if !policy::administers(who.role) {
            return Err(StoreError::Forbidden("only admins change queues".into()));
        }
        let mut tx = self.begin().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT name, service_level_secs FROM queues WHERE id = $1 AND business_id = $2")
                .bind(id.get())
                .bind(who.business_id.get())
                .fetch_optional(tx.conn())
                .await?;
        let (name, secs) = row.ok_or(StoreError::NotFound("queue"))?;
        let queue = QueueInfo {
            id,
            name: patch.name.as_ref().map_or(name, |n| n.trim().to_owned()),
            service_level_secs: patch.service_level_secs.unwrap_or(secs),
        };
        sqlx::query("UPDATE queues SET name = $1, service_level_secs = $2 WHERE id = $3")
            .bind(queue.name.clone())
            .bind(queue.service_level_secs)
            .bind(id.get())
            .execute(tx.conn())
            .await?;
        let data = serde_json::json!({ "agent_id": who.agent_id, "queue": queue });
        tx.append(who.business_id, StreamEventKind::QueueChanged, None, &data)
            .await?;
        tx.commit().await?;
        Ok(queue)
    }
}
