//! The built-in simulator: the embedded default provider for demos and tests.
//!
//! It behaves like a remote provider. Inbound calls arrive on a seeded schedule from the
//! configured callers (the gateway passes its leads' numbers); every action is confirmed
//! asynchronously, a little later, through the simulator's own events; answered calls
//! stream scripted transcript turns; callers hang up when left ringing or talking too
//! long; outbound calls ring and then answer or fail (busy, no answer, failed) at the
//! configured rates. Its webhook format, for external load and tests, is the normalised
//! event itself, signed with HMAC-SHA256 (see [`crate::signature`]).
//!
//! With `media` configured, answered callers are real WebRTC peers with audio
//! ([`media`]): the desktop negotiates through the gateway's `/v1/calls/{sid}/media`.
//!
//! Calls it did not start (created through its webhook, say) are still confirmed: like a
//! real provider, it acts on any call id it is given.

mod consult;
pub mod media;
mod mix;
pub mod scenario;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;
use switchboard_core::api::{TranscriptTurnIn, TransferTarget};
use switchboard_core::{
    CallError, CallErrorCode, CallSid, CallStatus, Direction, NormalizedCallEvent, TelephonyVendor,
};

use crate::secret::{NoSecrets, ProviderConfig, Secret, SecretSource};
use crate::{
    CallRef, Capabilities, EventSink, Initiated, OutboundCall, ProviderError, ProviderEvent, TelephonyProvider,
    WebhookError, WebhookReply, WebhookRequest, signature,
};
use media::{CallerPeers, SimMediaConfig};
use scenario::{OutboundOutcome, SCRIPTS};

fn default_first_call() -> u64 {
    2_000
}
fn default_confirm() -> u64 {
    150
}
fn default_ring_timeout() -> u64 {
    90_000
}
fn default_turn_interval() -> u64 {
    2_500
}
fn default_talk_limit() -> u64 {
    300_000
}
fn default_outbound_ring() -> u64 {
    1_500
}
fn default_max_waiting() -> usize {
    5
}

/// The simulator's configuration (the `config` JSON of a `simulator` provider, with
/// `secret:` references already resolved).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Scenario seed.
    #[serde(default)]
    pub seed: u64,
    /// Mean inbound calls per minute; 0 turns inbound traffic off.
    #[serde(default)]
    pub inbound_per_minute: f64,
    /// Delay before the first inbound call.
    #[serde(default = "default_first_call")]
    pub first_call_after_ms: u64,
    /// No new inbound call while this many are already waiting.
    #[serde(default = "default_max_waiting")]
    pub max_waiting: usize,
    /// How long the "network" takes to confirm an action.
    #[serde(default = "default_confirm")]
    pub confirm_delay_ms: u64,
    /// A caller left ringing this long hangs up (abandoned).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_ms: u64,
    /// Time between transcript turns of a connected call.
    #[serde(default = "default_turn_interval")]
    pub transcript_interval_ms: u64,
    /// A connected caller hangs up after this long.
    #[serde(default = "default_talk_limit")]
    pub talk_limit_ms: u64,
    /// How long an outbound call rings before its outcome.
    #[serde(default = "default_outbound_ring")]
    pub outbound_ring_ms: u64,
    /// Share of outbound calls that get a busy signal.
    #[serde(default)]
    pub outbound_busy_rate: f64,
    /// Share of outbound calls that ring out.
    #[serde(default)]
    pub outbound_no_answer_rate: f64,
    /// Share of outbound calls the network fails.
    #[serde(default)]
    pub outbound_failed_rate: f64,
    /// Numbers (prefixes) the simulated carrier refuses at once, as a CPaaS refuses an
    /// invalid `To`: `initiate` fails with INVALID_NUMBER and no call is placed.
    #[serde(default)]
    pub reject_prefixes: Vec<String>,
    /// Secret for the simulator's signed webhooks (usually `secret:NAME` in the stored
    /// config).
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Caller numbers for inbound calls (the gateway fills this from the leads).
    #[serde(default)]
    pub callers: Vec<String>,
    /// Business numbers inbound calls arrive at (the gateway fills this).
    #[serde(default)]
    pub service_numbers: Vec<String>,
    /// Controls this simulated carrier lacks, to stand in for a real one that does (a PBX
    /// without recording, a trunk without transfer): left out of its capabilities and
    /// refused when asked.
    #[serde(default)]
    pub without: Vec<SimFeature>,
    /// Real call audio: answered callers become WebRTC peers. Absent: no audio.
    #[serde(default)]
    pub media: Option<SimMediaConfig>,
}

