//! LiveKit SIP (`kind = "livekit"`): a carrier sends calls to a LiveKit SIP trunk, a
//! dispatch rule puts each caller in a room of its own, and the gateway controls the call
//! through LiveKit's server API while the agent's desktop joins the room for the audio.
//!
//! A map of the module:
//! - [`token`]: the JWTs every part of LiveKit uses (server API auth, room joins, webhooks).
//! - [`twirp`]: the server API client (protobuf over Twirp, `livekit-protocol`'s types).
//! - [`provision`]: the trunks and dispatch rule a provider needs, planned as a pure diff
//!   and applied on start and on every config change.
//! - [`webhook`]: LiveKit's webhooks into call events (both ids of a call, `sip.callID`
//!   and the carrier's).
//! - [`config`]: the stored configuration.
//!
//! Where a call is: inbound callers sit in rooms the dispatch rule names
//! `call-<caller>_<random>`; the provider learns each room from the `participant_joined`
//! webhook (remembered per `call_sid` in its [`Carry`](crate::registry::Carry)), and after
//! a restart finds it again by listing the rooms with the caller's prefix. Outbound calls
//! go to a room named after their `call_sid`.
//!
//! Hold music and keys to the caller need a participant in the room: the gateway joins
//! one itself for them ([`helpers`]). What LiveKit cannot do here is reported in the
//! capabilities: recording (needs Egress), monitoring and attended transfer.

pub mod config;
pub mod helpers;
pub mod provision;
pub mod token;
pub mod twirp;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use livekit_protocol as proto;
use switchboard_core::api::TransferTarget;
use switchboard_core::{
    CallError, CallErrorCode, CallSid, CallStatus, MediaJoin, NormalizedCallEvent, TelephonyVendor, VoicePlatform,
};

pub use config::LiveKitConfig;
use token::{ApiKey, VideoGrant};
use twirp::{Twirp, TwirpError};

use crate::registry::{Clock, ProviderContext};
use crate::secret::ProviderConfig;
use crate::{
    CallRef, Capabilities, EventSink, Initiated, LiveCall, OutboundCall, ProviderError, ProviderEvent,
    TelephonyProvider, WebhookError, WebhookReply, WebhookRequest,
};

/// A call's SIP participant: where actions on the call go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Leg {
    room: String,
    identity: String,
}

/// What instances of one provider share across config reloads: where each call's caller
/// is, and the gateway's own participants in the rooms.
#[derive(Debug, Default)]
struct Legs {
    map: Mutex<HashMap<CallSid, Leg>>,
    helpers: helpers::Helpers,
}

/// Calls remembered at most (oldest dropped first is not needed: legs go when calls end).
const MAX_LEGS: usize = 50_000;

impl Legs {
    fn get(&self, sid: &CallSid) -> Option<Leg> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(sid).cloned()
    }
    fn put(&self, sid: CallSid, leg: Leg) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_LEGS && !m.contains_key(&sid) {
            return;
        }
        m.insert(sid, leg);
    }
    fn forget(&self, sid: &CallSid) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(sid);
    }
}

/// The provider.
#[derive(Debug)]
pub struct LiveKit {
    name: String,
    cfg: LiveKitConfig,
    key: ApiKey,
    api: Twirp,
    inbound_numbers: Vec<String>,
    outbound_numbers: Vec<String>,
    legs: Arc<Legs>,
    sink: EventSink,
    clock: Arc<dyn Clock>,
}

/// How a transfer whose outcome LiveKit lost starts its message (see [`transfer_unconfirmed`]).
pub const TRANSFER_UNCONFIRMED: &str = "LiveKit lost the phone's answer to the transfer";

/// A transfer LiveKit reported as failed while the phone may be carrying it out.
///
/// livekit-sip 1.0's SIP stack (sipgo) arms a REFER's completion timer only after sending
/// it. A phone that answers within that gap (a loopback phone, a loaded server) leaves
/// the transaction ending at once, its 202 unread, and LiveKit says "transaction failed
/// to complete (0 intermediate responses)": the phone may have accepted (then it calls the
/// target, and LiveKit never hangs up its leg) or refused. Neither retrying (a second
/// REFER, a second call to the target) nor hanging up (a refused caller dropped) is safe,
/// so the call stays with the agent, who is told so and ends it once the caller is gone.
fn transfer_unconfirmed(target: &str, e: &TwirpError) -> ProviderError {
    let mut err = CallError::new(
        CallErrorCode::Unknown,
        format!(
            "{TRANSFER_UNCONFIRMED}: the caller may be calling {target} already; the call stays here until you end it ({e})"
        ),
    );
    if let TwirpError::Server { code, .. } = e {
        err.provider_code = Some(code.clone());
    }
    ProviderError::Call(err)
}

