//! `kind = "elevenlabs"`: outbound calls handed to an ElevenLabs conversational agent
//! (ElevenLabs places them through the Twilio number imported into it), and the post-call
//! webhook that brings back what was said (protocols §4).
//!
//! - **Placing a call.** The gateway stores the record first; [`ElevenLabs::initiate`]
//!   asks `POST /v1/convai/twilio/outbound-call` with our `call_sid` among the
//!   conversation's dynamic variables. Success gives the `conversation_id` (kept beside
//!   `call_sid`, platform `elevenlabs`) and Twilio's `callSid`; a refusal keeps the
//!   platform's message.
//! - **After the call.** ElevenLabs posts `post_call_transcription` (or
//!   `call_initiation_failure`), signed `ElevenLabs-Signature: t=…,v0=hex(HMAC-SHA256(
//!   secret, "t.body"))`, accepted for 30 minutes. It becomes a [`ConversationReport`]:
//!   the gateway finds the call by the echoed `call_sid`, checks its `conversation_id`,
//!   and stores the turns (the platform's summary last, as a system turn) and the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use switchboard_core::api::{TranscriptTurnIn, TransferTarget};
use switchboard_core::{
    CallError, CallErrorCode, CallSid, CallStatus, NormalizedCallEvent, TelephonyVendor, TranscriptRole, VoicePlatform,
};

use crate::registry::{Clock, ProviderContext};
use crate::secret::{ProviderConfig, Secret};
use crate::{
    CallRef, Capabilities, ConversationReport, Initiated, LiveCall, OutboundCall, ProviderError, ProviderEvent,
    TelephonyProvider, WebhookError, WebhookReply, WebhookRequest,
};

/// ElevenLabs' API.
pub const API: &str = "https://api.elevenlabs.io";
/// The signature header (lowercase, as the gateway passes headers).
pub const HEADER: &str = "elevenlabs-signature";
/// How old a signed webhook may be (the SDK's tolerance).
pub const TOLERANCE_SECS: i64 = 30 * 60;
/// How far ahead of our clock a signature time may be (ElevenLabs' SDK checks only the
/// past; a time from the future would stay replayable, so we bound it too).
pub const AHEAD_SECS: i64 = 5 * 60;
/// Most turns one conversation may report.
const MAX_TURNS: usize = 2_000;

/// The stored configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElevenLabsConfig {
    /// `xi-api-key` for the API.
    pub api_key: Secret,
    /// The workspace's webhook signing secret.
    pub webhook_secret: Secret,
    /// The API base (default ElevenLabs').
    #[serde(default)]
    pub api_base: Option<String>,
    /// The agents calls may be handed to: our name -> ElevenLabs `agent_id`.
    pub agents: BTreeMap<String, String>,
    /// The business numbers imported into ElevenLabs: E.164 -> `agent_phone_number_id`.
    pub phone_numbers: BTreeMap<String, String>,
}

impl ProviderConfig for ElevenLabsConfig {
    fn check(&self) -> Result<(), ProviderError> {
        if self.agents.is_empty() {
            return Err(ProviderError::Config(
                "agents must name at least one agent: {\"name\": \"agent_id\"}".into(),
            ));
        }
        if self.phone_numbers.is_empty() {
            return Err(ProviderError::Config(
                "phone_numbers must map at least one E.164 number to its agent_phone_number_id".into(),
            ));
        }
        for n in self.phone_numbers.keys() {
            if n.parse::<switchboard_core::E164>().is_err() {
                return Err(ProviderError::Config(format!(
                    "phone_numbers: {n:?} is not an E.164 number"
                )));
            }
        }
        if let Some(base) = &self.api_base {
            if !(base.starts_with("https://") || base.starts_with("http://")) {
                return Err(ProviderError::Config("api_base must be an http(s) URL".into()));
            }
        }
        Ok(())
    }
}

