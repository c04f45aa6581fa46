//! The offline cache: a SQLite file in the app's data directory. Every stream event is
//! applied in one transaction together with the cursor and an `applied_events` row, so a
//! restart resumes exactly where it stopped and a replayed event is skipped.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, Sqlite, Transaction};
use switchboard_core::desktop::{CallSummary, DesktopError};
use switchboard_core::{
    Agent, CallRecord, CallSid, Direction, Lead, LeadId, NumberId, PhoneNumber, StreamEvent, StreamEventKind,
    TranscriptTurn,
};

/// What applying one stream event changed, for the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Already applied before (a replay).
    Skipped,
    /// A call changed; `new_inbound` when it just started ringing for us.
    Call { call: CallRecord, new_inbound: bool },
    /// A transcript turn arrived.
    Turn(TranscriptTurn),
    /// An agent changed.
    Agent(Agent),
    /// A lead changed.
    Lead(Lead),
    /// The provider refused an action.
    ActionFailed { call_sid: Option<CallSid>, message: String },
    /// Nothing the console shows.
    Other,
}

fn cache_err(e: impl std::fmt::Display) -> DesktopError {
    DesktopError::Cache(e.to_string())
}

fn to_json<T: Serialize>(v: &T) -> Result<String, DesktopError> {
    serde_json::to_string(v).map_err(cache_err)
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, DesktopError> {
    serde_json::from_str(s).map_err(cache_err)
}

/// The cache.
#[derive(Debug, Clone)]
pub struct Cache {
    pool: SqlitePool,
}

impl Cache {
    /// Open (and create) `dir/cache.db`.
    pub async fn open(dir: &Path) -> Result<Self, DesktopError> {
        std::fs::create_dir_all(dir).map_err(cache_err)?;
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("cache.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(cache_err)?;
        sqlx::migrate!("../../migrations/desktop")
            .run(&pool)
            .await
            .map_err(cache_err)?;
        Ok(Self { pool })
    }

    /// A setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, DesktopError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(cache_err)
    }

    /// Set a setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), DesktopError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(cache_err)?;
        Ok(())
    }

    /// Forget everything (another gateway or agent signed in).
    pub async fn clear(&self) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        for table in [
            "calls",
            "leads",
            "transcripts",
            "numbers",
            "agents",
            "applied_events",
            "outbox",
            "number_choice",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await
                .map_err(cache_err)?;
        }
        sqlx::query("DELETE FROM settings WHERE key = 'cursor'")
            .execute(&mut *tx)
            .await
            .map_err(cache_err)?;
        tx.commit().await.map_err(cache_err)
    }

    /// The stream cursor (0 before the first sync).
    pub async fn cursor(&self) -> Result<i64, DesktopError> {
        Ok(self.setting("cursor").await?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Forget the cursor and the replay guard, keeping the cached records: the next sync
    /// starts from a snapshot under the gateway's current numbering.
    pub async fn forget_cursor(&self) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        for q in [
            "DELETE FROM applied_events",
            "DELETE FROM settings WHERE key = 'cursor'",
        ] {
            sqlx::query(q).execute(&mut *tx).await.map_err(cache_err)?;
        }
        tx.commit().await.map_err(cache_err)
    }

    /// Set the cursor after a snapshot.
    pub async fn set_cursor(&self, cursor: i64) -> Result<(), DesktopError> {
        self.set_setting("cursor", &cursor.to_string()).await
    }

    async fn upsert_call_tx(tx: &mut Transaction<'_, Sqlite>, c: &CallRecord) -> Result<(), DesktopError> {
        sqlx::query(
            "INSERT INTO calls (call_sid, created_at, status, direction, from_number, to_number, lead_id, record) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_sid) DO UPDATE SET status = excluded.status, \
             lead_id = excluded.lead_id, record = excluded.record",
        )
        .bind(c.call_sid.as_str())
        .bind(c.created_at)
        .bind(c.status.as_str())
        .bind(c.direction.as_str())
        .bind(&c.from)
        .bind(&c.to)
        .bind(c.lead_id.map(LeadId::get))
        .bind(to_json(c)?)
        .execute(&mut **tx)
        .await
        .map_err(cache_err)?;
        Ok(())
    }

    /// Store a call.
    pub async fn upsert_call(&self, c: &CallRecord) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        Self::upsert_call_tx(&mut tx, c).await?;
        tx.commit().await.map_err(cache_err)
    }

    async fn upsert_lead_tx(tx: &mut Transaction<'_, Sqlite>, l: &Lead) -> Result<(), DesktopError> {
        sqlx::query(
            "INSERT INTO leads (id, phone, name, record) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET \
             phone = excluded.phone, name = excluded.name, record = excluded.record",
        )
        .bind(l.id.get())
        .bind(&l.phone)
        .bind(&l.name)
        .bind(to_json(l)?)
        .execute(&mut **tx)
        .await
        .map_err(cache_err)?;
        Ok(())
    }

    /// Store leads.
    pub async fn upsert_leads(&self, leads: &[Lead]) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        for l in leads {
            Self::upsert_lead_tx(&mut tx, l).await?;
        }
        tx.commit().await.map_err(cache_err)
    }

    async fn insert_turn_tx(tx: &mut Transaction<'_, Sqlite>, t: &TranscriptTurn) -> Result<(), DesktopError> {
        sqlx::query("INSERT OR IGNORE INTO transcripts (call_sid, sequence, turn) VALUES (?, ?, ?)")
            .bind(t.call_sid.as_str())
            .bind(t.sequence)
            .bind(to_json(t)?)
            .execute(&mut **tx)
            .await
            .map_err(cache_err)?;
        Ok(())
    }

    /// Store a call with its lead and transcript (from `GET /v1/calls/{sid}`).
    pub async fn store_detail(
        &self,
        c: &CallRecord,
        lead: Option<&Lead>,
        turns: &[TranscriptTurn],
    ) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        Self::upsert_call_tx(&mut tx, c).await?;
        if let Some(l) = lead {
            Self::upsert_lead_tx(&mut tx, l).await?;
        }
        for t in turns {
            Self::insert_turn_tx(&mut tx, t).await?;
        }
        tx.commit().await.map_err(cache_err)
    }

    /// Replace the numbers and agents, and store calls (a snapshot).
    pub async fn store_snapshot(
        &self,
        numbers: &[PhoneNumber],
        agents: &[Agent],
        calls: &[CallRecord],
        leads: &[Lead],
        cursor: i64,
    ) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        sqlx::query("DELETE FROM numbers")
            .execute(&mut *tx)
            .await
            .map_err(cache_err)?;
        for n in numbers {
            sqlx::query("INSERT INTO numbers (id, record) VALUES (?, ?)")
                .bind(n.id.get())
                .bind(to_json(n)?)
                .execute(&mut *tx)
                .await
                .map_err(cache_err)?;
        }
        for a in agents {
            Self::upsert_agent_tx(&mut tx, a).await?;
        }
        for c in calls {
            Self::upsert_call_tx(&mut tx, c).await?;
        }
        for l in leads {
            Self::upsert_lead_tx(&mut tx, l).await?;
        }
        if cursor > 0 {
            sqlx::query("INSERT INTO settings (key, value) VALUES ('cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(cursor.to_string())
                .execute(&mut *tx)
                .await
                .map_err(cache_err)?;
        }
        tx.commit().await.map_err(cache_err)
    }

    /// Replace the numbers (an admin changed them).
    pub async fn replace_numbers(&self, numbers: &[PhoneNumber]) -> Result<(), DesktopError> {
        self.store_snapshot(numbers, &[], &[], &[], 0).await
    }

    async fn upsert_agent_tx(tx: &mut Transaction<'_, Sqlite>, a: &Agent) -> Result<(), DesktopError> {
        sqlx::query(
            "INSERT INTO agents (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        )
        .bind(a.id.get())
        .bind(to_json(a)?)
        .execute(&mut **tx)
        .await
        .map_err(cache_err)?;
        Ok(())
    }

    /// Store one agent (a local status change).
    pub async fn upsert_agent(&self, a: &Agent) -> Result<(), DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        Self::upsert_agent_tx(&mut tx, a).await?;
        tx.commit().await.map_err(cache_err)
    }

    /// Apply one stream event, with the cursor, in one transaction.
    pub async fn apply(&self, ev: &StreamEvent) -> Result<Applied, DesktopError> {
        let mut tx = self.pool.begin().await.map_err(cache_err)?;
        let fresh = sqlx::query("INSERT OR IGNORE INTO applied_events (id, applied_at) VALUES (?, ?)")
            .bind(ev.id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(cache_err)?
            .rows_affected()
            == 1;
        if !fresh {
            return Ok(Applied::Skipped);
        }
        let applied = match ev.kind {
            StreamEventKind::CallCreated
            | StreamEventKind::CallUpdated
            | StreamEventKind::CallAction
            | StreamEventKind::CallMonitor
            | StreamEventKind::CallConsult => {
                // Actions, monitoring and consults carry the record after them as `call`.
                let data = match ev.kind {
                    StreamEventKind::CallCreated | StreamEventKind::CallUpdated => &ev.data,
                    _ => &ev.data["call"],
                };
                let call: CallRecord = serde_json::from_value(data.clone()).map_err(cache_err)?;
                Self::upsert_call_tx(&mut tx, &call).await?;
                let new_inbound = ev.kind == StreamEventKind::CallCreated && call.direction == Direction::Inbound;
                Applied::Call { call, new_inbound }
            }
            StreamEventKind::TranscriptTurn => {
                let t: TranscriptTurn = serde_json::from_value(ev.data.clone()).map_err(cache_err)?;
                Self::insert_turn_tx(&mut tx, &t).await?;
                Applied::Turn(t)
            }
            StreamEventKind::AgentStatus => {
                let a: Agent = serde_json::from_value(ev.data.clone()).map_err(cache_err)?;
                Self::upsert_agent_tx(&mut tx, &a).await?;
                Applied::Agent(a)
            }
            StreamEventKind::LeadUpdated => {
                let l: Lead = serde_json::from_value(ev.data.clone()).map_err(cache_err)?;
                Self::upsert_lead_tx(&mut tx, &l).await?;
                Applied::Lead(l)
            }
            StreamEventKind::CallActionFailed => Applied::ActionFailed {
                call_sid: ev.call_sid.clone(),
                message: ev.data["error"]["message"]
                    .as_str()
                    .unwrap_or("the provider refused the action")
                    .to_owned(),
            },
            _ => Applied::Other,
        };
        sqlx::query("INSERT INTO settings (key, value) VALUES ('cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(ev.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(cache_err)?;
        // Keep the replay guard bounded: ids below the cursor minus a margin cannot come back.
        if ev.id % 1000 == 0 {
            sqlx::query("DELETE FROM applied_events WHERE id < ?")
                .bind(ev.id - 10_000)
                .execute(&mut *tx)
                .await
                .map_err(cache_err)?;
        }
        tx.commit().await.map_err(cache_err)?;
        Ok(applied)
    }

    /// How many stream events have been applied (for tests and diagnostics).
    pub async fn applied_count(&self) -> Result<i64, DesktopError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM applied_events")
            .fetch_one(&self.pool)
            .await
            .map_err(cache_err)
    }

    fn summaries(rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<CallSummary>, DesktopError> {
        rows.into_iter()
            .map(|r| {
                let record: String = r.try_get("record").map_err(cache_err)?;
                Ok(CallSummary {
                    call: from_json(&record)?,
                    lead_name: r.try_get("lead_name").map_err(cache_err)?,
                })
            })
            .collect()
    }

    /// Waiting inbound calls, oldest first.
    pub async fn queue(&self) -> Result<Vec<CallSummary>, DesktopError> {
        let rows = sqlx::query(
            "SELECT c.record, l.name AS lead_name FROM calls c LEFT JOIN leads l ON l.id = c.lead_id \
             WHERE c.direction = 'inbound' AND c.status IN ('ringing', 'queued') ORDER BY c.created_at, c.call_sid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(cache_err)?;
        Self::summaries(rows)
    }

    /// History, newest first, filtered by number or lead name.
    pub async fn history(&self, search: &str, limit: u32) -> Result<Vec<CallSummary>, DesktopError> {
        let needle = search.trim().to_lowercase();
        let digits: String = needle.chars().filter(char::is_ascii_digit).collect();
        let rows = sqlx::query(
            "SELECT c.record, l.name AS lead_name FROM calls c LEFT JOIN leads l ON l.id = c.lead_id \
             WHERE ? = '' OR LOWER(COALESCE(l.name, '')) LIKE '%' || ? || '%' \
                OR (? <> '' AND (REPLACE(c.from_number, '+', '') LIKE '%' || ? || '%' OR REPLACE(c.to_number, '+', '') LIKE '%' || ? || '%')) \
             ORDER BY c.created_at DESC, c.call_sid DESC LIMIT ?",
        )
        .bind(&needle)
        .bind(&needle)
        .bind(&digits)
        .bind(&digits)
        .bind(&digits)
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await
        .map_err(cache_err)?;
        Self::summaries(rows)
    }

    /// One call.
    pub async fn call(&self, sid: &CallSid) -> Result<Option<CallRecord>, DesktopError> {
        let rec: Option<String> = sqlx::query_scalar("SELECT record FROM calls WHERE call_sid = ?")
            .bind(sid.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(cache_err)?;
        rec.map(|r| from_json(&r)).transpose()
    }

    /// One lead.
    pub async fn lead(&self, id: LeadId) -> Result<Option<Lead>, DesktopError> {
        let rec: Option<String> = sqlx::query_scalar("SELECT record FROM leads WHERE id = ?")
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(cache_err)?;
        rec.map(|r| from_json(&r)).transpose()
    }

    /// A call's transcript, in order.
    pub async fn transcript(&self, sid: &CallSid) -> Result<Vec<TranscriptTurn>, DesktopError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT turn FROM transcripts WHERE call_sid = ? ORDER BY sequence")
            .bind(sid.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(cache_err)?;
        rows.iter().map(|r| from_json(r)).collect()
    }

    /// The business numbers, default first.
    pub async fn numbers(&self) -> Result<Vec<PhoneNumber>, DesktopError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT record FROM numbers ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(cache_err)?;
        let mut numbers: Vec<PhoneNumber> = rows.iter().map(|r| from_json(r)).collect::<Result<_, _>>()?;
        numbers.sort_by_key(|n| (!n.is_default, n.id));
        Ok(numbers)
    }

    /// Agents, by name.
    pub async fn agents(&self) -> Result<Vec<Agent>, DesktopError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT record FROM agents")
            .fetch_all(&self.pool)
            .await
            .map_err(cache_err)?;
        let mut agents: Vec<Agent> = rows.iter().map(|r| from_json(r)).collect::<Result<_, _>>()?;
        agents.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        Ok(agents)
    }

    /// The number last used for a lead.
    pub async fn number_choice(&self, lead: LeadId) -> Result<Option<NumberId>, DesktopError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT number_id FROM number_choice WHERE lead_id = ?")
            .bind(lead.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(cache_err)?;
        Ok(id.and_then(|i| NumberId::try_from(i).ok()))
    }

    /// Remember the number used for a lead.
    pub async fn set_number_choice(&self, lead: LeadId, number: NumberId) -> Result<(), DesktopError> {
        sqlx::query("INSERT INTO number_choice (lead_id, number_id) VALUES (?, ?) ON CONFLICT (lead_id) DO UPDATE SET number_id = excluded.number_id")
            .bind(lead.get())
            .bind(number.get())
            .execute(&self.pool)
            .await
            .map_err(cache_err)?;
        Ok(())
    }

    /// The pool (the outbox shares it).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