fn call_failed(e: &TwirpError) -> ProviderError {
    let (code, sip) = match e {
        TwirpError::Server { sip_status, code, .. } => (code.as_str(), *sip_status),
        TwirpError::Transport(_) => ("unavailable", None),
        TwirpError::Decode(_) => ("internal", None),
    };
    let normalised = match (sip, code) {
        (Some(486 | 600), _) => CallErrorCode::Busy,
        (Some(408 | 480 | 487), _) => CallErrorCode::NoAnswer,
        (Some(403 | 603), _) => CallErrorCode::Rejected,
        (Some(404 | 484 | 604), _) => CallErrorCode::InvalidNumber,
        (_, "not_found") => CallErrorCode::Rejected,
        (_, "unavailable") => CallErrorCode::Unavailable,
        (_, "invalid_argument" | "malformed") => CallErrorCode::Rejected,
        _ => CallErrorCode::ProviderError,
    };
    let mut err = CallError::new(normalised, e.to_string());
    err.provider_code = Some(sip.map_or_else(|| code.to_owned(), |s| s.to_string()));
    ProviderError::Call(err)
}

impl LiveKit {
    /// Build from a stored config.
    pub fn from_context(config: &serde_json::Value, ctx: &ProviderContext) -> Result<Self, ProviderError> {
        let cfg = LiveKitConfig::parse(config, &ctx.secrets)?;
        let key = ApiKey {
            key: cfg.api_key.clone(),
            secret: cfg.api_secret.clone(),
        };
        let outbound_numbers = ctx
            .numbers
            .iter()
            .filter(|n| n.capabilities.outbound)
            .map(|n| n.e164.to_string())
            .collect();
        Ok(Self {
            name: ctx.name.clone(),
            api: Twirp::new(cfg.api_url(), key.clone()),
            key,
            inbound_numbers: ctx.inbound_numbers(),
            outbound_numbers,
            legs: ctx.carry.get_or_init(Legs::default),
            sink: ctx.sink.clone(),
            clock: ctx.clock.clone(),
            cfg,
        })
    }

