//! The Asterisk provider (`kind = "asterisk"`): actions become AMI actions on the standing
//! [`Session`]; the PBX's events come back through the [`Tracker`]. Which AMI action does
//! what (protocols.md §3.3):
//!
//! | ours | AMI |
//! |---|---|
//! | outbound | `Originate` the agent's extension (it rings first), then `outboundContext` dials the customer with the business number as caller id |
//! | answer | `Redirect` the caller to the agent's extension in `agentContext`, or `QueueAdd` the agent (answer mode `queue`) |
//! | hold / resume | `Redirect` the caller to `holdContext,hold` (music) and the agent's phone to `holdContext,wait`; resume is `Bridge` of the two. The phone's own hold key arrives as `Hold`/`Unhold` and is reported too |
//! | transfer to a number | `BlindTransfer` of the agent's channel to `outboundContext` (or `Redirect` of the caller, transfer mode `redirect`) |
//! | transfer to an agent | the caller back to the hold music, ringing for the gateway's next agent |
//! | attended transfer | `Atxfer` from the agent's channel; complete = the agent's phone hangs up; cancel = the consulted phone does |
//! | end | `Hangup` of the customer's channel, cause 16 |
//! | keys | `PlayDTMF`, one per digit, to the customer |
//! | recording | `MixMonitor` / `StopMixMonitor` on the customer's channel |
//! | supervisor | `Originate` the supervisor's extension into `ChanSpy(<agent channel>,qE / qwE / qBE)` |
//!
//! The agent's audio is on their own phone: answers return `MediaJoin::External`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::api::TransferTarget;
use switchboard_core::{CallError, CallErrorCode, CallSid, ConsultStep, MediaJoin, MonitorMode, TelephonyVendor};

use super::calls::Tracker;
use super::client::{AmiClient, AmiError};
use super::config::{AnswerMode, AsteriskConfig, TransferMode};
use super::frame::Message;
use super::session::{Session, Target};
use super::webhook;
use crate::registry::{Clock, ProviderContext};
use crate::secret::ProviderConfig;
use crate::{
    CallRef, Capabilities, ConsultTarget, EventSink, Initiated, LiveCall, OutboundCall, ProviderError, ProviderEvent,
    TelephonyProvider, WebhookError, WebhookReply, WebhookRequest,
};

/// How long an action waits for the PBX connection to come back.
const CONNECTION_WAIT: Duration = Duration::from_secs(5);

/// What instances of one provider share across config reloads: the calls and channels the
/// PBX has, the connection, and the supervisors' spy channels.
#[derive(Debug, Default)]
struct Shared {
    tracker: Arc<Mutex<Tracker>>,
    session: Mutex<Option<Arc<Session>>>,
    /// (call, supervisor) → the spy channel's Uniqueid.
    spies: Mutex<HashMap<(CallSid, String), String>>,
}

/// The provider.
#[derive(Debug)]
pub struct Asterisk {
    cfg: AsteriskConfig,
    secret: Option<String>,
    numbers: Vec<String>,
    shared: Arc<Shared>,
    sink: EventSink,
    clock: Arc<dyn Clock>,
}

/// An AMI failure as the gateway reports it.
fn ami_err(e: AmiError) -> ProviderError {
    let code = match &e {
        AmiError::Refused { .. } => CallErrorCode::Rejected,
        AmiError::LoginRefused(_) => CallErrorCode::AuthFailed,
        _ => CallErrorCode::Unavailable,
    };
    let mut err = CallError::new(code, e.to_string());
    if let AmiError::Refused { message, .. } = &e {
        err.provider_message = Some(message.clone());
    }
    ProviderError::Call(err)
}

fn action(name: &str) -> Message {
    Message::new().with("Action", name)
}

impl Asterisk {
    /// Build from a stored config.
    pub fn from_context(config: &serde_json::Value, ctx: &ProviderContext) -> Result<Self, ProviderError> {
        let cfg = AsteriskConfig::parse(config, &ctx.secrets)?;
        let shared = ctx.carry.get_or_init(Shared::default);
        Ok(Self {
            secret: cfg.webhook_secret.as_ref().map(|s| s.expose().to_owned()),
            cfg,
            numbers: ctx.inbound_numbers(),
            shared,
            sink: ctx.sink.clone(),
            clock: ctx.clock.clone(),
        })
    }