/// A control the simulator can be configured to lack (see [`SimulatorConfig::without`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimFeature {
    /// Hold and resume.
    Hold,
    /// Transfer to a number.
    TransferToNumber,
    /// Transfer to another agent.
    TransferToAgent,
    /// Touch tones.
    Dtmf,
    /// Recording.
    Recording,
    /// Supervisors listening, whispering, barging.
    Monitor,
    /// Attended transfer (consult, conference).
    WarmTransfer,
}

impl SimFeature {
    const fn name(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::TransferToNumber => "transfer to a number",
            Self::TransferToAgent => "transfer to an agent",
            Self::Dtmf => "DTMF",
            Self::Recording => "recording",
            Self::Monitor => "monitoring",
            Self::WarmTransfer => "attended transfer",
        }
    }
}

impl SimulatorConfig {
    /// Parse and check a config value with literal values only (no `secret:` references).
    pub fn from_json(value: serde_json::Value) -> Result<Self, ProviderError> {
        Self::parse(&value, &(Arc::new(NoSecrets) as Arc<dyn SecretSource>))
    }
}

impl ProviderConfig for SimulatorConfig {
    fn check(&self) -> Result<(), ProviderError> {
        let rates = [
            self.outbound_busy_rate,
            self.outbound_no_answer_rate,
            self.outbound_failed_rate,
        ];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || rates.iter().sum::<f64>() > 1.0 {
            return Err(ProviderError::Config(
                "outbound rates must each be in [0, 1] and sum to at most 1".into(),
            ));
        }
        if !(0.0..=600.0).contains(&self.inbound_per_minute) {
            return Err(ProviderError::Config(
                "inbound_per_minute must be between 0 and 600".into(),
            ));
        }
        if let Some(hz) = self.media.as_ref().and_then(|m| m.caller_tone_hz) {
            if !(50.0..=8_000.0).contains(&hz) {
                return Err(ProviderError::Config(
                    "media.caller_tone_hz must be between 50 and 8000".into(),
                ));
            }
        }
        Ok(())
    }
}

