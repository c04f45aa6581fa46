//! `kind = "twilio"`: Twilio, and SignalWire through the same code (its API base URL, its
//! `X-SignalWire-Signature` header; both headers are accepted from either).
//!
//! The life of a call:
//! - **Inbound.** The number's voice webhook (`/webhooks/twilio/{name}`) stores the call
//!   as ringing and answers with TwiML that opens a Media Stream to
//!   `/webhooks/twilio/{name}/stream`; the [`super::bridge`] plays hold music into it
//!   while the gateway routes. Answering connects the agent in the bridge and reports
//!   `answered` (Twilio's own `in-progress` only means our TwiML runs).
//! - **Outbound.** The gateway stores the record first; [`Twilio::initiate`] asks the REST
//!   API for the call with the same stream TwiML, every status event sent to the webhook
//!   with our `call_sid` in the URL. A refusal keeps Twilio's code and message.
//! - **Controls.** Hold and resume act in the bridge; a transfer to a number redirects the
//!   live call to `<Dial>`; a transfer to an agent reconnects the bridge to that agent's
//!   desktop; end completes (or cancels a ringing outbound call); keys go in band; recording
//!   starts and stops through the REST API, the URL arriving by callback.
//! - **Ending.** Twilio's `completed` for an inbound call no agent ever took is
//!   `abandoned`: only the provider knows whether it connected someone.

mod conference;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use switchboard_core::api::TransferTarget;
use switchboard_core::{CallSid, CallStatus, Direction, MediaJoin, NormalizedCallEvent, TelephonyVendor};

use super::bridge::Bridges;
use super::callback::{self, Form};
use super::config::{Flavor, MediaMode, TwilioConfig};
use super::rest::{CallUpdate, NewCall, Rest};
use super::signature::{self, query_value};
use super::twiml;
use crate::registry::{Clock, ProviderContext};
use crate::secret::ProviderConfig;
use crate::{
    CallRef, Capabilities, EventSink, Initiated, LiveCall, MediaStreamSocket, OutboundCall, ProviderError,
    ProviderEvent, TelephonyProvider, WebhookError, WebhookReply, WebhookRequest,
};

/// Twilio's API.
pub const TWILIO_API: &str = "https://api.twilio.com/2010-04-01";

/// What the provider remembers of a call it has seen (from callbacks and its own actions).
#[derive(Debug, Clone, Default)]
struct Known {
    /// Twilio's latest status of the call.
    twilio_status: Option<String>,
    direction: Option<Direction>,
    /// An agent was connected at some point.
    answered: bool,
    /// We moved the call off our floor (a transfer to a number).
    transferred_out: bool,
    /// Conference mode: the call's conference (`CF…`), once reported.
    conference: Option<String>,
    /// Conference mode: the agent's phone leg in it (`CA…`).
    agent_leg: Option<String>,
    /// Conference mode: an agent's leg we hung up ourselves (a transfer), whose leaving
    /// does not end the call.
    dropped_leg: Option<String>,
    /// Conference mode: the caller is on participant hold.
    held: bool,
    /// Conference mode: the caller has left the conference.
    caller_left: bool,
    /// When we last heard of it (ms), so calls whose end we never learn are forgotten.
    seen_at: i64,
}

/// Calls remembered before the oldest are forgotten: a number without a status callback
/// never reports ends, and memory must not grow with every call ever received.
const MAX_KNOWN: usize = 50_000;
/// How long a call is remembered after we last heard of it.
const KNOWN_FOR_MS: i64 = 24 * 60 * 60 * 1000;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Twilio {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: TwilioConfig,
    rest: Rest,
    name: String,
    public_url: String,
    vendor: TelephonyVendor,
    sink: EventSink,
    clock: Arc<dyn Clock>,
    /// Calls in progress, shared with this provider's other instances (see
    /// [`crate::registry::Carry`]).
    shared: Arc<Shared>,
    /// Time of the last event we reported ourselves, kept strictly increasing.
    last_at: AtomicI64,
}