    /// Make the server hold this provider's trunks and dispatch rule (see [`provision`]).
    pub async fn provision(&self) -> Result<(), ProviderError> {
        let existing = provision::Existing {
            inbound: self.api.list_inbound_trunks().await.map_err(|e| config_err(&e))?,
            outbound: self.api.list_outbound_trunks().await.map_err(|e| config_err(&e))?,
            rules: self.api.list_dispatch_rules().await.map_err(|e| config_err(&e))?,
        };
        let want = provision::desired(&self.name, &self.inbound_numbers, &self.outbound_numbers, &self.cfg);
        let name = provision::object_name(&self.name);
        let mut inbound_id = existing
            .inbound
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.sip_trunk_id.clone());
        for step in provision::plan(&name, &existing, &want) {
            tracing::info!(provider = %self.name, ?step, "provisioning LiveKit SIP");
            let r = match step {
                provision::Step::DeleteRule(id) => self.api.delete_dispatch_rule(&id).await,
                provision::Step::DeleteTrunk(id) => self.api.delete_trunk(&id).await,
                provision::Step::CreateInbound(t) => self.api.create_inbound_trunk(t).await.map(|t| {
                    inbound_id = Some(t.sip_trunk_id);
                }),
                provision::Step::CreateOutbound(t) => self.api.create_outbound_trunk(t).await.map(|_| ()),
                provision::Step::CreateRule(mut r) => {
                    r.trunk_ids = inbound_id.iter().cloned().collect();
                    self.api.create_dispatch_rule(r).await.map(|_| ())
                }
            };
            r.map_err(|e| config_err(&e))?;
        }
        Ok(())
    }

    /// The outbound trunk's id, when the config has one.
    async fn outbound_trunk(&self) -> Result<String, ProviderError> {
        let name = provision::object_name(&self.name);
        self.api
            .list_outbound_trunks()
            .await
            .map_err(|e| call_failed(&e))?
            .into_iter()
            .find(|t| t.name == name)
            .map(|t| t.sip_trunk_id)
            .ok_or_else(|| ProviderError::Config("no outbound trunk: set outbound_address to place calls".into()))
    }

    /// Where the call is: remembered, or (after a restart) found among the rooms the
    /// dispatch rule made for this caller.
    async fn leg(&self, call: &CallRef) -> Result<Leg, ProviderError> {
        if let Some(l) = self.legs.get(&call.call_sid) {
            return Ok(l);
        }
        let prefix = format!("{}{}_", provision::ROOM_PREFIX, call.from);
        let rooms = self.api.list_rooms().await.map_err(|e| call_failed(&e))?;
        for room in rooms
            .into_iter()
            .filter(|r| r.name.starts_with(&prefix) || r.name == outbound_room(&call.call_sid))
        {
            for p in self
                .api
                .list_participants(&room.name)
                .await
                .map_err(|e| call_failed(&e))?
            {
                if p.kind == proto::participant_info::Kind::Sip as i32 {
                    let leg = Leg {
                        room: room.name.clone(),
                        identity: p.identity,
                    };
                    self.legs.put(call.call_sid.clone(), leg.clone());
                    return Ok(leg);
                }
            }
        }
        Err(ProviderError::Call(CallError::new(
            CallErrorCode::Rejected,
            "the caller is no longer in a LiveKit room",
        )))
    }

    /// Whether the leg leaves its room within a few seconds.
    async fn leaves(&self, leg: &Leg) -> bool {
        for _ in 0..25 {
            match self.api.list_participants(&leg.room).await {
                Ok(people) if !people.iter().any(|p| p.identity == leg.identity) => return true,
                Err(TwirpError::Server { code, .. }) if code == "not_found" => return true,
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        false
    }

    /// A room token for the agent who takes the call: join, publish the microphone,
    /// subscribe to the caller.
    pub fn agent_token(&self, room: &str, identity: &str) -> String {
        self.room_token(room, identity, true)
    }

    /// A supervisor's token: hidden, subscribe only.
    pub fn listener_token(&self, room: &str, identity: &str) -> String {
        self.room_token(room, identity, false)
    }

    /// A token to join `room` only, for `token_minutes`; a participant who may not speak
    /// is also hidden from the others.
    pub(crate) fn room_token(&self, room: &str, identity: &str, speaks: bool) -> String {
        let video = VideoGrant {
            room_join: true,
            room: Some(room.to_owned()),
            can_publish: Some(speaks),
            can_subscribe: Some(true),
            can_publish_data: Some(speaks),
            hidden: !speaks,
            ..VideoGrant::default()
        };
        let ttl = i64::from(self.cfg.token_minutes) * 60;
        token::mint_for(&self.key, identity, ttl, Some(video), None)
    }

    /// Report what an action did to the call, through the normal event path.
    async fn report(&self, call: &CallRef, status: CallStatus, what: &str) {
        let at = self.clock.now_ms();
        let mut ev = NormalizedCallEvent::new(format!("lk-{what}-{}-{at}", call.call_sid), at);
        ev.call_sid = Some(call.call_sid.clone());
        ev.status = Some(status);
        // A closed sink means the gateway is shutting down; nothing is waiting for this.
        let _ = self.sink.send(ProviderEvent::Call(ev)).await;
    }

    fn emit(&self, ev: NormalizedCallEvent) {
        if self.sink.try_send(ProviderEvent::Call(ev)).is_err() {
            tracing::warn!(provider = %self.name, "event sink full or closed: an outbound call's result was dropped");
        }
    }
}

/// An outbound call being placed: waits for its answer or failure and reports it.
struct Dialling {
    api: Twirp,
    sink: EventSink,
    clock: Arc<dyn Clock>,
    legs: Arc<Legs>,
    provider: String,
    ring: std::time::Duration,
}

impl Dialling {
    async fn run(self, sid: CallSid, req: proto::CreateSipParticipantRequest) {
        let started = std::time::Instant::now();
        let result = self.api.create_sip_participant_answered(&req, self.ring).await;
        let mut ev = NormalizedCallEvent::new(format!("lk-result-{sid}"), self.clock.now_ms());
        ev.call_sid = Some(sid.clone());
        ev.voice_platform = Some(VoicePlatform::LiveKit);
        match result {
            Ok(info) => {
                ev.voice_platform_call_id = Some(info.sip_call_id).filter(|s| !s.is_empty());
                ev.status = Some(CallStatus::Answered);
            }
            Err(e) => {
                self.legs.forget(&sid);
                let err = match (unanswered(&e, started.elapsed(), self.ring), call_failed(&e)) {
                    (Some(err), _) | (None, ProviderError::Call(err)) => err,
                    (None, _) => return,
                };
                ev.status = Some(outbound_end(err.code));
                ev.error = Some(err);
            }
        }
        if self.sink.send(ProviderEvent::Call(ev)).await.is_err() {
            tracing::warn!(provider = %self.provider, call_sid = %sid, "the gateway stopped before an outbound call's result arrived");
        }
    }
}

/// A call LiveKit gave up on when its ringing timeout ran out: livekit-sip CANCELs the
/// INVITE and answers `canceled` with no SIP status (the callee's 487 is not passed on).
fn unanswered(e: &TwirpError, waited: std::time::Duration, ring: std::time::Duration) -> Option<CallError> {
    match e {
        TwirpError::Server {
            code, sip_status: None, ..
        } if (code == "canceled" || code == "deadline_exceeded") && waited >= ring => {
            let mut err = CallError::new(
                CallErrorCode::NoAnswer,
                format!("not answered within {} s: LiveKit canceled the call", ring.as_secs()),
            );
            err.provider_code = Some(code.clone());
            Some(err)
        }
        _ => None,
    }
}

/// How an outbound call that was never answered ends: missed when nobody picked up,
/// failed otherwise.
fn outbound_end(code: CallErrorCode) -> CallStatus {
    match code {
        CallErrorCode::NoAnswer => CallStatus::Missed,
        _ => CallStatus::Failed,
    }
}

fn config_err(e: &TwirpError) -> ProviderError {
    ProviderError::Config(format!("LiveKit server: {e}"))
}

/// The room an outbound call is placed in.
fn outbound_room(sid: &CallSid) -> String {
    format!("{}{sid}", webhook::OUTBOUND_ROOM_PREFIX)
}

#[async_trait]
impl TelephonyProvider for LiveKit {
    fn kind(&self) -> &'static str {
        "livekit"
    }

    fn vendor(&self) -> TelephonyVendor {
        TelephonyVendor::from("livekit")
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            inbound: true,
            outbound: self.cfg.outbound_address.is_some(),
            hold: true,
            transfer_to_number: true,
            transfer_to_agent: false,
            dtmf: true,
            recording: false,
            transcripts: false,
            ai_agents: false,
            monitor: true,
            warm_transfer: false,
        }
    }

    fn validate_config(&self) -> Result<(), ProviderError> {
        self.cfg.check()
    }

    async fn check(&self) -> Result<(), ProviderError> {
        self.validate_config()?;
        self.api.list_inbound_trunks().await.map_err(|e| config_err(&e))?;
        Ok(())
    }

    async fn reconcile(&self, _live: &[LiveCall]) -> Result<(), ProviderError> {
        // Calls left live keep going in their rooms; the webhooks say how they end.
        self.provision().await
    }

    async fn initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError> {
        let trunk = self.outbound_trunk().await?;
        let room = outbound_room(&call.call_sid);
        let identity = format!("sip-{}", call.call_sid);
        let req = proto::CreateSipParticipantRequest {
            sip_trunk_id: trunk,
            sip_call_to: call.to.to_string(),
            sip_number: call.from.to_string(),
            room_name: room.clone(),
            participant_identity: identity.clone(),
            participant_name: call.to.to_string(),
            participant_attributes: HashMap::from([
                (webhook::CALL_SID_ATTRIBUTE.to_owned(), call.call_sid.to_string()),
                (webhook::PROVIDER_ATTRIBUTE.to_owned(), self.name.clone()),
            ]),
            play_dialtone: true,
            ..Default::default()
        };
        self.legs.put(call.call_sid.clone(), Leg { room, identity });
        let mut ringing = NormalizedCallEvent::new(format!("lk-dial-{}", call.call_sid), self.clock.now_ms());
        ringing.call_sid = Some(call.call_sid.clone());
        ringing.voice_platform = Some(VoicePlatform::LiveKit);
        ringing.status = Some(CallStatus::Ringing);
        self.emit(ringing);
        // The call is placed until answered in a task of its own: only that form of the
        // request tells how a failed call ended (its SIP status); the webhooks only say the
        // caller left. The ids arrive with the result and with `participant_joined`.
        let dial = Dialling {
            api: self.api.clone(),
            sink: self.sink.clone(),
            clock: self.clock.clone(),
            legs: self.legs.clone(),
            provider: self.name.clone(),
            ring: std::time::Duration::from_secs(u64::from(self.cfg.ring_seconds)),
        };
        tokio::spawn(dial.run(call.call_sid.clone(), req));
        Ok(Initiated {
            voice_platform: Some(VoicePlatform::LiveKit),
            ..Initiated::default()
        })
    }

    async fn answer(&self, call: &CallRef) -> Result<(), ProviderError> {
        // The caller is already in the room; the agent joining it is the answer (the SIP
        // service picks up once someone subscribes to the caller).
        self.leg(call).await?;
        self.report(call, CallStatus::Answered, "answered").await;
        Ok(())
    }

    async fn hold(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.hold_call(call).await
    }

    async fn resume(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.resume_call(call).await
    }

    async fn transfer(&self, call: &CallRef, to: &TransferTarget) -> Result<(), ProviderError> {
        let target = match (to, &self.cfg.transfer_domain) {
            (TransferTarget::Number(number), Some(domain)) => format!("sip:{number}@{domain}"),
            (TransferTarget::Number(number), None) => format!("tel:{number}"),
            _ => return Err(ProviderError::Unsupported("transfer to an agent")),
        };
        let leg = self.leg(call).await?;
        match self
            .api
            .transfer_sip_participant(&leg.room, &leg.identity, &target)
            .await
        {
            Ok(()) => {}
            // LiveKit lost the phone's answer to its REFER (see `transfer_unconfirmed`). A
            // phone that hangs up its leg right after says the call went.
            Err(ref e @ TwirpError::Server { ref code, .. }) if code == "canceled" || code == "deadline_exceeded" => {
                if !self.leaves(&leg).await {
                    return Err(transfer_unconfirmed(&target, e));
                }
            }
            Err(e) => return Err(call_failed(&e)),
        }
        // The caller's phone now calls the target itself; the leg leaves the room.
        self.legs.forget(&call.call_sid);
        self.report(call, CallStatus::Transferred, "transfer").await;
        Ok(())
    }

    async fn end(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.legs.helpers.leave(&call.call_sid).await;
        let leg = self.leg(call).await?;
        match self.api.remove_participant(&leg.room, &leg.identity).await {
            Ok(()) => {}
            // Gone already: the call is over either way.
            Err(TwirpError::Server { code, .. }) if code == "not_found" => {}
            Err(e) => return Err(call_failed(&e)),
        }
        self.legs.forget(&call.call_sid);
        Ok(())
    }

    async fn send_dtmf(&self, call: &CallRef, digits: &str) -> Result<(), ProviderError> {
        self.keys(call, digits).await
    }

    async fn start_recording(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported("recording (LiveKit records through Egress)"))
    }

    async fn stop_recording(&self, _call: &CallRef) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported("recording (LiveKit records through Egress)"))
    }

    async fn recording_url(&self, _call: &CallRef) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// Listening only: the supervisor's desktop joins the caller's room hidden and may not
    /// publish. Whisper and barge would need the supervisor's track kept from the caller,
    /// which the server API cannot do for a participant who publishes later.
    async fn monitor(
        &self,
        call: &CallRef,
        supervisor: &str,
        mode: Option<switchboard_core::MonitorMode>,
    ) -> Result<MediaJoin, ProviderError> {
        let leg = self.leg(call).await?;
        let identity = format!("supervisor-{supervisor}");
        match mode {
            Some(switchboard_core::MonitorMode::Listen) => Ok(MediaJoin::LiveKit {
                url: self.cfg.url.clone(),
                token: self.listener_token(&leg.room, &identity),
                room: leg.room,
            }),
            Some(_) => Err(ProviderError::Unsupported(
                "whisper and barge on LiveKit calls (listening works)",
            )),
            None => match self.api.remove_participant(&leg.room, &identity).await {
                Ok(()) => Ok(MediaJoin::None),
                Err(TwirpError::Server { code, .. }) if code == "not_found" => Ok(MediaJoin::None),
                Err(e) => Err(call_failed(&e)),
            },
        }
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<ProviderEvent>, WebhookError> {
        let now = self.clock.now_ms();
        token::verify_webhook(
            req.header("authorization"),
            req.body,
            std::slice::from_ref(&self.key),
            now / 1000,
        )
        .map_err(|_| WebhookError::BadSignature)?;
        let leg = webhook::parse(req.body, now).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        Ok(leg
            // Another provider's call on a shared LiveKit server is not ours to record.
            .filter(|l| l.provider.as_deref().is_none_or(|p| p == self.name))
            .map(|l| ProviderEvent::Call(l.event))
            .into_iter()
            .collect())
    }

    fn webhook_response(&self, req: &WebhookRequest<'_>, call_sid: Option<&CallSid>) -> WebhookReply {
        // The gateway now knows the call: remember where its caller is.
        if let (Some(sid), Ok(Some(leg))) = (call_sid, webhook::parse(req.body, 0)) {
            if leg.event.status.is_some_and(|s| s.is_terminal()) {
                self.legs.forget(sid);
            } else {
                self.legs.put(
                    sid.clone(),
                    Leg {
                        room: leg.room,
                        identity: leg.identity,
                    },
                );
            }
        }
        WebhookReply {
            content_type: "application/json",
            body: "{}".into(),
        }
    }

    fn media_join(&self, call: &CallRef) -> MediaJoin {
        let Some(leg) = self.legs.get(&call.call_sid) else {
            return MediaJoin::None;
        };
        let identity = call.agent.clone().unwrap_or_else(|| "agent".into());
        MediaJoin::LiveKit {
            url: self.cfg.url.clone(),
            token: self.agent_token(&leg.room, &format!("agent-{identity}")),
            room: leg.room,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn server(code: &str, sip: Option<u16>) -> TwirpError {
        TwirpError::Server {
            method: "CreateSIPParticipant",
            code: code.into(),
            msg: "twirp error unknown".into(),
            sip_status: sip,
        }
    }

    #[test]
    fn a_failed_outbound_call_keeps_its_sip_code_and_ends_as_a_person_would_say() {
        let ring = Duration::from_secs(5);
        let cases = [
            (
                server("unavailable", Some(486)),
                CallErrorCode::Busy,
                "486",
                CallStatus::Failed,
            ),
            (
                server("unavailable", Some(480)),
                CallErrorCode::NoAnswer,
                "480",
                CallStatus::Missed,
            ),
            (
                server("unavailable", Some(603)),
                CallErrorCode::Rejected,
                "603",
                CallStatus::Failed,
            ),
            (
                server("unavailable", Some(404)),
                CallErrorCode::InvalidNumber,
                "404",
                CallStatus::Failed,
            ),
            (
                server("unavailable", None),
                CallErrorCode::Unavailable,
                "unavailable",
                CallStatus::Failed,
            ),
        ];
        for (e, code, provider_code, status) in cases {
            assert!(unanswered(&e, ring, ring).is_none());
            let ProviderError::Call(err) = call_failed(&e) else {
                panic!("{e:?} is a call failure")
            };
            assert_eq!((err.code, err.provider_code.as_deref()), (code, Some(provider_code)));
            assert_eq!(outbound_end(err.code), status);
        }
        // LiveKit's ringing timeout: canceled after the ring time is no answer...
        let err = unanswered(&server("canceled", None), ring + Duration::from_millis(200), ring).unwrap();
        assert_eq!(
            (err.code, err.provider_code.as_deref()),
            (CallErrorCode::NoAnswer, Some("canceled"))
        );
        // ...but a cancel before it (the call ended from our side) is not.
        assert!(unanswered(&server("canceled", None), Duration::from_secs(1), ring).is_none());
    }
}