    fn target(&self) -> Option<Target> {
        Some(Target {
            addr: format!("{}:{}", self.cfg.ami_host.as_deref()?, self.cfg.ami_port),
            username: self.cfg.ami_username.clone()?,
            secret: self.cfg.ami_password.as_ref()?.expose().to_owned(),
            md5: self.cfg.ami_md5,
            ping: Duration::from_secs(self.cfg.ping_seconds),
            max_backoff: Duration::from_secs(self.cfg.reconnect_max_seconds),
        })
    }

    async fn client(&self) -> Result<AmiClient, ProviderError> {
        let session = self
            .shared
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ProviderError::Unsupported("call control without the manager interface (set amiHost)"))?;
        session.client(CONNECTION_WAIT).await.map_err(ami_err)
    }

    async fn send(&self, m: Message) -> Result<(), ProviderError> {
        self.client().await?.send(m).await.map(|_| ()).map_err(ami_err)
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.shared.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The call's `Linkedid`.
    fn linkedid<'a>(&self, call: &'a CallRef) -> Result<&'a str, ProviderError> {
        call.vendor_call_id
            .as_deref()
            .ok_or_else(|| ProviderError::Invalid("the PBX has not reported this call yet".into()))
    }

    /// The customer's channel, and the agent's phone's when there is one.
    fn legs(&self, call: &CallRef) -> Result<(String, Option<String>), ProviderError> {
        let l = self.linkedid(call)?;
        let (customer, agent) = self.tracker().legs(l);
        let customer =
            customer.ok_or_else(|| ProviderError::Invalid("the PBX has no channel for this call now".into()))?;
        Ok((customer, agent))
    }

    fn agent_leg(&self, call: &CallRef) -> Result<String, ProviderError> {
        self.legs(call)?
            .1
            .ok_or_else(|| ProviderError::Invalid("no agent's phone is on this call now".into()))
    }

    async fn report(&self, events: Vec<switchboard_core::NormalizedCallEvent>) {
        for e in events {
            let _ = self.sink.send(ProviderEvent::Call(e)).await;
        }
    }
}