/// What instances of one provider share.
#[derive(Debug)]
struct Shared {
    bridges: Bridges,
    calls: Mutex<HashMap<String, Known>>,
}

/// Signature headers, Twilio's and SignalWire's (lowercase, as the gateway passes them).
const SIGNATURE_HEADERS: [&str; 2] = ["x-twilio-signature", "x-signalwire-signature"];

impl Twilio {
    /// Build from a stored config and the gateway's context.
    pub fn from_context(config: &serde_json::Value, ctx: &ProviderContext) -> Result<Self, ProviderError> {
        let cfg = TwilioConfig::parse(config, &ctx.secrets)?;
        let base = cfg.api_base.clone().unwrap_or_else(|| TWILIO_API.to_owned());
        let rest = Rest::new(&base, &cfg.account_sid, cfg.auth_token.clone())?;
        let vendor = match cfg.flavor {
            Flavor::Twilio => TelephonyVendor::Twilio,
            Flavor::Signalwire => TelephonyVendor::SignalWire,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shared: ctx.carry.get_or_init(|| Shared {
                    bridges: Bridges::new(cfg.loopback_only),
                    calls: Mutex::new(HashMap::new()),
                }),
                cfg,
                rest,
                name: ctx.name.clone(),
                public_url: ctx.public_url.trim_end_matches('/').to_owned(),
                vendor,
                sink: ctx.sink.clone(),
                clock: ctx.clock.clone(),
                last_at: AtomicI64::new(0),
            }),
        })
    }

    /// Create the customer's leg of an outbound call running `twiml` when it answers.
    async fn place(&self, call: &OutboundCall, twiml: &str) -> Result<String, ProviderError> {
        let callback = self.webhook_url(Some(&call.call_sid));
        let resource = self
            .inner
            .rest
            .create_call(&NewCall {
                to: call.to.as_str(),
                from: call.from.as_str(),
                twiml,
                status_callback: &callback,
                timeout_secs: self.inner.cfg.ring_timeout_secs,
            })
            .await?;
        if !callback::is_call_sid(&resource.sid) {
            return Err(ProviderError::Call(switchboard_core::CallError::new(
                switchboard_core::CallErrorCode::ProviderError,
                format!("the carrier answered with call id {:?}", resource.sid),
            )));
        }
        self.remember(&resource.sid, |k| {
            k.direction = Some(Direction::Outbound);
            k.twilio_status = resource.status.clone();
            // The far end picking up is the agent's call connecting.
            k.answered = true;
        });
        Ok(resource.sid)
    }

    fn conferencing(&self) -> bool {
        self.inner.cfg.media == MediaMode::Conference
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.inner.shared.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where Twilio reports a call's progress (with our id for calls we place).
    fn webhook_url(&self, call_sid: Option<&CallSid>) -> String {
        let base = format!("{}/webhooks/twilio/{}", self.inner.public_url, self.inner.name);
        match call_sid {
            Some(sid) => format!("{base}?call_sid={sid}"),
            None => base,
        }
    }

    /// Where Twilio opens the call's Media Stream.
    fn stream_url(&self) -> String {
        let base = &self.inner.public_url;
        let ws = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => base.clone(),
        };
        format!("{ws}/webhooks/twilio/{}/stream", self.inner.name)
    }

    /// The TwiML that puts a call on the bridge.
    fn stream_twiml(&self, call_sid: &CallSid) -> String {
        twiml::Response::new()
            .verb(twiml::connect_stream(
                &self.stream_url(),
                &[("call_sid", call_sid.as_str())],
            ))
            .render()
    }

    fn twilio_call(call: &CallRef) -> Result<&str, ProviderError> {
        call.vendor_call_id
            .as_deref()
            .ok_or_else(|| ProviderError::Invalid("the carrier has not reported this call yet".into()))
    }

    fn remember(&self, twilio_call: &str, f: impl FnOnce(&mut Known)) {
        let now = self.inner.clock.now_ms();
        let mut calls = self.calls();
        let k = known(&mut calls, twilio_call, now);
        f(k);
    }

    /// Report what we did ourselves (answer, hold, a transfer), on the normal event path.
    async fn report(&self, call: &CallRef, status: CallStatus, what: &str) {
        let now = self.inner.clock.now_ms();
        let at = self
            .inner
            .last_at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last + 1)))
            .map_or(now, |last| now.max(last + 1));
        let id = call.vendor_call_id.as_deref().unwrap_or(call.call_sid.as_str());
        let ev = NormalizedCallEvent {
            call_sid: Some(call.call_sid.clone()),
            telephony_vendor: Some(self.inner.vendor.clone()),
            vendor_call_id: call.vendor_call_id.clone(),
            status: Some(status),
            ..NormalizedCallEvent::new(format!("{id}:gw:{at}:{what}"), at)
        };
        // A closed sink means the gateway is shutting down; nothing is waiting for this.
        let _ = self.inner.sink.send(ProviderEvent::Call(ev)).await;
    }

    /// The caller's id on a transfer: the business number the call is on.
    fn business_number(call: &CallRef) -> &str {
        match call.direction {
            Direction::Inbound => &call.to,
            Direction::Outbound => &call.from,
        }
    }

    /// A call found over after an outage: report how it ended.
    async fn settle(&self, live: &LiveCall) -> Result<(), ProviderError> {
        let Some(twilio_call) = live.call.vendor_call_id.as_deref() else {
            return Ok(());
        };
        let resource = self.inner.rest.fetch_call(twilio_call).await?;
        let answered = matches!(
            live.status,
            CallStatus::Answered | CallStatus::OnHold | CallStatus::Transferred
        );
        self.remember(twilio_call, |k| {
            k.answered |= answered;
            k.direction = Some(live.call.direction);
            k.twilio_status = resource.status.clone();
        });
        let ended = match resource.status.as_deref() {
            Some("completed" | "canceled") if live.call.direction == Direction::Inbound && !answered => {
                CallStatus::Abandoned
            }
            Some("completed" | "canceled") => CallStatus::Completed,
            Some("busy" | "no-answer" | "failed") => CallStatus::Failed,
            // Still up at Twilio: its callbacks will say how it ends.
            _ => return Ok(()),
        };
        self.report(&live.call, ended, "settled").await;
        self.calls().remove(twilio_call);
        Ok(())
    }
}

