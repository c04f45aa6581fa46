//! # switchboard-client
//!
//! A typed client for the Switchboard gateway: one method per endpoint, using the core
//! types, and [`Client::events`], a WebSocket event stream that reconnects by itself and
//! resumes from the last event id it delivered, so a network drop or gateway restart
//! neither loses nor repeats an event.
//!
//! Start with [`Client::new`]; errors are [`ClientError`].

mod events;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_core::api::*;
use switchboard_core::{Agent, AgentStatus, CallRecord, CallSid, ConsultStep, LeadId, MonitorMode};

pub use events::{EventStream, StreamItem, ws_config};

/// What can go wrong talking to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The gateway answered with an error body.
    #[error("{status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The error code (`not_found`, `illegal_transition`, ...).
        code: String,
        /// The gateway's message.
        message: String,
    },
    /// The gateway could not be reached or the connection broke.
    #[error("gateway unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// The base URL is not usable.
    #[error("invalid gateway url: {0}")]
    Url(String),
}

impl ClientError {
    /// The HTTP status, for API errors.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The gateway's error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when the gateway could not be reached at all (as opposed to saying no).
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Transport(e) if e.is_connect() || e.is_timeout() || e.is_request())
    }
}

/// A gateway client for one agent. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Client {
    /// A client for the gateway at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Self, ClientError> {
        let mut base = url::Url::parse(base_url).map_err(|e| ClientError::Url(format!("{base_url}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Url(format!("{base_url}: use http:// or https://")));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base,
            token: token.into(),
        })
    }

    /// The gateway's base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Url(e.to_string()))
    }

    async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut req = self
            .http
            .request(method, self.url(path)?)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        Self::read(req.send().await?).await
    }

    async fn send_keyed<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        key: Option<&str>,
    ) -> Result<T, ClientError> {
        let mut req = self
            .http
            .request(method, self.url(path)?)
            .bearer_auth(&self.token)
            .json(body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        Self::read(req.send().await?).await
    }

    async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.json().await?);
        }
        let text = resp.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => ("http_error".into(), text),
        };
        Err(ClientError::Api { status, code, message })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ClientError> {
        self.send::<(), T>(Method::GET, path, query, None).await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("healthz", &[]).await
    }

    /// `GET /v1/queue`.
    pub async fn queue(&self) -> Result<QueueResponse, ClientError> {
        self.get("v1/queue", &[]).await
    }

    /// `GET /v1/floor` (supervisors and admins): agents, live calls and queue figures
    /// counted from `day_start` (ms; the gateway's default is midnight UTC).
    pub async fn floor(&self, day_start: Option<i64>) -> Result<switchboard_core::floor::Floor, ClientError> {
        let query: Vec<(&str, String)> = day_start.map(|d| ("day_start", d.to_string())).into_iter().collect();
        self.get("v1/floor", &query).await
    }

    /// `GET /v1/calls`.
    pub async fn calls(&self, q: &CallListQuery) -> Result<CallList, ClientError> {
        let mut query = vec![];
        if let Some(s) = q.status {
            query.push(("status", s.as_str().to_owned()));
        }
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(b) = &q.before {
            query.push(("before", b.to_string()));
        }
        self.get("v1/calls", &query).await
    }

    /// `GET /v1/calls/{call_sid}`.
    pub async fn call(&self, sid: &CallSid) -> Result<CallDetail, ClientError> {
        self.get(&format!("v1/calls/{sid}"), &[]).await
    }

    /// `POST /v1/calls`.
    pub async fn place_call(&self, req: &OutboundCallRequest) -> Result<CallActionResponse, ClientError> {
        self.send(Method::POST, "v1/calls", &[], Some(req)).await
    }

    async fn action<B: Serialize>(
        &self,
        sid: &CallSid,
        action: &str,
        body: &B,
    ) -> Result<CallActionResponse, ClientError> {
        self.send(Method::POST, &format!("v1/calls/{sid}/{action}"), &[], Some(body))
            .await
    }

    /// `POST /v1/calls/{call_sid}/answer`.
    pub async fn answer(&self, sid: &CallSid) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "answer", &serde_json::json!({})).await
    }

    /// `POST /v1/calls/{call_sid}/hold`.
    pub async fn hold(&self, sid: &CallSid) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "hold", &serde_json::json!({})).await
    }

    /// `POST /v1/calls/{call_sid}/resume`.
    pub async fn resume(&self, sid: &CallSid) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "resume", &serde_json::json!({})).await
    }

    /// `POST /v1/calls/{call_sid}/end`.
    pub async fn end(&self, sid: &CallSid) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "end", &serde_json::json!({})).await
    }

    /// `POST /v1/calls/{call_sid}/transfer`.
    pub async fn transfer(&self, sid: &CallSid, to: TransferTarget) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "transfer", &TransferRequest { to }).await
    }

    /// `POST /v1/calls/{call_sid}/monitor`: listen, whisper or barge (supervisors).
    pub async fn monitor(&self, sid: &CallSid, mode: MonitorMode) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "monitor", &MonitorRequest { mode }).await
    }

    /// `PATCH /v1/calls/{call_sid}/monitor`: switch mode.
    pub async fn switch_monitor(&self, sid: &CallSid, mode: MonitorMode) -> Result<CallActionResponse, ClientError> {
        self.send(
            Method::PATCH,
            &format!("v1/calls/{sid}/monitor"),
            &[],
            Some(&MonitorRequest { mode }),
        )
        .await
    }

    /// `DELETE /v1/calls/{call_sid}/monitor`: leave.
    pub async fn stop_monitor(&self, sid: &CallSid) -> Result<CallActionResponse, ClientError> {
        self.send::<(), _>(Method::DELETE, &format!("v1/calls/{sid}/monitor"), &[], None)
            .await
    }

    /// `POST /v1/calls/{call_sid}/consult`: start an attended transfer.
    pub async fn consult(&self, sid: &CallSid, to: TransferTarget) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "consult", &ConsultRequest { to }).await
    }

    /// `POST /v1/calls/{call_sid}/consult/{step}` for accept, conference and complete;
    /// `DELETE /v1/calls/{call_sid}/consult` for cancel.
    pub async fn consult_step(&self, sid: &CallSid, step: ConsultStep) -> Result<CallActionResponse, ClientError> {
        match step {
            ConsultStep::Cancel => {
                self.send::<(), _>(Method::DELETE, &format!("v1/calls/{sid}/consult"), &[], None)
                    .await
            }
            _ => {
                self.action(sid, &format!("consult/{}", step.as_str()), &serde_json::json!({}))
                    .await
            }
        }
    }

    /// `PATCH /v1/queues/{id}` (admins).
    pub async fn update_queue(
        &self,
        id: switchboard_core::QueueId,
        patch: &QueuePatch,
    ) -> Result<QueueInfo, ClientError> {
        self.send(Method::PATCH, &format!("v1/queues/{id}"), &[], Some(patch))
            .await
    }

    /// `GET /v1/settings`.
    pub async fn settings(&self) -> Result<BusinessSettings, ClientError> {
        self.get("v1/settings", &[]).await
    }

    /// `PATCH /v1/settings` (admins).
    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<BusinessSettings, ClientError> {
        self.send(Method::PATCH, "v1/settings", &[], Some(patch)).await
    }

    /// `POST /v1/calls/{call_sid}/dtmf`.
    pub async fn dtmf(&self, sid: &CallSid, digits: &str) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "dtmf", &DtmfRequest { digits: digits.into() }).await
    }

    /// `POST /v1/calls/{call_sid}/recording`.
    pub async fn recording(&self, sid: &CallSid, action: RecordingAction) -> Result<CallActionResponse, ClientError> {
        self.action(sid, "recording", &RecordingRequest { action }).await
    }

    /// `GET /v1/numbers`.
    pub async fn numbers(&self) -> Result<NumbersResponse, ClientError> {
        self.get("v1/numbers", &[]).await
    }

    /// `GET /v1/leads?phone=`.
    pub async fn leads(&self, phone: Option<&str>) -> Result<LeadsResponse, ClientError> {
        let query: Vec<(&str, String)> = phone.map(|p| ("phone", p.to_owned())).into_iter().collect();
        self.get("v1/leads", &query).await
    }

    /// `GET /v1/leads/{id}`.
    pub async fn lead(&self, id: LeadId) -> Result<LeadDetail, ClientError> {
        self.get(&format!("v1/leads/{id}"), &[]).await
    }

    /// `GET /v1/transcripts/{call_sid}`.
    pub async fn transcript(&self, sid: &CallSid) -> Result<TranscriptResponse, ClientError> {
        self.get(&format!("v1/transcripts/{sid}"), &[]).await
    }

    /// `GET /v1/agents`.
    pub async fn agents(&self) -> Result<AgentsResponse, ClientError> {
        self.get("v1/agents", &[]).await
    }

    /// `GET /v1/agents/me`: who this token belongs to.
    pub async fn me(&self) -> Result<Agent, ClientError> {
        self.get("v1/agents/me", &[]).await
    }

    /// `PUT /v1/agents/me/status` with an idempotency key (safe to replay).
    pub async fn set_status_once(&self, status: AgentStatus, key: &str) -> Result<Agent, ClientError> {
        self.send_keyed(
            Method::PUT,
            "v1/agents/me/status",
            &AgentStatusRequest { status },
            Some(key),
        )
        .await
    }

    /// `PUT /v1/calls/{call_sid}/wrapup`, optionally with an idempotency key.
    pub async fn wrap_up(
        &self,
        sid: &CallSid,
        req: &WrapUpRequest,
        key: Option<&str>,
    ) -> Result<CallRecord, ClientError> {
        self.send_keyed(Method::PUT, &format!("v1/calls/{sid}/wrapup"), req, key)
            .await
    }

    /// Join a call's audio: POST our SDP offer to the signalling path the gateway announced
    /// (`MediaJoin::Peer { signal }`); returns the far end's SDP answer.
    pub async fn media_offer(&self, signal: &str, sdp: &str) -> Result<String, ClientError> {
        let offer = switchboard_core::MediaOffer { sdp: sdp.to_owned() };
        let answer: switchboard_core::MediaAnswer = self
            .send(Method::POST, signal.trim_start_matches('/'), &[], Some(&offer))
            .await?;
        Ok(answer.sdp)
    }

    /// `GET /v1/calls/{call_sid}/media`: how the agent holding the call joins its audio
    /// again (a fresh LiveKit token after the server dropped the session).
    pub async fn media_join(&self, sid: &CallSid) -> Result<switchboard_core::MediaJoin, ClientError> {
        self.get(&format!("v1/calls/{sid}/media"), &[]).await
    }

    /// `PUT /v1/agents/me/status`.
    pub async fn set_status(&self, status: AgentStatus) -> Result<Agent, ClientError> {
        self.send(
            Method::PUT,
            "v1/agents/me/status",
            &[],
            Some(&AgentStatusRequest { status }),
        )
        .await
    }

    /// `GET /v1/events/cursor`: the newest event id (take it before a snapshot).
    pub async fn event_cursor(&self) -> Result<i64, ClientError> {
        let v: switchboard_core::api::EventCursor = self.get("v1/events/cursor", &[]).await?;
        Ok(v.cursor)
    }

    /// The event stream from after `since` (0 for everything). See [`EventStream`].
    pub fn events(&self, since: i64) -> EventStream {
        EventStream::start(self.base.clone(), self.token.clone(), since)
    }
}