/// `t=…,v0=…` for `body` signed at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Is `header` a valid signature of `body` at `now` (unix seconds)?
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> bool {
    let Some(header) = header else { return false };
    let (mut t, mut v0) = (None, None);
    for part in header.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = v.parse::<i64>().ok();
        } else if part.starts_with("v0=") {
            v0 = Some(part);
        }
    }
    let (Some(t), Some(v0)) = (t, v0) else { return false };
    if t < now.saturating_sub(TOLERANCE_SECS) || t > now.saturating_add(AHEAD_SECS) {
        return false;
    }
    let expected = sign(secret, t, body);
    let expected = expected.split_once(',').map_or("", |(_, v)| v);
    expected.len() == v0.len() && expected.bytes().zip(v0.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    event_timestamp: Option<i64>,
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct PostCall {
    conversation_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    transcript: Vec<Turn>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    analysis: Option<Analysis>,
    #[serde(default)]
    conversation_initiation_client_data: Option<ClientData>,
    #[serde(default)]
    failure_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Turn {
    role: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    time_in_call_secs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    start_time_unix_secs: Option<i64>,
    #[serde(default)]
    call_duration_secs: Option<i64>,
    #[serde(default)]
    termination_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Analysis {
    #[serde(default)]
    transcript_summary: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ClientData {
    #[serde(default)]
    dynamic_variables: serde_json::Map<String, serde_json::Value>,
}

/// Normalise a verified webhook body. `None`: a type the gateway has no use for
/// (`post_call_audio`), acknowledged and dropped.
pub fn parse_report(body: &[u8], now_ms: i64) -> Result<Option<ConversationReport>, WebhookError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let failed = match env.kind.as_str() {
        "post_call_transcription" => false,
        "call_initiation_failure" => true,
        "post_call_audio" => return Ok(None),
        other => return Err(WebhookError::Malformed(format!("unknown webhook type {other:?}"))),
    };
    let data: PostCall =
        serde_path_to_error::deserialize(env.data).map_err(|e| WebhookError::Malformed(format!("data.{e}")))?;
    if data.conversation_id.trim().is_empty() || data.conversation_id.len() > 256 {
        return Err(WebhookError::Malformed(
            "data.conversation_id must be 1 to 256 characters".into(),
        ));
    }
    if data.transcript.len() > MAX_TURNS {
        return Err(WebhookError::Malformed(format!(
            "more than {MAX_TURNS} transcript turns"
        )));
    }
    let call_sid = match data
        .conversation_initiation_client_data
        .as_ref()
        .and_then(|c| c.dynamic_variables.get("call_sid"))
    {
        Some(serde_json::Value::String(s)) => Some(s.parse::<CallSid>().map_err(|e| {
            WebhookError::Malformed(format!("dynamic_variables.call_sid {s:?} is not a call_sid: {e}"))
        })?),
        Some(_) => {
            return Err(WebhookError::Malformed(
                "dynamic_variables.call_sid must be a string".into(),
            ));
        }
        None => None,
    };
    let meta = data.metadata.unwrap_or_default();
    let sent_at = env.event_timestamp.map_or(now_ms, |t| t.saturating_mul(1000));
    let start_ms = meta.start_time_unix_secs.map_or(sent_at, |t| t.saturating_mul(1000));
    let mut turns: Vec<TranscriptTurnIn> = data
        .transcript
        .iter()
        .filter_map(|t| {
            let content = t.message.as_deref()?.trim();
            let role = match t.role.as_str() {
                "user" => TranscriptRole::Caller,
                "agent" => TranscriptRole::Ai,
                _ => TranscriptRole::System,
            };
            let offset = t
                .time_in_call_secs
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(0.0);
            Some((
                role,
                content.to_owned(),
                start_ms.saturating_add((offset.min(1e9) * 1000.0) as i64),
            ))
        })
        .filter(|(_, c, _)| !c.is_empty())
        .enumerate()
        .map(|(i, (role, content, occurred_at))| TranscriptTurnIn {
            role,
            content,
            occurred_at,
            sequence: i as i64 + 1,
        })
        .collect();
    let end_ms = start_ms.saturating_add(meta.call_duration_secs.unwrap_or(0).clamp(0, 7 * 24 * 3600) * 1000);
    if let Some(summary) = data
        .analysis
        .and_then(|a| a.transcript_summary)
        .filter(|s| !s.trim().is_empty())
    {
        turns.push(TranscriptTurnIn {
            role: TranscriptRole::System,
            content: format!("Summary: {}", summary.trim()),
            occurred_at: end_ms,
            sequence: turns.len() as i64 + 1,
        });
    }
    let status_failed = failed || data.status.as_deref() == Some("failed");
    let mut outcome = NormalizedCallEvent {
        call_sid: call_sid.clone(),
        voice_platform: Some(VoicePlatform::ElevenLabs),
        voice_platform_call_id: Some(data.conversation_id.clone()),
        conversation_id: Some(data.conversation_id.clone()),
        status: Some(if status_failed {
            CallStatus::Failed
        } else {
            CallStatus::Completed
        }),
        duration_secs: (!failed)
            .then_some(meta.call_duration_secs)
            .flatten()
            .filter(|d| *d >= 0),
        ..NormalizedCallEvent::new(format!("elevenlabs:{}:{}", data.conversation_id, env.kind), end_ms)
    };
    if status_failed {
        let why = data
            .failure_reason
            .or(meta.termination_reason)
            .unwrap_or_else(|| "the AI call failed".into());
        outcome.error = Some(CallError {
            provider_message: Some(why),
            ..CallError::new(CallErrorCode::ProviderError, "the AI agent's call failed")
        });
    }
    Ok(Some(ConversationReport {
        call_sid,
        conversation_id: data.conversation_id,
        turns,
        outcome,
    }))
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ElevenLabs {
    cfg: Arc<ElevenLabsConfig>,
    http: reqwest::Client,
    base: String,
    clock: Arc<dyn Clock>,
}

impl ElevenLabs {
    /// Build from a stored config.
    pub fn from_context(config: &serde_json::Value, ctx: &ProviderContext) -> Result<Self, ProviderError> {
        let cfg = ElevenLabsConfig::parse(config, &ctx.secrets)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ProviderError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            base: cfg
                .api_base
                .clone()
                .unwrap_or_else(|| API.into())
                .trim_end_matches('/')
                .to_owned(),
            cfg: Arc::new(cfg),
            http,
            clock: ctx.clock.clone(),
        })
    }

    /// The JSON body that asks for `call` (what the official SDK sends for the same call).
    pub fn outbound_request(&self, call: &OutboundCall) -> Result<serde_json::Value, ProviderError> {
        let name = call.ai_agent.as_deref().unwrap_or_default();
        let agent = self.cfg.agents.get(name).ok_or_else(|| {
            ProviderError::Invalid(format!(
                "no AI agent named {name:?} (configured: {})",
                self.cfg.agents.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let phone =
            self.cfg.phone_numbers.get(call.from.as_str()).ok_or_else(|| {
                ProviderError::Invalid(format!("{} is not a number imported into ElevenLabs", call.from))
            })?;
        Ok(serde_json::json!({
            "agent_id": agent,
            "agent_phone_number_id": phone,
            "to_number": call.to.as_str(),
            "conversation_initiation_client_data": {
                "dynamic_variables": { "call_sid": call.call_sid.as_str() }
            },
        }))
    }

    fn unsupported<T>(what: &'static str) -> Result<T, ProviderError> {
        Err(ProviderError::Unsupported(what))
    }
}

/// ElevenLabs' refusal bodies: `{"detail": "..."}`, `{"detail": {"message": ...}}` or a
/// validation list.
fn refusal(status: u16, body: &str) -> ProviderError {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let message = v
        .get("message")
        .or_else(|| v.pointer("/detail/message"))
        .or_else(|| v.get("detail"))
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let code = match status {
        401 | 403 => CallErrorCode::AuthFailed,
        429 => CallErrorCode::RateLimited,
        500..=599 => CallErrorCode::Unavailable,
        _ => CallErrorCode::Rejected,
    };
    ProviderError::Call(CallError {
        provider_code: Some(status.to_string()),
        provider_message: Some(message),
        ..CallError::new(code, "the AI platform refused the call")
    })
}

#[async_trait]
impl TelephonyProvider for ElevenLabs {
    fn kind(&self) -> &'static str {
        "elevenlabs"
    }

    fn vendor(&self) -> TelephonyVendor {
        // ElevenLabs dials through the Twilio number imported into it; `callSid` is Twilio's.
        TelephonyVendor::Twilio
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            outbound: true,
            transcripts: true,
            ai_agents: true,
            ..Capabilities::default()
        }
    }

    fn validate_config(&self) -> Result<(), ProviderError> {
        self.cfg.check()
    }

    async fn check(&self) -> Result<(), ProviderError> {
        self.cfg.check()?;
        for agent in self.cfg.agents.values() {
            let resp = self
                .http
                .get(format!("{}/v1/convai/agents/{agent}", self.base))
                .header("xi-api-key", self.cfg.api_key.expose())
                .send()
                .await
                .map_err(|e| ProviderError::Config(format!("ElevenLabs cannot be reached: {e}")))?;
            if !resp.status().is_success() {
                let status = resp.status().as_u16();
                return Err(ProviderError::Config(format!(
                    "agent {agent}: {}",
                    refusal(status, &resp.text().await.unwrap_or_default())
                        .to_call_error()
                        .provider_message
                        .unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    async fn reconcile(&self, _live: &[LiveCall]) -> Result<(), ProviderError> {
        // The post-call webhook reports every call, also those that ended while we were down.
        Ok(())
    }

    async fn initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError> {
        let body = self.outbound_request(call)?;
        let resp = self
            .http
            .post(format!("{}/v1/convai/twilio/outbound-call", self.base))
            .header("xi-api-key", self.cfg.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                ProviderError::Call(CallError::new(
                    CallErrorCode::Network,
                    format!("the AI platform could not be reached: {e}"),
                ))
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(refusal(status, &text));
        }
        #[derive(Deserialize)]
        struct Answer {
            success: bool,
            #[serde(default)]
            message: String,
            #[serde(default)]
            conversation_id: Option<String>,
            #[serde(rename = "callSid", default)]
            call_sid: Option<String>,
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|e| {
            ProviderError::Call(CallError::new(
                CallErrorCode::ProviderError,
                format!("the AI platform's answer could not be read: {e}"),
            ))
        })?;
        let conversation = answer.conversation_id.filter(|c| !c.is_empty());
        match (answer.success, conversation) {
            (true, Some(conversation)) => Ok(Initiated {
                vendor_call_id: answer.call_sid.unwrap_or_else(|| conversation.clone()),
                voice_platform: Some(VoicePlatform::ElevenLabs),
                voice_platform_call_id: Some(conversation.clone()),
                conversation_id: Some(conversation),
            }),
            _ => Err(ProviderError::Call(CallError {
                provider_message: Some(answer.message),
                ..CallError::new(CallErrorCode::Rejected, "the AI platform refused the call")
            })),
        }
    }

    async fn answer(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Self::unsupported("answering (the AI agent holds the call)")
    }

    async fn hold(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Self::unsupported("hold")
    }

    async fn resume(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Self::unsupported("hold")
    }

    async fn transfer(&self, _call: &CallRef, _to: &TransferTarget) -> Result<(), ProviderError> {
        Self::unsupported("transfer")
    }

    async fn end(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Self::unsupported("ending an AI agent's call")
    }

    async fn send_dtmf(&self, _call: &CallRef, _digits: &str) -> Result<(), ProviderError> {
        Self::unsupported("DTMF")
    }

    async fn start_recording(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Self::unsupported("recording")
    }

    async fn stop_recording(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Self::unsupported("recording")
    }

    async fn recording_url(&self, _call: &CallRef) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<ProviderEvent>, WebhookError> {
        let now = self.clock.now_ms();
        if !verify(
            self.cfg.webhook_secret.expose(),
            req.header(HEADER),
            req.body,
            now / 1000,
        ) {
            return Err(WebhookError::BadSignature);
        }
        Ok(parse_report(req.body, now)?
            .map(ProviderEvent::Conversation)
            .into_iter()
            .collect())
    }

    fn webhook_response(&self, _req: &WebhookRequest<'_>, call_sid: Option<&CallSid>) -> WebhookReply {
        WebhookReply {
            content_type: "application/json",
            body: serde_json::json!({ "ok": true, "call_sid": call_sid }).to_string(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_published_vector() {
        let body = br#"{"event_type": "speech.completed", "id": "123456"}"#;
        let header = "t=1600000000,v0=f8a0d1dc33ee963cb54d2f31514555995e93313c9d2042c030adbb82b87fae13";
        assert_eq!(sign("test_secret", 1_600_000_000, body), header);
        assert!(verify("test_secret", Some(header), body, 1_600_000_000 + 60));
        assert!(
            !verify("test_secret", Some(header), body, 1_600_000_000 + TOLERANCE_SECS + 1),
            "too old"
        );
        assert!(!verify("other", Some(header), body, 1_600_000_000));
        assert!(!verify("test_secret", Some(header), b"{}", 1_600_000_000));
        assert!(!verify("test_secret", None, body, 1_600_000_000));
        assert!(!verify("test_secret", Some("v0=abc"), body, 1_600_000_000));
    }

    #[test]
    fn a_post_call_webhook_becomes_turns_summary_and_outcome() {
        let body = serde_json::json!({
            "type": "post_call_transcription", "event_timestamp": 1_780_000_100,
            "data": { "agent_id": "agent_1", "conversation_id": "conv_1", "status": "done",
                "transcript": [
                    { "role": "agent", "message": "Hi, this is Ava from Switchboard.", "time_in_call_secs": 0 },
                    { "role": "user", "message": "Hello!", "time_in_call_secs": 2 },
                    { "role": "agent", "message": null, "time_in_call_secs": 3, "tool_calls": [] }
                ],
                "metadata": { "start_time_unix_secs": 1_780_000_000, "call_duration_secs": 42 },
                "analysis": { "call_successful": "success", "transcript_summary": "Lead wants a demo." },
                "conversation_initiation_client_data": { "dynamic_variables": { "call_sid": "call_01J0000000000000000000000Z" } } }
        });
        let r = parse_report(body.to_string().as_bytes(), 0).unwrap().unwrap();
        assert_eq!(r.call_sid.unwrap().as_str(), "call_01J0000000000000000000000Z");
        assert_eq!(r.conversation_id, "conv_1");
        let roles: Vec<_> = r.turns.iter().map(|t| (t.role, t.sequence, t.occurred_at)).collect();
        assert_eq!(
            roles,
            [
                (TranscriptRole::Ai, 1, 1_780_000_000_000),
                (TranscriptRole::Caller, 2, 1_780_000_002_000),
                (TranscriptRole::System, 3, 1_780_000_042_000)
            ]
        );
        assert_eq!(r.turns[2].content, "Summary: Lead wants a demo.");
        assert_eq!(r.outcome.status, Some(CallStatus::Completed));
        assert_eq!(r.outcome.duration_secs, Some(42));
        assert_eq!(r.outcome.conversation_id.as_deref(), Some("conv_1"));
    }

    #[test]
    fn failures_and_bad_bodies() {
        let body = serde_json::json!({ "type": "call_initiation_failure", "event_timestamp": 1_780_000_100,
            "data": { "agent_id": "a", "conversation_id": "conv_2", "failure_reason": "busy",
                      "conversation_initiation_client_data": { "dynamic_variables": { "call_sid": "call_01J0000000000000000000000Z" } } } });
        let r = parse_report(body.to_string().as_bytes(), 0).unwrap().unwrap();
        assert_eq!(r.outcome.status, Some(CallStatus::Failed));
        assert_eq!(r.outcome.error.unwrap().provider_message.as_deref(), Some("busy"));
        let audio =
            serde_json::json!({ "type": "post_call_audio", "data": { "conversation_id": "c", "full_audio": "AAAA" } });
        assert!(parse_report(audio.to_string().as_bytes(), 0).unwrap().is_none());
        for bad in [
            serde_json::json!({ "type": "nonsense", "data": {} }),
            serde_json::json!({ "type": "post_call_transcription", "data": {} }),
            serde_json::json!({ "type": "post_call_transcription", "data": { "conversation_id": "c",
                "conversation_initiation_client_data": { "dynamic_variables": { "call_sid": "not a sid" } } } }),
        ] {
            assert!(parse_report(bad.to_string().as_bytes(), 0).is_err(), "{bad}");
        }
    }
}