#[async_trait]
impl TelephonyProvider for Twilio {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    fn vendor(&self) -> TelephonyVendor {
        self.inner.vendor.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            inbound: true,
            outbound: true,
            hold: true,
            transfer_to_number: true,
            transfer_to_agent: true,
            dtmf: true,
            recording: true,
            transcripts: false,
            ai_agents: false,
            // Conference coaching and attended transfer come with the carrier issues.
            monitor: false,
            warm_transfer: false,
        }
    }

    fn validate_config(&self) -> Result<(), ProviderError> {
        self.inner.cfg.check()
    }

    async fn check(&self) -> Result<(), ProviderError> {
        self.inner.cfg.check()?;
        self.inner.rest.check_account().await
    }

    async fn reconcile(&self, live: &[LiveCall]) -> Result<(), ProviderError> {
        if live.is_empty() {
            return Ok(());
        }
        // The streams of these calls died with the last run; ask Twilio how each ended,
        // off the start-up path (a slow API must not hold the gateway up).
        let (me, live) = (self.clone(), live.to_vec());
        tokio::spawn(async move {
            for call in &live {
                if let Err(e) = me.settle(call).await {
                    tracing::warn!(call_sid = %call.call.call_sid, error = %e, "could not learn how a call ended");
                }
            }
        });
        Ok(())
    }

    async fn initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError> {
        if call.ai_agent.is_some() {
            return Err(ProviderError::Unsupported("AI agents"));
        }
        if self.inner.cfg.media == MediaMode::Conference {
            return self.conference_initiate(call).await;
        }
        let twilio_call = self.place(call, &self.stream_twiml(&call.call_sid)).await?;
        self.inner.shared.bridges.set_connected(&twilio_call, true).await;
        Ok(Initiated {
            vendor_call_id: twilio_call,
            ..Initiated::default()
        })
    }

    async fn answer(&self, call: &CallRef) -> Result<(), ProviderError> {
        if self.conferencing() {
            return self.conference_answer(call).await;
        }
        let twilio_call = Self::twilio_call(call)?;
        self.remember(twilio_call, |k| k.answered = true);
        self.inner.shared.bridges.set_connected(twilio_call, true).await;
        self.report(call, CallStatus::Answered, "answered").await;
        Ok(())
    }

    async fn hold(&self, call: &CallRef) -> Result<(), ProviderError> {
        if self.conferencing() {
            return self.conference_hold(call, true).await;
        }
        self.inner.shared.bridges.set_held(Self::twilio_call(call)?, true);
        self.report(call, CallStatus::OnHold, "hold").await;
        Ok(())
    }

    async fn resume(&self, call: &CallRef) -> Result<(), ProviderError> {
        if self.conferencing() {
            return self.conference_hold(call, false).await;
        }
        self.inner.shared.bridges.set_held(Self::twilio_call(call)?, false);
        self.report(call, CallStatus::Answered, "resume").await;
        Ok(())
    }

    async fn transfer(&self, call: &CallRef, to: &TransferTarget) -> Result<(), ProviderError> {
        let twilio_call = Self::twilio_call(call)?;
        match to {
            TransferTarget::Number(number) => {
                let doc = twiml::Response::new()
                    .verb(twiml::dial(
                        Some(Self::business_number(call)),
                        twiml::number(number.as_str()),
                    ))
                    .render();
                self.inner
                    .rest
                    .update_call(twilio_call, &CallUpdate::Twiml(&doc))
                    .await?;
                // Twilio stops the stream as the call moves to <Dial>; the caller leaves
                // our floor and the call ends when that leg does.
                self.remember(twilio_call, |k| k.transferred_out = true);
                self.report(call, CallStatus::Transferred, "transfer").await;
            }
            TransferTarget::Agent(_) if self.conferencing() => {
                self.conference_transfer_to_agent(call).await?;
            }
            TransferTarget::Agent(_) => {
                // The caller hears hold music until the next agent answers and joins.
                self.inner.shared.bridges.set_connected(twilio_call, false).await;
                self.inner.shared.bridges.set_held(twilio_call, false);
                self.report(call, CallStatus::Transferred, "transfer").await;
                self.report(call, CallStatus::Ringing, "transfer-ringing").await;
            }
        }
        Ok(())
    }

    async fn end(&self, call: &CallRef) -> Result<(), ProviderError> {
        let twilio_call = Self::twilio_call(call)?;
        let status = self.calls().get(twilio_call).and_then(|k| k.twilio_status.clone());
        let update = match status.as_deref() {
            Some("queued" | "initiated" | "ringing") if call.direction == Direction::Outbound => CallUpdate::Cancel,
            _ => CallUpdate::Complete,
        };
        let resource = self.inner.rest.update_call(twilio_call, &update).await?;
        // Twilio's answer already says it is over; its callback will confirm.
        if matches!(resource.status.as_deref(), Some("completed" | "canceled")) {
            let answered = self.calls().get(twilio_call).is_some_and(|k| k.answered);
            let ended = if call.direction == Direction::Inbound && !answered {
                CallStatus::Abandoned
            } else {
                CallStatus::Completed
            };
            self.report(call, ended, "ended").await;
            self.calls().remove(twilio_call);
        }
        self.inner.shared.bridges.end(twilio_call).await;
        Ok(())
    }

    async fn send_dtmf(&self, call: &CallRef, digits: &str) -> Result<(), ProviderError> {
        if !is_digits(digits) {
            return Err(ProviderError::Invalid("digits must be 0-9, *, # or A-D".into()));
        }
        if self.conferencing() {
            return self.conference_dtmf(call, digits).await;
        }
        // With the desktop joined the keys are already on their way in band.
        self.inner
            .shared
            .bridges
            .play_keys_unless_joined(Self::twilio_call(call)?, digits);
        Ok(())
    }

    async fn start_recording(&self, call: &CallRef) -> Result<(), ProviderError> {
        let callback = self.webhook_url(Some(&call.call_sid));
        self.inner
            .rest
            .start_recording(Self::twilio_call(call)?, &callback)
            .await
    }

    async fn stop_recording(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.inner.rest.stop_recording(Self::twilio_call(call)?).await
    }

    async fn recording_url(&self, _call: &CallRef) -> Result<Option<String>, ProviderError> {
        // It arrives by the recording status callback.
        Ok(None)
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<ProviderEvent>, WebhookError> {
        let sig = SIGNATURE_HEADERS.iter().find_map(|h| req.header(h));
        let token = self.inner.cfg.auth_token.expose();
        if !signature::verify(token, req.url, req.header("content-type"), req.body, sig) {
            return Err(WebhookError::BadSignature);
        }
        let form = Form::parse(req.body)?;
        let our_sid = match query_value(req.url, "call_sid") {
            Some(s) => Some(
                s.parse::<CallSid>()
                    .map_err(|e| WebhookError::Malformed(format!("call_sid in the URL: {e}")))?,
            ),
            None => None,
        };
        if query_value(req.url, "digits").is_some() {
            // Twilio fetching the keys we asked it to play (see webhook_response).
            return Ok(vec![]);
        }
        if form.get("StatusCallbackEvent").is_some() && form.get("ConferenceSid").is_some() {
            return self.conference_event(&form, our_sid, query_value(req.url, "caller"));
        }
        let mut ev = callback::normalize(&form, &self.inner.vendor, our_sid, self.inner.clock.now_ms())?;
        let Some(twilio_call) = ev.vendor_call_id.clone() else {
            return Ok(vec![ProviderEvent::Call(ev)]);
        };
        let is_parent = form.get("ParentCallSid").is_none_or(str::is_empty);
        let known = {
            let mut calls = self.calls();
            let k = known(&mut calls, &twilio_call, self.inner.clock.now_ms());
            if is_parent {
                if let Some(s) = form.get("CallStatus") {
                    k.twilio_status = Some(s.to_owned());
                }
                k.direction = ev.direction.or(k.direction);
            }
            k.clone()
        };
        if ev.status == Some(CallStatus::Completed) && known.direction == Some(Direction::Inbound) && !known.answered {
            ev.status = Some(CallStatus::Abandoned);
        }
        if ev.status.is_some_and(CallStatus::is_terminal) {
            let (me, call) = (self.clone(), twilio_call);
            tokio::spawn(async move {
                me.inner.shared.bridges.end(&call).await;
                me.calls().remove(&call);
            });
        }
        Ok(vec![ProviderEvent::Call(ev)])
    }

    fn webhook_response(&self, req: &WebhookRequest<'_>, call_sid: Option<&CallSid>) -> WebhookReply {
        let xml = |body: String| WebhookReply {
            content_type: "text/xml",
            body,
        };
        // The voice webhook of an incoming call (not a status callback, not one of our own
        // calls' callbacks) gets the TwiML that puts the caller on the bridge.
        if let Some(digits) = query_value(req.url, "digits").filter(|d| is_digits(d)) {
            return xml(twiml::Response::new().verb(twiml::play_digits(&digits)).render());
        }
        let form = Form::parse(req.body).ok();
        let get = |k: &str| form.as_ref().and_then(|f| f.get(k));
        let voice_webhook = get("CallbackSource").is_none()
            && get("RecordingSid").is_none()
            && get("Direction") == Some("inbound")
            && matches!(get("CallStatus"), Some("ringing" | "queued" | "in-progress"))
            && query_value(req.url, "call_sid").is_none();
        match (voice_webhook, call_sid, get("CallSid")) {
            (true, Some(sid), Some(caller)) if self.conferencing() => xml(self.waiting_room_twiml(sid, caller)),
            (true, Some(sid), _) => xml(self.stream_twiml(sid)),
            _ => xml(twiml::Response::new().render()),
        }
    }

    fn verify_media_stream(&self, req: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        let sig = SIGNATURE_HEADERS.iter().find_map(|h| req.header(h));
        if signature::verify(self.inner.cfg.auth_token.expose(), req.url, None, &[], sig) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    async fn media_stream(&self, socket: MediaStreamSocket) {
        let account = self.inner.cfg.account_sid.clone();
        let Some(start) = self
            .inner
            .shared
            .bridges
            .run(socket, |start| {
                if start.account_sid != account {
                    tracing::warn!(account = %start.account_sid, "a media stream names another account");
                }
            })
            .await
        else {
            return;
        };
        // The stream stopped: unless we moved the call on, the caller hung up. A number
        // without a status callback would never say so; Twilio's API does.
        let (twilio_call, known) = {
            let calls = self.calls();
            (start.call_sid.clone(), calls.get(&start.call_sid).cloned())
        };
        let Some(known) = known else { return }; // Already over: its end was reported.
        if known.transferred_out {
            return;
        }
        let Some(call_sid) = start
            .custom_parameters
            .get("call_sid")
            .and_then(|s| s.parse::<CallSid>().ok())
        else {
            return;
        };
        let live = LiveCall {
            call: CallRef {
                call_sid,
                vendor_call_id: Some(twilio_call),
                direction: known.direction.unwrap_or(Direction::Inbound),
                from: String::new(),
                to: String::new(),
                agent: None,
            },
            status: if known.answered {
                CallStatus::Answered
            } else {
                CallStatus::Ringing
            },
        };
        if let Err(e) = self.settle(&live).await {
            tracing::warn!(call_sid = %live.call.call_sid, error = %e, "could not learn how a call ended");
        }
    }

    fn media_join(&self, call: &CallRef) -> MediaJoin {
        if self.conferencing() {
            // The agent talks on their own phone.
            return MediaJoin::None;
        }
        MediaJoin::Peer {
            signal: format!("/v1/calls/{}/media", call.call_sid),
        }
    }

    async fn media_offer(&self, call: &CallRef, sdp: &str) -> Result<String, ProviderError> {
        if self.conferencing() {
            return Err(ProviderError::Unsupported(
                "desktop audio (this provider rings the agent's own phone)",
            ));
        }
        self.inner.shared.bridges.offer(Self::twilio_call(call)?, sdp).await
    }
}

/// Keys we send: 0-9, *, # and A-D (at most a few dozen).
fn is_digits(digits: &str) -> bool {
    (1..=64).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit() || "*#ABCDabcd".contains(c))
}

/// The call's entry, made if new and marked as heard of now; when the map is full, calls
/// not heard of for a day are forgotten first, then the oldest.
fn known<'a>(calls: &'a mut HashMap<String, Known>, twilio_call: &str, now: i64) -> &'a mut Known {
    if calls.len() >= MAX_KNOWN && !calls.contains_key(twilio_call) {
        calls.retain(|_, k| now - k.seen_at < KNOWN_FOR_MS);
        if calls.len() >= MAX_KNOWN {
            let mut ages: Vec<i64> = calls.values().map(|k| k.seen_at).collect();
            let (_, median, _) = ages.select_nth_unstable(MAX_KNOWN / 2);
            let median = *median;
            calls.retain(|_, k| k.seen_at > median);
        }
    }
    let k = calls.entry(twilio_call.to_owned()).or_default();
    k.seen_at = now;
    k
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