#[async_trait]
impl TelephonyProvider for Asterisk {
    fn kind(&self) -> &'static str {
        "asterisk"
    }

    fn webhook_path(&self) -> &'static str {
        "pbx"
    }

    fn vendor(&self) -> TelephonyVendor {
        TelephonyVendor::Asterisk
    }

    fn capabilities(&self) -> Capabilities {
        let ami = self.cfg.ami_host.is_some();
        Capabilities {
            inbound: true,
            outbound: ami,
            hold: ami,
            transfer_to_number: ami,
            transfer_to_agent: ami,
            dtmf: ami,
            recording: ami && self.cfg.recordings_base_url.is_some(),
            transcripts: false,
            ai_agents: false,
            monitor: ami,
            warm_transfer: ami,
        }
    }

    fn validate_config(&self) -> Result<(), ProviderError> {
        self.cfg.check()
    }

    /// Log in once on a connection of its own: the credentials and the address work.
    async fn check(&self) -> Result<(), ProviderError> {
        self.validate_config()?;
        let Some(t) = self.target() else { return Ok(()) };
        let login = super::client::Login {
            username: t.username,
            secret: t.secret,
            md5: t.md5,
        };
        let (client, _events) = AmiClient::connect(&t.addr, &login)
            .await
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let _ = client.send(action("Logoff")).await;
        client.close();
        Ok(())
    }

    async fn reconcile(&self, live: &[LiveCall]) -> Result<(), ProviderError> {
        {
            let mut t = self.tracker();
            t.configure(self.numbers.clone(), self.cfg.recordings_base_url.clone());
            for c in live {
                if let Some(l) = &c.call.vendor_call_id {
                    t.adopt(
                        l,
                        c.call.call_sid.clone(),
                        c.call.direction,
                        &c.call.from,
                        &c.call.to,
                        c.status,
                    );
                }
            }
        }
        let mut slot = self.shared.session.lock().unwrap_or_else(|p| p.into_inner());
        match self.target() {
            // The same PBX and login: the connection carries on.
            Some(t) if slot.as_ref().is_some_and(|s| *s.target() == t) => {}
            Some(t) => {
                *slot = Some(Arc::new(Session::start(
                    t,
                    self.shared.tracker.clone(),
                    self.sink.clone(),
                    self.clock.clone(),
                )));
            }
            None => *slot = None,
        }
        Ok(())
    }

    async fn initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError> {
        let ext = self.cfg.extension(call.agent.as_deref())?.to_owned();
        let client = self.client().await?;
        // Our call_sid is the first channel's Uniqueid, and so the conversation's Linkedid.
        let linkedid = call.call_sid.as_str().to_owned();
        self.tracker()
            .expect_outbound(&linkedid, call.call_sid.clone(), call.from.as_str(), call.to.as_str());
        let originate = action("Originate")
            .with("Channel", &self.cfg.channel_of(&ext))
            .with("Context", &self.cfg.outbound_context)
            .with("Exten", call.to.as_str())
            .with("Priority", "1")
            .with("CallerID", &format!("<{}>", call.from.as_str()))
            .with("Timeout", "30000")
            .with("ChannelId", &linkedid)
            .with("Variable", &format!("SWITCHBOARD_CALL_SID={}", call.call_sid.as_str()))
            .with("Async", "true");
        client.send(originate).await.map_err(ami_err)?;
        Ok(Initiated {
            vendor_call_id: linkedid,
            ..Initiated::default()
        })
    }

    async fn answer(&self, call: &CallRef) -> Result<(), ProviderError> {
        let ext = self.cfg.extension(call.agent.as_deref())?.to_owned();
        match self.cfg.answer_mode {
            AnswerMode::Redirect => {
                let (customer, _) = self.legs(call)?;
                self.send(
                    action("Redirect")
                        .with("Channel", &customer)
                        .with("Context", &self.cfg.agent_context)
                        .with("Exten", &ext)
                        .with("Priority", "1"),
                )
                .await
            }
            AnswerMode::Queue => {
                let queue = self.cfg.queue.clone().unwrap_or_default();
                let member = action("QueueAdd")
                    .with("Queue", &queue)
                    .with("Interface", &self.cfg.channel_of(&ext))
                    .with("Paused", "false");
                match self.client().await?.send(member).await {
                    Ok(_) => Ok(()),
                    // Already a member: unpause instead.
                    Err(AmiError::Refused { .. }) => {
                        self.send(
                            action("QueuePause")
                                .with("Queue", &queue)
                                .with("Interface", &self.cfg.channel_of(&ext))
                                .with("Paused", "false"),
                        )
                        .await
                    }
                    Err(e) => Err(ami_err(e)),
                }
            }
        }
    }

    async fn hold(&self, call: &CallRef) -> Result<(), ProviderError> {
        let (customer, agent) = self.legs(call)?;
        let agent = agent.ok_or_else(|| ProviderError::Invalid("no agent's phone is on this call now".into()))?;
        self.send(
            action("Redirect")
                .with("Channel", &customer)
                .with("Context", &self.cfg.hold_context)
                .with("Exten", "hold")
                .with("Priority", "1")
                .with("ExtraChannel", &agent)
                .with("ExtraContext", &self.cfg.hold_context)
                .with("ExtraExten", "wait")
                .with("ExtraPriority", "1"),
        )
        .await?;
        let l = self.linkedid(call)?;
        let events = self.tracker().held(l, Some(agent), self.clock.now_ms());
        self.report(events).await;
        Ok(())
    }

    async fn resume(&self, call: &CallRef) -> Result<(), ProviderError> {
        let l = self.linkedid(call)?.to_owned();
        let (customer, _) = self.legs(call)?;
        let agent = self
            .tracker()
            .call(&l)
            .and_then(|c| c.parked_agent.clone())
            .ok_or_else(|| ProviderError::Invalid("this call is not on hold by the gateway".into()))?;
        self.send(
            action("Bridge")
                .with("Channel1", &customer)
                .with("Channel2", &agent)
                .with("Tone", "no"),
        )
        .await?;
        let events = self.tracker().held(&l, None, self.clock.now_ms());
        self.report(events).await;
        Ok(())
    }

    async fn transfer(&self, call: &CallRef, to: &TransferTarget) -> Result<(), ProviderError> {
        let (customer, agent) = self.legs(call)?;
        let l = self.linkedid(call)?.to_owned();
        let redirect = |context: &str, exten: &str| {
            action("Redirect")
                .with("Channel", &customer)
                .with("Context", context)
                .with("Exten", exten)
                .with("Priority", "1")
        };
        match (to, self.cfg.transfer_mode, agent) {
            (TransferTarget::Number(n), TransferMode::Blind, Some(agent)) => {
                // The PBX reports the outcome as a BlindTransfer event.
                self.send(
                    action("BlindTransfer")
                        .with("Channel", &agent)
                        .with("Context", &self.cfg.outbound_context)
                        .with("Exten", n.as_str()),
                )
                .await
            }
            (TransferTarget::Number(n), _, _) => {
                self.send(redirect(&self.cfg.outbound_context, n.as_str())).await?;
                let events = self.tracker().transferred(&l, self.clock.now_ms());
                self.report(events).await;
                Ok(())
            }
            // Another agent: the caller goes back to the music, and the gateway rings the
            // agent it chose, who answers as for any waiting call.
            (TransferTarget::Agent(_), _, _) => {
                self.send(redirect(&self.cfg.hold_context, "hold")).await?;
                let events = self.tracker().transferred(&l, self.clock.now_ms());
                self.report(events).await;
                Ok(())
            }
        }
    }

    async fn end(&self, call: &CallRef) -> Result<(), ProviderError> {
        let l = self.linkedid(call)?;
        let (customer, agent) = self.tracker().legs(l);
        let channel = customer
            .or(agent)
            .ok_or_else(|| ProviderError::Invalid("the PBX has no channel for this call now".into()))?;
        self.send(action("Hangup").with("Channel", &channel).with("Cause", "16"))
            .await
    }

    async fn send_dtmf(&self, call: &CallRef, digits: &str) -> Result<(), ProviderError> {
        if digits.is_empty()
            || digits.len() > 64
            || !digits.bytes().all(|b| b.is_ascii_digit() || b"*#ABCDabcd".contains(&b))
        {
            return Err(ProviderError::Invalid("keys are 0-9, *, # and A-D, at most 64".into()));
        }
        let (customer, _) = self.legs(call)?;
        let client = self.client().await?;
        for d in digits.chars() {
            client
                .send(
                    action("PlayDTMF")
                        .with("Channel", &customer)
                        .with("Digit", &d.to_string())
                        .with("Duration", "250"),
                )
                .await
                .map_err(ami_err)?;
        }
        Ok(())
    }

    async fn start_recording(&self, call: &CallRef) -> Result<(), ProviderError> {
        if self.cfg.recordings_base_url.is_none() {
            return Err(ProviderError::Unsupported(
                "recording without recordingsBaseUrl (where the PBX serves its recordings)",
            ));
        }
        let (customer, _) = self.legs(call)?;
        let file = format!("{}-{}.wav", call.call_sid.as_str(), self.clock.now_ms());
        self.send(
            action("MixMonitor")
                .with("Channel", &customer)
                .with("File", &file)
                .with("Options", "b"),
        )
        .await?;
        self.tracker().recording_started(self.linkedid(call)?, &file);
        Ok(())
    }

    async fn stop_recording(&self, call: &CallRef) -> Result<(), ProviderError> {
        let (customer, _) = self.legs(call)?;
        self.send(action("StopMixMonitor").with("Channel", &customer)).await
    }

    async fn recording_url(&self, _call: &CallRef) -> Result<Option<String>, ProviderError> {
        // The URL arrives with MixMonitorStop; the PBX has no API to list recordings.
        Ok(None)
    }

    async fn monitor(
        &self,
        call: &CallRef,
        supervisor: &str,
        mode: Option<MonitorMode>,
    ) -> Result<MediaJoin, ProviderError> {
        let key = (call.call_sid.clone(), supervisor.to_owned());
        // Any spy this supervisor has on the call goes first: ChanSpy's mode is fixed when
        // it starts, so switching is a new spy (a short gap).
        let old = self.shared.spies.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        if let Some(uid) = old {
            // The spy's channel is reported as its Originate starts; give a switch that
            // follows at once a moment to see it.
            let mut name = None;
            for _ in 0..30 {
                name = self.tracker().channel_name(&uid);
                if name.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if let Some(name) = name {
                self.send(action("Hangup").with("Channel", &name).with("Cause", "16"))
                    .await?;
            }
        }
        let Some(mode) = mode else { return Ok(MediaJoin::None) };
        let ext = self.cfg.extension(Some(supervisor))?.to_owned();
        let agent = self.agent_leg(call)?;
        let options = match mode {
            MonitorMode::Listen => "qE",
            MonitorMode::Whisper => "qwE",
            MonitorMode::Barge => "qBE",
        };
        let uid = format!("spy-{}-{}", call.call_sid.as_str(), self.clock.now_ms());
        self.send(
            action("Originate")
                .with("Channel", &self.cfg.channel_of(&ext))
                .with("Application", "ChanSpy")
                .with("Data", &format!("{agent},{options}"))
                .with("ChannelId", &uid)
                .with("CallerID", &format!("Monitor <{}>", call.to))
                .with("Timeout", "30000")
                .with("Async", "true"),
        )
        .await?;
        self.shared
            .spies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, uid);
        Ok(MediaJoin::External { extension: ext })
    }

    async fn consult(
        &self,
        call: &CallRef,
        step: ConsultStep,
        target: Option<&ConsultTarget>,
    ) -> Result<(), ProviderError> {
        match step {
            ConsultStep::Start => {
                let agent = self.agent_leg(call)?;
                let (context, exten) = match target {
                    Some(ConsultTarget::Agent(login)) => (
                        self.cfg.agent_context.clone(),
                        self.cfg.extension(Some(login))?.to_owned(),
                    ),
                    Some(ConsultTarget::Number(n)) => (self.cfg.outbound_context.clone(), n.as_str().to_owned()),
                    None => return Err(ProviderError::Invalid("an attended transfer needs a target".into())),
                };
                self.send(
                    action("Atxfer")
                        .with("Channel", &agent)
                        .with("Context", &context)
                        .with("Exten", &exten),
                )
                .await
            }
            // The consulted person answers on their own phone.
            ConsultStep::Accept => Ok(()),
            // Asterisk completes an attended transfer when the transferring phone hangs up.
            ConsultStep::Complete => {
                let agent = self.agent_leg(call)?;
                self.send(action("Hangup").with("Channel", &agent).with("Cause", "16"))
                    .await
            }
            // ... and cancels it when the consulted phone does.
            ConsultStep::Cancel => {
                let l = self.linkedid(call)?;
                let (customer, agent) = self.legs(call)?;
                let consulted = self
                    .tracker()
                    .others(l, &[customer.as_str(), agent.as_deref().unwrap_or_default()]);
                for c in consulted {
                    self.send(action("Hangup").with("Channel", &c).with("Cause", "16"))
                        .await?;
                }
                Ok(())
            }
            ConsultStep::Conference => Err(ProviderError::Unsupported(
                "a three-way call on a PBX (the agent's phone can do it with the PBX's three-way key)",
            )),
        }
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<ProviderEvent>, WebhookError> {
        webhook::verify(&self.cfg, self.secret.as_deref(), req)?;
        let ev = webhook::parse(req.body, self.clock.now_ms())?;
        Ok(vec![ProviderEvent::Call(ev)])
    }

    fn webhook_response(&self, _req: &WebhookRequest<'_>, call_sid: Option<&CallSid>) -> WebhookReply {
        WebhookReply {
            content_type: "application/json",
            body: serde_json::json!({ "ok": true, "call_sid": call_sid.map(CallSid::as_str) }).to_string(),
        }
    }

    fn media_join(&self, call: &CallRef) -> MediaJoin {
        match self.cfg.extension(call.agent.as_deref()) {
            Ok(ext) => MediaJoin::External {
                extension: ext.to_owned(),
            },
            Err(_) => MediaJoin::None,
        }
    }
}