fn base36(mut n: u64) -> String {
    let mut out = vec![];
    loop {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What the simulator remembers about one call.
#[derive(Debug)]
struct SimCall {
    call_sid: Option<CallSid>,
    direction: Direction,
    from: String,
    to: String,
    status: Option<CallStatus>,
    seq: i64,
    last_at: i64,
    /// Bumped on every status change; a timer whose epoch is stale does nothing.
    epoch: u64,
    script: usize,
    next_turn: usize,
    /// An agent asked to answer and the confirmation is on its way.
    answering: bool,
    /// Who may join the call's audio, by login, and as whom.
    parties: HashMap<String, mix::Party>,
    /// The party an attended transfer consults.
    consult: Option<crate::ConsultTarget>,
    /// Whether the latest consult step wants the caller held (see `settle_hold`).
    want_held: Option<bool>,
}

impl SimCall {
    fn new(call_sid: Option<CallSid>, direction: Direction, from: String, to: String, script: usize) -> Self {
        Self {
            call_sid,
            direction,
            from,
            to,
            status: None,
            seq: 0,
            last_at: 0,
            epoch: 0,
            script,
            next_turn: 0,
            answering: false,
            parties: HashMap::new(),
            consult: None,
            want_held: None,
        }
    }
}

#[derive(Debug)]
struct Inner {
    cfg: SimulatorConfig,
    /// Start time in base 36: call ids stay unique across restarts of the same scenario,
    /// which would otherwise reuse SIM-IN-0, SIM-IN-1, ...
    run: String,
    sink: EventSink,
    calls: Mutex<HashMap<String, SimCall>>,
    outbound_count: AtomicU64,
    recording_count: AtomicU64,
    peers: Option<CallerPeers>,
    /// Replaced by a newer instance: no new inbound callers.
    retired: std::sync::atomic::AtomicBool,
}

/// The simulator provider. Cheap to clone; all clones share one world.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    /// A simulator reporting to `sink`. Call [`Simulator::start`] for inbound traffic.
    pub fn new(cfg: SimulatorConfig, sink: EventSink) -> Result<Self, ProviderError> {
        cfg.check()?;
        let cfg_media = cfg.media.clone();
        let (heard_tx, heard_rx) = tokio::sync::mpsc::unbounded_channel();
        let sim = Self {
            inner: Arc::new(Inner {
                cfg,
                run: base36(now_ms().max(0) as u64),
                sink,
                calls: Mutex::new(HashMap::new()),
                outbound_count: AtomicU64::new(0),
                recording_count: AtomicU64::new(0),
                peers: cfg_media.map(|m| CallerPeers::new(m, heard_tx)),
                retired: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        // Media needs a runtime; without one (config checks) there are no peers to hear keys.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sim.clone().report_heard_keys(heard_rx));
        }
        Ok(sim)
    }

    /// Keys the caller's peer heard in band become system lines of the call's transcript,
    /// so the agent (and tests) can see the tones reached the far end.
    async fn report_heard_keys(self, mut heard: tokio::sync::mpsc::UnboundedReceiver<(String, char)>) {
        while let Some((key, digit)) = heard.recv().await {
            let turn = {
                let mut calls = self.lock();
                let Some(c) = calls.get_mut(&key) else { continue };
                let Some(sid) = c.call_sid.clone() else { continue };
                let seq = c.next_turn as i64;
                c.next_turn += 1;
                (
                    sid,
                    TranscriptTurnIn {
                        role: switchboard_core::TranscriptRole::System,
                        content: format!("Caller heard key {digit}"),
                        occurred_at: now_ms(),
                        sequence: seq,
                    },
                )
            };
            let _ = self
                .inner
                .sink
                .send(ProviderEvent::Transcript {
                    call_sid: turn.0,
                    turn: turn.1,
                })
                .await;
        }
    }

    /// Start inbound traffic (if configured). The task ends when the sink closes.
    pub fn start(&self) -> Option<tokio::task::JoinHandle<()>> {
        let cfg = &self.inner.cfg;
        if cfg.inbound_per_minute <= 0.0 || cfg.callers.is_empty() || cfg.service_numbers.is_empty() {
            return None;
        }
        let sim = self.clone();
        Some(tokio::spawn(async move { sim.inbound_loop().await }))
    }

    async fn inbound_loop(self) {
        let cfg = &self.inner.cfg;
        for n in 0u64.. {
            let plan = scenario::inbound_plan(
                cfg.seed,
                n,
                cfg.inbound_per_minute,
                cfg.callers.len(),
                cfg.service_numbers.len(),
            );
            let wait = if n == 0 { cfg.first_call_after_ms } else { plan.gap_ms };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if self.inner.sink.is_closed() || self.inner.retired.load(Ordering::Relaxed) {
                return;
            }
            if self.waiting() >= cfg.max_waiting {
                continue;
            }
            let key = format!("SIM-{}-IN-{n}", self.inner.run);
            let call = SimCall::new(
                None,
                Direction::Inbound,
                cfg.callers[plan.caller].clone(),
                cfg.service_numbers[plan.number].clone(),
                plan.script,
            );
            self.lock().insert(key.clone(), call);
            self.emit(&key, Some(CallStatus::Ringing), |_| {}).await;
            self.after(&key, cfg.ring_timeout_ms, |sim, key| async move {
                sim.emit(&key, Some(CallStatus::Abandoned), |_| {}).await;
            });
        }
    }

    /// A simulator for a provider row: callers default to the business's leads and calls
    /// arrive at the numbers this provider carries, unless the config names them.
    pub fn from_context(
        config: &serde_json::Value,
        ctx: &crate::registry::ProviderContext,
    ) -> Result<Self, ProviderError> {
        let mut cfg = SimulatorConfig::parse(config, &ctx.secrets)?;
        let named = |key: &str| config.get(key).is_some();
        if !named("callers") {
            cfg.callers = ctx.lead_phones.iter().take(200).cloned().collect();
        }
        if !named("service_numbers") {
            cfg.service_numbers = ctx.inbound_numbers();
        }
        Self::new(cfg, ctx.sink.clone())
    }

    /// Calls left live by a previous run (the gateway stopped while they were up): their
    /// simulated callers are long gone, so report them over, as a carrier would after an
    /// outage. Waiting callers abandoned; connected ones completed.
    pub async fn hang_up_orphans(&self, calls: &[crate::LiveCall]) {
        for crate::LiveCall { call, status } in calls {
            let key = self.key_for(call);
            let end = if matches!(status, CallStatus::Ringing | CallStatus::Queued) {
                CallStatus::Abandoned
            } else {
                CallStatus::Completed
            };
            self.emit(&key, Some(end), |_| {}).await;
        }
    }

    /// Refuse a control this simulated carrier was configured to lack.
    fn offers(&self, f: SimFeature) -> Result<(), ProviderError> {
        if self.inner.cfg.without.contains(&f) {
            Err(ProviderError::Unsupported(f.name()))
        } else {
            Ok(())
        }
    }

    fn waiting(&self) -> usize {
        self.lock()
            .values()
            .filter(|c| matches!(c.status, Some(CallStatus::Ringing | CallStatus::Queued)))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SimCall>> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters more than stopping the simulator would, so recover the guard.
        self.inner.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The simulator's key for a call: the vendor id it gave out, or our sid for calls it
    /// hears of first through an action.
    fn key_for(&self, call: &CallRef) -> String {
        let key = call.vendor_call_id.clone().unwrap_or_else(|| call.call_sid.to_string());
        let mut calls = self.lock();
        let script = call.call_sid.timestamp_ms() as usize % SCRIPTS.len();
        let entry = calls
            .entry(key.clone())
            .or_insert_with(|| SimCall::new(None, call.direction, call.from.clone(), call.to.clone(), script));
        entry.call_sid = Some(call.call_sid.clone());
        key
    }

    /// Report a status change (or a data-only event when `status` is `None`).
    async fn emit(&self, key: &str, status: Option<CallStatus>, extra: impl FnOnce(&mut NormalizedCallEvent)) {
        let ev = {
            let mut calls = self.lock();
            let Some(c) = calls.get_mut(key) else { return };
            if c.status.is_some_and(CallStatus::is_terminal) && status.is_some() {
                return; // The call is over; a late timer has nothing to say.
            }
            // Strictly increasing per call, so order is never a tie on the gateway's side.
            let at = now_ms().max(c.last_at + 1);
            c.last_at = at;
            c.seq += 1;
            if status.is_some() {
                c.status = status;
                c.epoch += 1;
            }
            let mut ev = NormalizedCallEvent {
                call_sid: c.call_sid.clone(),
                telephony_vendor: Some(TelephonyVendor::Simulator),
                vendor_call_id: Some(key.to_owned()),
                status,
                direction: Some(c.direction),
                from: Some(c.from.clone()),
                to: Some(c.to.clone()),
                sequence: Some(c.seq),
                // The time keeps ids apart across runs: a simulator restarted mid-call counts
                // from 1 again, and an id the last run used would be dropped as a duplicate.
                ..NormalizedCallEvent::new(format!("{key}:{}:{at}", c.seq), at)
            };
            extra(&mut ev);
            ev
        };
        // The caller's audio follows the call: hold music, resume, hang up.
        if let (Some(peers), Some(status)) = (&self.inner.peers, status) {
            peers.status_changed(key, status).await;
        }
        // A closed sink means the gateway is shutting down; nothing is waiting for this.
        let _ = self.inner.sink.send(ProviderEvent::Call(ev)).await;
    }

    /// Run `f` after `ms` unless the call's status changed meanwhile.
    fn after<F, Fut>(&self, key: &str, ms: u64, f: F)
    where
        F: FnOnce(Simulator, String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let epoch = self.lock().get(key).map(|c| c.epoch);
        let (sim, key) = (self.clone(), key.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if sim.lock().get(&key).map(|c| c.epoch) == epoch {
                f(sim, key).await;
            }
        });
    }

    /// Confirm a status after the configured delay, as a remote provider would.
    fn confirm(&self, key: &str, status: CallStatus) {
        let sim = self.clone();
        let key = key.to_owned();
        let delay = self.inner.cfg.confirm_delay_ms;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            sim.emit(&key, Some(status), |_| {}).await;
            if status == CallStatus::Answered {
                sim.connected(&key);
            }
        });
    }

    /// A call just connected: stream its transcript and hang up after the talk limit.
    fn connected(&self, key: &str) {
        let cfg = &self.inner.cfg;
        self.after(key, cfg.talk_limit_ms, |sim, key| async move {
            sim.emit(&key, Some(CallStatus::Completed), |_| {}).await;
        });
        let (sim, key) = (self.clone(), key.to_owned());
        let interval = cfg.transcript_interval_ms.max(10);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(interval)).await;
                let turn = {
                    let mut calls = sim.lock();
                    let Some(c) = calls.get_mut(&key) else { return };
                    match c.status {
                        Some(CallStatus::Answered) => {}
                        Some(CallStatus::OnHold) => continue,
                        _ => return,
                    }
                    let script = SCRIPTS[c.script % SCRIPTS.len()];
                    let (Some(sid), Some(&(role, text))) = (c.call_sid.clone(), script.get(c.next_turn)) else {
                        return;
                    };
                    let seq = c.next_turn as i64;
                    c.next_turn += 1;
                    (
                        sid,
                        TranscriptTurnIn {
                            role,
                            content: text.to_owned(),
                            occurred_at: now_ms(),
                            sequence: seq,
                        },
                    )
                };
                if sim
                    .inner
                    .sink
                    .send(ProviderEvent::Transcript {
                        call_sid: turn.0,
                        turn: turn.1,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }

    /// `login` takes part in the call's audio as `party`; an agent replaces the previous
    /// agent (a transfer hands the call on).
    fn join_as(&self, key: &str, login: Option<&str>, party: mix::Party) {
        let Some(login) = login else { return };
        if let Some(c) = self.lock().get_mut(key) {
            if party == mix::Party::Agent {
                c.parties.retain(|_, p| *p != mix::Party::Agent);
            }
            c.parties.insert(login.to_owned(), party);
        }
    }

    fn status_of(&self, key: &str) -> Option<CallStatus> {
        self.lock().get(key).and_then(|c| c.status)
    }

    fn webhook_secret(&self) -> Option<&[u8]> {
        self.inner.cfg.webhook_secret.as_ref().map(|s| s.expose().as_bytes())
    }
}

#[async_trait]
impl TelephonyProvider for Simulator {
    fn kind(&self) -> &'static str {
        "simulator"
    }

    fn vendor(&self) -> TelephonyVendor {
        TelephonyVendor::Simulator
    }

    async fn reconcile(&self, live: &[crate::LiveCall]) -> Result<(), ProviderError> {
        if !live.is_empty() {
            tracing::info!(calls = live.len(), "ending simulated calls left over from the last run");
            let (sim, live) = (self.clone(), live.to_vec());
            tokio::spawn(async move { sim.hang_up_orphans(&live).await });
        }
        self.start();
        Ok(())
    }

    fn retire(&self) {
        self.inner.retired.store(true, Ordering::Relaxed);
    }

    fn capabilities(&self) -> Capabilities {
        let has = |f: SimFeature| !self.inner.cfg.without.contains(&f);
        Capabilities {
            inbound: true,
            outbound: true,
            hold: has(SimFeature::Hold),
            transfer_to_number: has(SimFeature::TransferToNumber),
            transfer_to_agent: has(SimFeature::TransferToAgent),
            dtmf: has(SimFeature::Dtmf),
            recording: has(SimFeature::Recording),
            transcripts: true,
            ai_agents: false,
            monitor: has(SimFeature::Monitor),
            warm_transfer: has(SimFeature::WarmTransfer),
        }
    }

    fn validate_config(&self) -> Result<(), ProviderError> {
        self.inner.cfg.check()
    }

    async fn initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError> {
        if call.ai_agent.is_some() {
            return Err(ProviderError::Unsupported("AI agents"));
        }
        let cfg = &self.inner.cfg;
        if cfg
            .reject_prefixes
            .iter()
            .any(|p| call.to.as_str().starts_with(p.as_str()))
        {
            return Err(ProviderError::Call(CallError {
                provider_code: Some("21211".into()),
                provider_message: Some(format!("Invalid 'To' Phone Number: {}", call.to)),
                ..CallError::new(CallErrorCode::InvalidNumber, format!("{} cannot be dialled", call.to))
            }));
        }
        let n = self.inner.outbound_count.fetch_add(1, Ordering::Relaxed);
        let key = format!("SIM-{}-OUT-{n}", self.inner.run);
        let sim_call = SimCall::new(
            Some(call.call_sid.clone()),
            Direction::Outbound,
            call.from.to_string(),
            call.to.to_string(),
            n as usize % SCRIPTS.len(),
        );
        self.lock().insert(key.clone(), sim_call);
        self.join_as(&key, call.agent.as_deref(), mix::Party::Agent);
        let outcome = scenario::outbound_outcome(
            cfg.seed,
            n,
            cfg.outbound_busy_rate,
            cfg.outbound_no_answer_rate,
            cfg.outbound_failed_rate,
        );
        let (sim, k) = (self.clone(), key.clone());
        let (confirm, ring) = (cfg.confirm_delay_ms, cfg.outbound_ring_ms);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(confirm)).await;
            sim.emit(&k, Some(CallStatus::Ringing), |_| {}).await;
            tokio::time::sleep(Duration::from_millis(ring)).await;
            if sim.status_of(&k) != Some(CallStatus::Ringing) {
                return; // The agent hung up first.
            }
            let error = match outcome {
                OutboundOutcome::Answered => {
                    sim.emit(&k, Some(CallStatus::Answered), |_| {}).await;
                    sim.connected(&k);
                    return;
                }
                OutboundOutcome::Busy => CallError {
                    provider_code: Some("486".into()),
                    provider_message: Some("Busy Here".into()),
                    ..CallError::new(CallErrorCode::Busy, "the line was busy")
                },
                OutboundOutcome::NoAnswer => CallError {
                    provider_code: Some("480".into()),
                    provider_message: Some("Temporarily Unavailable".into()),
                    ..CallError::new(CallErrorCode::NoAnswer, "nobody answered")
                },
                OutboundOutcome::Failed => CallError {
                    provider_code: Some("503".into()),
                    provider_message: Some("Service Unavailable".into()),
                    ..CallError::new(CallErrorCode::Unavailable, "the network could not complete the call")
                },
            };
            sim.emit(&k, Some(CallStatus::Failed), |ev| ev.error = Some(error))
                .await;
        });
        Ok(Initiated {
            vendor_call_id: key,
            ..Initiated::default()
        })
    }

    async fn answer(&self, call: &CallRef) -> Result<(), ProviderError> {
        let key = self.key_for(call);
        if let Some(c) = self.lock().get_mut(&key) {
            c.answering = true;
        }
        self.join_as(&key, call.agent.as_deref(), mix::Party::Agent);
        self.confirm(&key, CallStatus::Answered);
        Ok(())
    }

    async fn hold(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.offers(SimFeature::Hold)?;
        let key = self.key_for(call);
        self.confirm(&key, CallStatus::OnHold);
        Ok(())
    }

    async fn resume(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.offers(SimFeature::Hold)?;
        let key = self.key_for(call);
        let (sim, k, delay) = (self.clone(), key, self.inner.cfg.confirm_delay_ms);
        // Resume must not restart the transcript task: connected() already runs it.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            sim.emit(&k, Some(CallStatus::Answered), |_| {}).await;
        });
        Ok(())
    }

    async fn transfer(&self, call: &CallRef, to: &TransferTarget) -> Result<(), ProviderError> {
        self.offers(match to {
            TransferTarget::Agent(_) => SimFeature::TransferToAgent,
            TransferTarget::Number(_) => SimFeature::TransferToNumber,
        })?;
        let key = self.key_for(call);
        // The agent's audio ends with the handover; the next agent answers and joins anew.
        if let Some(c) = self.lock().get_mut(&key) {
            c.parties.retain(|_, p| *p != mix::Party::Agent);
        }
        let (sim, k, delay) = (self.clone(), key, self.inner.cfg.confirm_delay_ms);
        let to_agent = matches!(to, TransferTarget::Agent(_));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            sim.emit(&k, Some(CallStatus::Transferred), |_| {}).await;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            // An agent transfer rings the next agent; a number transfer leaves our floor.
            let next = if to_agent {
                CallStatus::Ringing
            } else {
                CallStatus::Completed
            };
            sim.emit(&k, Some(next), |_| {}).await;
        });
        Ok(())
    }

    async fn end(&self, call: &CallRef) -> Result<(), ProviderError> {
        let key = self.key_for(call);
        self.confirm(&key, CallStatus::Completed);
        Ok(())
    }

    async fn send_dtmf(&self, call: &CallRef, _digits: &str) -> Result<(), ProviderError> {
        self.offers(SimFeature::Dtmf)?;
        self.key_for(call);
        Ok(())
    }

    async fn start_recording(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.offers(SimFeature::Recording)?;
        let key = self.key_for(call);
        let n = self.inner.recording_count.fetch_add(1, Ordering::Relaxed);
        let url = format!("sim://recordings/{key}/{n}.wav");
        let (sim, delay) = (self.clone(), self.inner.cfg.confirm_delay_ms);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            sim.emit(&key, None, |ev| ev.recording_url = Some(url)).await;
        });
        Ok(())
    }

    async fn stop_recording(&self, call: &CallRef) -> Result<(), ProviderError> {
        self.offers(SimFeature::Recording)?;
        self.key_for(call);
        Ok(())
    }

    async fn recording_url(&self, _call: &CallRef) -> Result<Option<String>, ProviderError> {
        // Recording urls arrive as events; the simulator keeps no archive to query.
        Ok(None)
    }

    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<ProviderEvent>, WebhookError> {
        let Some(secret) = self.webhook_secret() else {
            return Err(WebhookError::BadSignature);
        };
        if !signature::verify(secret, req.body, req.header(signature::HEADER)) {
            return Err(WebhookError::BadSignature);
        }
        let ev: NormalizedCallEvent =
            serde_json::from_slice(req.body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        if ev.event_id.trim().is_empty() {
            return Err(WebhookError::Malformed("event_id must not be empty".into()));
        }
        if ev.call_sid.is_none() && ev.vendor_call_id.is_none() && ev.voice_platform_call_id.is_none() {
            return Err(WebhookError::Malformed(
                "an event needs call_sid, vendor_call_id or voice_platform_call_id".into(),
            ));
        }
        Ok(vec![ProviderEvent::Call(ev)])
    }

    fn webhook_response(&self, _req: &WebhookRequest<'_>, call_sid: Option<&CallSid>) -> WebhookReply {
        WebhookReply {
            content_type: "application/json",
            body: serde_json::json!({ "ok": true, "call_sid": call_sid }).to_string(),
        }
    }

    fn media_join(&self, call: &CallRef) -> switchboard_core::MediaJoin {
        match self.inner.peers {
            Some(_) => switchboard_core::MediaJoin::Peer {
                signal: format!("/v1/calls/{}/media", call.call_sid),
            },
            None => switchboard_core::MediaJoin::None,
        }
    }

    async fn media_offer(&self, call: &CallRef, sdp: &str) -> Result<String, ProviderError> {
        let Some(peers) = &self.inner.peers else {
            return Err(ProviderError::Unsupported(
                "call audio (the simulator runs without media)",
            ));
        };
        let key = self.key_for(call);
        let login = call
            .agent
            .as_deref()
            .ok_or_else(|| ProviderError::Invalid("who is joining the call's audio is not known".into()))?;
        let (status, answering, party) = {
            let calls = self.lock();
            let c = calls.get(&key);
            (
                c.and_then(|c| c.status),
                c.is_some_and(|c| c.answering),
                c.and_then(|c| c.parties.get(login).copied()),
            )
        };
        let party = party.ok_or_else(|| ProviderError::Invalid(format!("{login} is not on this call")))?;
        // The desktop offers right after asking to answer; the "network" confirms a moment
        // later, so an answer in flight counts as connected.
        let status = if answering && !status.is_some_and(CallStatus::is_terminal) {
            Some(CallStatus::Answered)
        } else {
            status
        };
        peers.offer(&key, &call.call_sid, status, login, party, sdp).await
    }

    async fn monitor(
        &self,
        call: &CallRef,
        supervisor: &str,
        mode: Option<switchboard_core::MonitorMode>,
    ) -> Result<switchboard_core::MediaJoin, ProviderError> {
        self.offers(SimFeature::Monitor)?;
        let key = self.key_for(call);
        {
            let mut calls = self.lock();
            let c = calls
                .get_mut(&key)
                .ok_or_else(|| ProviderError::Invalid("unknown call".into()))?;
            match mode {
                Some(mode) => {
                    c.parties.insert(supervisor.to_owned(), mix::Party::Monitor(mode));
                }
                None => {
                    c.parties.remove(supervisor);
                }
            }
        }
        if let Some(peers) = &self.inner.peers {
            peers.set_monitor(&key, supervisor, mode);
        }
        Ok(match mode {
            Some(_) => self.media_join(call),
            None => switchboard_core::MediaJoin::None,
        })
    }

    async fn consult(
        &self,
        call: &CallRef,
        step: switchboard_core::ConsultStep,
        target: Option<&crate::ConsultTarget>,
    ) -> Result<(), ProviderError> {
        self.consult_step(call, step, target).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimulatorConfig {
        SimulatorConfig::from_json(serde_json::json!({
            "seed": 1, "confirm_delay_ms": 1, "outbound_ring_ms": 1, "transcript_interval_ms": 5,
            "webhook_secret": "s3cret"
        }))
        .expect("valid config")
    }

    #[test]
    fn bad_config_is_refused_with_a_reason() {
        let err =
            SimulatorConfig::from_json(serde_json::json!({ "outbound_busy_rate": 0.9, "outbound_failed_rate": 0.5 }))
                .expect_err("rates over 1");
        assert!(err.to_string().contains("sum to at most 1"));
        let err = SimulatorConfig::from_json(serde_json::json!({ "sede": 1 })).expect_err("typo");
        assert!(err.to_string().contains("sede"));
    }

    #[tokio::test]
    async fn outbound_call_rings_then_answers_and_talks() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let sim = Simulator::new(cfg(), tx).expect("simulator");
        let sid = CallSid::from_parts(1_700_000_000_000, 9);
        let call = OutboundCall {
            call_sid: sid.clone(),
            from: "+14155550100".parse().expect("e164"),
            to: "+14155550111".parse().expect("e164"),
            ai_agent: None,
            agent: None,
        };
        let init = sim.initiate(&call).await.expect("accepted");
        let mut statuses = vec![];
        while statuses.len() < 2 {
            match rx.recv().await.expect("event") {
                ProviderEvent::Call(ev) => {
                    assert_eq!(ev.call_sid.as_ref(), Some(&sid));
                    assert_eq!(ev.vendor_call_id.as_deref(), Some(init.vendor_call_id.as_str()));
                    statuses.push(ev.status.expect("status event"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(statuses, [CallStatus::Ringing, CallStatus::Answered]);
        match rx.recv().await.expect("transcript turn") {
            ProviderEvent::Transcript { call_sid, turn } => {
                assert_eq!(call_sid, sid);
                assert_eq!(turn.sequence, 0);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn webhook_needs_a_valid_signature() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let sim = Simulator::new(cfg(), tx).expect("simulator");
        let body = serde_json::to_vec(&NormalizedCallEvent {
            vendor_call_id: Some("X1".into()),
            status: Some(CallStatus::Ringing),
            ..NormalizedCallEvent::new("e1", 5)
        })
        .expect("json");
        let good = vec![(signature::HEADER.to_owned(), signature::sign(b"s3cret", &body))];
        let bad = vec![(signature::HEADER.to_owned(), signature::sign(b"other", &body))];
        let req = |h: &'static [(String, String)]| WebhookRequest {
            url: "http://x",
            headers: h,
            body: &body,
            peer: None,
        };
        let good: &'static [(String, String)] = Box::leak(good.into_boxed_slice());
        let bad: &'static [(String, String)] = Box::leak(bad.into_boxed_slice());
        assert_eq!(sim.parse_webhook(&req(good)).expect("valid").len(), 1);
        assert_eq!(sim.parse_webhook(&req(bad)), Err(WebhookError::BadSignature));
    }
}
