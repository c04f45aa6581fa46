//! # switchboard-agent
//!
//! Everything the desktop app does, with no Tauri in sight, so it is tested against a real
//! gateway process: sign-in (token in the OS keyring only), an offline SQLite cache kept
//! in sync through `/v1/events?since=`, call actions, and an outbox for actions that can
//! wait (status, wrap-up) which is replayed exactly once when the gateway is back.
//!
//! Start with [`Console`]: [`Console::open`], [`Console::sign_in`] or
//! [`Console::resume_session`], then [`Console::subscribe`] for [`UiEvent`]s.

mod audio;
mod cache;
mod outbox;
mod supervise;
mod vault;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_client::{Client, ClientError, StreamItem};
use switchboard_core::api::{CallDetail, OutboundCallRequest, RecordingAction, TransferTarget, WrapUpRequest};
use switchboard_core::desktop::{
    Boot, CallSummary, ConnectionState, ConsoleState, DesktopError, DialRequest, Session, UiEvent,
};
use switchboard_core::{
    Agent, AgentStatus, CallRecord, CallSid, CallStatus, E164, Lead, LeadId, NumberId, PhoneNumber, StreamEvent,
    StreamEventKind,
};
use tokio::sync::{Notify, broadcast};

pub use audio::AudioSetup;
pub use cache::{Applied, Cache};
pub use outbox::{OutboxCounts, OutboxItem};
pub use vault::Vault;

/// Where the console keeps its things.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The cache lives here (`cache.db`).
    pub data_dir: PathBuf,
    /// Keyring service name (one per app; tests use their own).
    pub keyring_service: String,
}

/// The desktop backend. Cheap to clone.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No token here, ever: it lives in the keyring and inside the client only.
        f.debug_struct("Console")
            .field("connection", &self.inner.connection())
            .finish_non_exhaustive()
    }
}

struct Inner {
    cache: Cache,
    vault: Vault,
    events: broadcast::Sender<UiEvent>,
    live: tokio::sync::Mutex<Option<Live>>,
    connection: Mutex<ConnectionState>,
    outbox_wake: Notify,
    /// Microphone mute: kept here so the media engine (when present) and the UI agree.
    muted: std::sync::atomic::AtomicBool,
    /// The signed-in agent, readable without awaiting (tray, notifications).
    me: Mutex<Option<switchboard_core::AgentId>>,
    /// The runtime the console was opened on: its tasks run there even when a method is
    /// called from a thread without one (a GUI main thread).
    rt: tokio::runtime::Handle,
    /// The call's audio (one call at a time).
    audio: audio::Audio,
}

struct Live {
    session: Session,
    client: Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn offline(what: &str) -> DesktopError {
    DesktopError::Offline(format!("{what} needs the gateway, and it cannot be reached right now"))
}

fn map_client(what: &str, e: ClientError) -> DesktopError {
    match e {
        ClientError::Api { status, code, message } => DesktopError::Gateway {
            status: status.as_u16(),
            code,
            message,
        },
        ClientError::Transport(_) => offline(what),
        ClientError::Url(m) => DesktopError::Invalid(m),
    }
}

/// What to tell an agent whose token the gateway refused, by the gateway's error code.
fn refused_token_reason(code: &str) -> &'static str {
    match code {
        "token_expired" => "your sign-in has expired",
        "token_revoked" => "your sign-in was revoked by an administrator",
        _ => "the gateway did not accept this token",
    }
}

/// How many calls of the history the UI lists at once (the boot snapshot included).
pub const HISTORY_PAGE: u32 = 200;

const K_URL: &str = "gateway_url";
const K_AGENT: &str = "agent";

impl Inner {
    fn connection(&self) -> ConnectionState {
        self.connection.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn emit(&self, ev: UiEvent) {
        // No subscriber (no window yet) is fine: the UI reads state when it attaches.
        let _ = self.events.send(ev);
    }

    fn set_connection(&self, online: bool, detail: Option<String>) {
        let changed = {
            let Ok(mut c) = self.connection.lock() else { return };
            let changed = c.online != online || (!online && c.detail != detail);
            c.online = online;
            c.detail = detail;
            if online {
                c.last_sync_at = Some(cache::now_ms());
            }
            if changed {
                c.changes += 1;
            }
            changed.then(|| c.clone())
        };
        if let Some(c) = changed {
            self.emit(UiEvent::Connection(c));
        }
    }

    /// Stop syncing, forget the token (keyring or memory), and tell the UI why.
    async fn end_session(&self, reason: String) -> Result<(), DesktopError> {
        let live = self.live.lock().await.take();
        if let Ok(mut me) = self.me.lock() {
            *me = None;
        }
        let forgotten = match &live {
            Some(l) if l.session.remembered => self.vault.delete(&l.session.gateway_url),
            _ => Ok(()),
        };
        self.set_connection(false, Some(reason.clone()));
        self.emit(UiEvent::SignedOut { reason });
        // Dropping the session stops its tasks, possibly the one running this: last.
        drop(live);
        forgotten
    }

    fn touch_sync(&self) {
        if let Ok(mut c) = self.connection.lock() {
            c.last_sync_at = Some(cache::now_ms());
        }
    }

    async fn emit_outbox(&self) {
        if let Ok(c) = outbox::counts(&self.cache).await {
            self.emit(UiEvent::Outbox {
                pending: c.pending,
                failed: c.failed,
            });
        }
    }

    /// Take a snapshot: the cursor first, so changes during the snapshot are replayed.
    async fn snapshot(&self, client: &Client) -> Result<i64, ClientError> {
        let cursor = client.event_cursor().await?;
        let numbers = client.numbers().await?.numbers;
        let agents = client.agents().await?.agents;
        let mut calls: Vec<CallRecord> = client.queue().await?.calls.into_iter().map(|q| q.call).collect();
        calls.extend(
            client
                .calls(&switchboard_core::api::CallListQuery {
                    limit: Some(200),
                    ..Default::default()
                })
                .await?
                .calls,
        );
        let leads = client.leads(None).await?.leads;
        if let Err(e) = self
            .cache
            .store_snapshot(&numbers, &agents, &calls, &leads, cursor)
            .await
        {
            tracing::error!(error = %e, "could not store the snapshot");
        }
        Ok(cursor)
    }

    async fn lead_name(&self, client: &Client, lead: Option<LeadId>) -> Option<String> {
        let id = lead?;
        if let Ok(Some(l)) = self.cache.lead(id).await {
            return Some(l.name);
        }
        let l = client.lead(id).await.ok()?.lead;
        let _ = self.cache.upsert_leads(std::slice::from_ref(&l)).await;
        Some(l.name)
    }

    async fn apply(&self, client: &Client, ev: StreamEvent) {
        let applied = match self.cache.apply(&ev).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, event = ev.id, "could not apply an event to the cache");
                return;
            }
        };
        self.touch_sync();
        match applied {
            Applied::Call { call, new_inbound } => {
                // The caller hung up or the call moved on: its audio is over.
                if call.status.is_terminal() || call.status == CallStatus::Transferred {
                    self.audio.leave(&call.call_sid).await;
                }
                let lead_name = self.lead_name(client, call.lead_id).await;
                if new_inbound && call.status == CallStatus::Ringing {
                    self.emit(UiEvent::IncomingCall {
                        call_sid: call.call_sid.clone(),
                        from: call.from.clone(),
                        lead_name: lead_name.clone(),
                    });
                }
                self.emit(UiEvent::CallChanged(CallSummary { call, lead_name }));
            }
            Applied::Turn(t) => self.emit(UiEvent::TranscriptTurn(t)),
            Applied::Agent(a) => {
                if let Some(live) = self.live.lock().await.as_mut() {
                    if live.session.agent.id == a.id {
                        live.session.agent = a.clone();
                    }
                }
                self.emit(UiEvent::AgentChanged(a));
            }
            Applied::ActionFailed { call_sid, message } => self.emit(UiEvent::ActionFailed { call_sid, message }),
            Applied::Lead(_) | Applied::Skipped => {}
            Applied::Other => {
                if matches!(
                    ev.kind,
                    StreamEventKind::ProviderChanged | StreamEventKind::NumberChanged
                ) {
                    if let Ok(n) = client.numbers().await {
                        let _ = self.cache.replace_numbers(&n.numbers).await;
                        self.emit(UiEvent::NumbersChanged);
                    }
                }
            }
        }
    }
}

/// Keep the cache in step with the gateway until the session ends.
async fn sync_loop(inner: Arc<Inner>, client: Client) {
    // Each turn of this loop is one numbering of the gateway's events; a new turn starts
    // only when the cache's cursor turns out to be ahead of the gateway's.
    loop {
        let cursor = first_cursor(&inner, &client).await;
        // The stream reconnects and resumes by itself from the last event it delivered.
        let mut stream = client.events(cursor);
        let renumbered = loop {
            let Some(item) = stream.next().await else { return };
            match item {
                StreamItem::Connected => {
                    if cursor_ahead_of(&inner, &client).await {
                        break true;
                    }
                    // Numbers and agents change rarely; refresh them on every (re)connect.
                    if let (Ok(n), Ok(a)) = (client.numbers().await, client.agents().await) {
                        let _ = inner.cache.store_snapshot(&n.numbers, &a.agents, &[], &[], 0).await;
                    }
                    inner.set_connection(true, None);
                    inner.outbox_wake.notify_one();
                }
                StreamItem::Event(ev) => inner.apply(&client, ev).await,
                StreamItem::Disconnected { reason, .. } => inner.set_connection(false, Some(reason)),
                StreamItem::Unauthorized { code } => {
                    // Expired or revoked: retrying cannot help. Forget the token and go back
                    // to the sign-in screen saying why (this task ends with the session).
                    let reason = format!("{}: sign in again", refused_token_reason(&code));
                    if let Err(e) = inner.end_session(reason).await {
                        tracing::error!(error = %e, "could not forget the refused token");
                    }
                    return;
                }
            }
        };
        if renumbered {
            if let Err(e) = inner.cache.forget_cursor().await {
                tracing::error!(error = %e, "could not reset the event cursor");
                return;
            }
        }
    }
}

/// The cached cursor, or a snapshot's when the cache has none; retries the snapshot until
/// the gateway answers.
async fn first_cursor(inner: &Inner, client: &Client) -> i64 {
    let mut backoff = Duration::from_millis(500);
    loop {
        if let Ok(c) = inner.cache.cursor().await {
            if c > 0 {
                return c;
            }
        }
        match inner.snapshot(client).await {
            Ok(c) => return c,
            Err(e) => {
                inner.set_connection(false, Some(e.to_string()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// True when the cache has seen event numbers the gateway has not reached: the cache was
/// filled under another numbering (a gateway from before events were numbered per
/// business, or one whose database was restored from a backup). Resuming from it would
/// skip every event until the gateway caught up, so the caller takes a fresh snapshot.
/// The gateway's head is read after the cache's cursor was stored, so a cache in step can
/// never be ahead of it.
async fn cursor_ahead_of(inner: &Inner, client: &Client) -> bool {
    let (Ok(ours), Ok(head)) = (inner.cache.cursor().await, client.event_cursor().await) else {
        return false;
    };
    if ours > head {
        tracing::warn!(
            ours,
            head,
            "the cached event cursor is ahead of the gateway's: taking a fresh snapshot"
        );
        return true;
    }
    false
}

/// Send queued actions whenever woken (reconnect, new item) and every few seconds.
async fn outbox_loop(inner: Arc<Inner>, client: Client) {
    loop {
        let _ = tokio::time::timeout(Duration::from_secs(5), inner.outbox_wake.notified()).await;
        if !inner.connection().online {
            continue;
        }
        match outbox::flush(&inner.cache, &client).await {
            Ok(outbox::Flush::Done { sent }) if sent > 0 => inner.emit_outbox().await,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox flush failed"),
        }
    }
}

impl Console {
    /// Open the cache. Nothing talks to the network until a session starts. Call it inside
    /// the Tokio runtime the console should use.
    pub async fn open(cfg: ConsoleConfig) -> Result<Self, DesktopError> {
        let cache = Cache::open(&cfg.data_dir).await?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            inner: Arc::new(Inner {
                cache,
                vault: Vault::new(cfg.keyring_service),
                events,
                live: tokio::sync::Mutex::new(None),
                connection: Mutex::new(ConnectionState::default()),
                outbox_wake: Notify::new(),
                muted: std::sync::atomic::AtomicBool::new(false),
                me: Mutex::new(None),
                rt: tokio::runtime::Handle::current(),
                audio: audio::Audio::new(AudioSetup::System {
                    choice_file: cfg.data_dir.join("audio-devices.json"),
                }),
            }),
        })
    }

    /// Changes to show.
    pub fn subscribe(&self) -> broadcast::Receiver<UiEvent> {
        self.inner.events.subscribe()
    }

    /// Forward every event to `sink` until it returns false (the window went away). A
    /// sink that falls far behind skips what it missed and reloads from the cache.
    pub fn forward(&self, sink: impl Fn(UiEvent) -> bool + Send + 'static) {
        let mut rx = self.subscribe();
        self.inner.rt.spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if !sink(ev) {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, "UI fell behind"),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Mute or unmute the microphone; returns the new state.
    pub fn set_muted(&self, muted: bool) -> bool {
        self.inner.muted.store(muted, std::sync::atomic::Ordering::SeqCst);
        let inner = self.inner.clone();
        self.inner.rt.spawn(async move { inner.audio.mute(muted).await });
        muted
    }

    /// The devices settings can pick from, and the remembered choice.
    pub async fn audio_devices(&self) -> Result<switchboard_core::desktop::AudioDeviceList, DesktopError> {
        self.inner.audio.devices().await
    }

    /// Pick the microphone (`input`) or speaker; `None` is the system default. Remembered,
    /// and used from the next call on.
    pub async fn set_audio_device(&self, input: bool, name: Option<String>) -> Result<(), DesktopError> {
        self.inner.audio.choose(input, name)
    }

    /// Use these audio devices (or files) for the calls joined from now on.
    pub fn set_audio_setup(&self, setup: AudioSetup) {
        self.inner.audio.set_setup(setup);
    }

    fn emitter(&self) -> Arc<dyn Fn(UiEvent) + Send + Sync> {
        let weak = Arc::downgrade(&self.inner);
        Arc::new(move |ev| {
            if let Some(inner) = weak.upgrade() {
                inner.emit(ev);
            }
        })
    }

    /// Is the microphone muted?
    pub fn muted(&self) -> bool {
        self.inner.muted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A `tel:` (or `sip:`) link was opened: ask the UI to dial it.
    pub fn request_dial(&self, link: &str) {
        let number: String = link
            .trim_start_matches("tel:")
            .trim_start_matches("sip:")
            .trim_start_matches("//")
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        if !number.is_empty() {
            self.inner.emit(UiEvent::DialRequested { number });
        }
    }

    /// The cache (read-only use by tests and diagnostics).
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    /// The frame: session, connection, outbox.
    pub async fn state(&self) -> Result<ConsoleState, DesktopError> {
        let session = self.inner.live.lock().await.as_ref().map(|l| l.session.clone());
        let counts = outbox::counts(&self.inner.cache).await?;
        Ok(ConsoleState {
            session,
            connection: self.inner.connection(),
            outbox_pending: counts.pending,
            outbox_failed: counts.failed,
        })
    }

    /// The first frame, from the cache alone (no gateway round trip): the shell reads it
    /// before the window opens and hands it to the page, so a cold start shows the queue
    /// in its first frame. The UI refreshes each part later through the usual commands.
    pub async fn boot(&self) -> Result<Boot, DesktopError> {
        Ok(Boot {
            state: self.state().await?,
            queue: self.inner.cache.queue().await?,
            history: self.inner.cache.history("", HISTORY_PAGE).await?,
            numbers: self.inner.cache.numbers().await?,
            agents: self.inner.cache.agents().await?,
        })
    }

    /// Sign in: check the token with the gateway, keep it in the keyring, start syncing.
    /// Without a usable keyring this fails with [`DesktopError::Keyring`]; the UI then
    /// offers [`Console::sign_in_for_session`].
    pub async fn sign_in(&self, gateway_url: &str, token: &str) -> Result<Session, DesktopError> {
        self.sign_in_with(gateway_url, token, true).await
    }

    /// Sign in without the keyring: the token stays in memory until the app quits (it is
    /// never written to disk), and the agent signs in again next time.
    pub async fn sign_in_for_session(&self, gateway_url: &str, token: &str) -> Result<Session, DesktopError> {
        self.sign_in_with(gateway_url, token, false).await
    }

    async fn sign_in_with(&self, gateway_url: &str, token: &str, remember: bool) -> Result<Session, DesktopError> {
        let url = gateway_url.trim().trim_end_matches('/').to_owned();
        let token = token.trim();
        if token.is_empty() {
            return Err(DesktopError::Invalid(
                "enter the token your administrator gave you".into(),
            ));
        }
        let client = Client::new(&url, token).map_err(|e| map_client("signing in", e))?;
        let agent = client.me().await.map_err(|e| match e {
            ClientError::Api { status, code, .. } if status.as_u16() == 401 => {
                DesktopError::Invalid(refused_token_reason(&code).into())
            }
            other => map_client("signing in", other),
        })?;
        if remember {
            self.inner.vault.save(&url, token)?;
        }
        let c = &self.inner.cache;
        let same = c.setting(K_URL).await?.as_deref() == Some(url.as_str())
            && c.setting(K_AGENT)
                .await?
                .and_then(|a| serde_json::from_str::<Agent>(&a).ok())
                .is_some_and(|a| a.id == agent.id);
        if !same {
            c.clear().await?;
        }
        c.set_setting(K_URL, &url).await?;
        c.set_setting(
            K_AGENT,
            &serde_json::to_string(&agent).map_err(|e| DesktopError::Cache(e.to_string()))?,
        )
        .await?;
        let session = Session {
            gateway_url: url,
            agent,
            remembered: remember,
        };
        self.start(session.clone(), client).await;
        Ok(session)
    }

    /// At start-up: the last session, with its token from the keyring. Works offline: the
    /// cache is there at once and sync catches up when the gateway answers.
    pub async fn resume_session(&self) -> Result<Option<Session>, DesktopError> {
        let c = &self.inner.cache;
        let (Some(url), Some(agent)) = (c.setting(K_URL).await?, c.setting(K_AGENT).await?) else {
            return Ok(None);
        };
        let agent: Agent = serde_json::from_str(&agent).map_err(|e| DesktopError::Cache(e.to_string()))?;
        let token = match self.inner.vault.load(&url) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(None),
            // No keyring on this machine: nothing was remembered, so sign in again.
            Err(e) => {
                tracing::warn!(error = %e, "no keyring to resume the session from");
                return Ok(None);
            }
        };
        let client = Client::new(&url, token).map_err(|e| map_client("resuming", e))?;
        let session = Session {
            gateway_url: url,
            agent,
            remembered: true,
        };
        self.start(session.clone(), client).await;
        Ok(Some(session))
    }

    /// The signed-in agent's id, if any.
    pub fn signed_in_agent(&self) -> Option<switchboard_core::AgentId> {
        self.inner.me.lock().ok().and_then(|m| *m)
    }

    async fn start(&self, session: Session, client: Client) {
        if let Ok(mut me) = self.inner.me.lock() {
            *me = Some(session.agent.id);
        }
        let tasks = vec![
            self.inner.rt.spawn(sync_loop(self.inner.clone(), client.clone())),
            self.inner.rt.spawn(outbox_loop(self.inner.clone(), client.clone())),
        ];
        *self.inner.live.lock().await = Some(Live { session, client, tasks });
    }

    /// Sign out: stop syncing and forget the token. The cache stays for the next sign-in.
    pub async fn sign_out(&self) -> Result<(), DesktopError> {
        self.inner.end_session("signed out".into()).await
    }

    async fn client(&self) -> Result<(Client, Session), DesktopError> {
        let live = self.inner.live.lock().await;
        let l = live.as_ref().ok_or(DesktopError::NotSignedIn)?;
        Ok((l.client.clone(), l.session.clone()))
    }

    /// Waiting calls, from the cache.
    pub async fn queue(&self) -> Result<Vec<CallSummary>, DesktopError> {
        self.inner.cache.queue().await
    }

    /// History from the cache, searched by number or lead name.
    pub async fn history(&self, search: &str, limit: u32) -> Result<Vec<CallSummary>, DesktopError> {
        self.inner.cache.history(search, limit).await
    }

    /// A call with lead and transcript: fresh from the gateway when online (and cached),
    /// else from the cache.
    pub async fn call_detail(&self, sid: &CallSid) -> Result<CallDetail, DesktopError> {
        let (client, _) = self.client().await?;
        match client.call(sid).await {
            Ok(d) => {
                self.inner
                    .cache
                    .store_detail(&d.call, d.lead.as_ref(), &d.transcript)
                    .await?;
                Ok(d)
            }
            Err(e @ ClientError::Api { .. }) => Err(map_client("loading the call", e)),
            Err(_) => {
                let call = self.inner.cache.call(sid).await?.ok_or(DesktopError::Offline(
                    "this call is not in the offline cache; it will load when the gateway is back".into(),
                ))?;
                let lead = match call.lead_id {
                    Some(id) => self.inner.cache.lead(id).await?,
                    None => None,
                };
                let transcript = self.inner.cache.transcript(sid).await?;
                // The audit trail is the gateway's; offline, the call shows without it.
                Ok(CallDetail {
                    call,
                    lead,
                    transcript,
                    history: Vec::new(),
                })
            }
        }
    }

    /// A lead from the cache.
    pub async fn lead(&self, id: LeadId) -> Result<Option<Lead>, DesktopError> {
        self.inner.cache.lead(id).await
    }

    /// The business numbers, default first.
    pub async fn numbers(&self) -> Result<Vec<PhoneNumber>, DesktopError> {
        self.inner.cache.numbers().await
    }

    /// The agents.
    pub async fn agents(&self) -> Result<Vec<Agent>, DesktopError> {
        self.inner.cache.agents().await
    }

    /// The number to preselect: the last one used for this lead if it can still call out,
    /// else the default.
    pub async fn preferred_number(&self, lead: Option<LeadId>) -> Result<Option<NumberId>, DesktopError> {
        let numbers = self.numbers().await?;
        let usable = |id: NumberId| numbers.iter().any(|n| n.id == id && n.capabilities.outbound);
        if let Some(l) = lead {
            if let Some(n) = self.inner.cache.number_choice(l).await?.filter(|n| usable(*n)) {
                return Ok(Some(n));
            }
        }
        Ok(numbers
            .iter()
            .find(|n| n.is_default && n.capabilities.outbound)
            .or(numbers.iter().find(|n| n.capabilities.outbound))
            .map(|n| n.id))
    }

    async fn acted(&self, call: CallRecord) -> Result<CallRecord, DesktopError> {
        self.inner.cache.upsert_call(&call).await?;
        let lead_name = match call.lead_id {
            Some(id) => self.inner.cache.lead(id).await?.map(|l| l.name),
            None => None,
        };
        self.inner.emit(UiEvent::CallChanged(CallSummary {
            call: call.clone(),
            lead_name,
        }));
        Ok(call)
    }

    /// Answer, then join the call's audio. A failure to join is reported to the UI; the
    /// call stays answered.
    pub async fn answer(&self, sid: &CallSid) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        let reply = c.answer(sid).await.map_err(|e| map_client("Answering", e))?;
        let call = self.acted(reply.call).await?;
        if let Err(e) = self
            .inner
            .audio
            .join(c, sid, &reply.media, self.muted(), self.emitter())
            .await
        {
            self.inner.emit(UiEvent::AudioProblem { message: e.to_string() });
        }
        Ok(call)
    }

    /// Hold.
    pub async fn hold(&self, sid: &CallSid) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        let call = self
            .acted(c.hold(sid).await.map_err(|e| map_client("Holding", e))?.call)
            .await?;
        self.inner.audio.hold(sid, true).await;
        Ok(call)
    }

    /// Resume from hold.
    pub async fn resume(&self, sid: &CallSid) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        let call = self
            .acted(c.resume(sid).await.map_err(|e| map_client("Resuming", e))?.call)
            .await?;
        self.inner.audio.hold(sid, false).await;
        Ok(call)
    }

    /// Hang up.
    pub async fn end(&self, sid: &CallSid) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        let call = self
            .acted(c.end(sid).await.map_err(|e| map_client("Ending the call", e))?.call)
            .await?;
        self.inner.audio.leave(sid).await;
        Ok(call)
    }

    /// Transfer to a number or an agent.
    pub async fn transfer(&self, sid: &CallSid, to: TransferTarget) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        self.acted(
            c.transfer(sid, to)
                .await
                .map_err(|e| map_client("Transferring", e))?
                .call,
        )
        .await
    }

    /// Send DTMF digits: in band (RFC 4733) when the call's audio is joined, and through
    /// the gateway so the call's history has them.
    pub async fn dtmf(&self, sid: &CallSid, digits: &str) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        self.inner.audio.dtmf(sid, digits).await?;
        self.acted(
            c.dtmf(sid, digits)
                .await
                .map_err(|e| map_client("Sending tones", e))?
                .call,
        )
        .await
    }

    /// Start or stop recording.
    pub async fn record(&self, sid: &CallSid, action: RecordingAction) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        self.acted(
            c.recording(sid, action)
                .await
                .map_err(|e| map_client("Recording", e))?
                .call,
        )
        .await
    }

    /// Place an outbound call and remember the number chosen for the lead.
    pub async fn dial(&self, req: &DialRequest) -> Result<CallRecord, DesktopError> {
        let to: E164 = req
            .to
            .trim()
            .parse()
            .map_err(|e: switchboard_core::PhoneError| DesktopError::Invalid(e.to_string()))?;
        let (c, _) = self.client().await?;
        let body = OutboundCallRequest {
            to,
            from_number_id: req.from_number_id,
            lead_id: req.lead_id,
            ai_agent: None,
        };
        let call = c
            .place_call(&body)
            .await
            .map_err(|e| map_client("Calling out", e))?
            .call;
        if let Some(lead) = req.lead_id {
            self.inner.cache.set_number_choice(lead, req.from_number_id).await?;
        }
        self.acted(call).await
    }

    /// Set my status. Works offline: applied locally at once, sent when online.
    pub async fn set_status(&self, status: AgentStatus) -> Result<Agent, DesktopError> {
        let (_, session) = self.client().await?;
        let mut me = session.agent;
        me.status = status;
        me.status_at = cache::now_ms();
        self.inner.cache.upsert_agent(&me).await?;
        if let Some(live) = self.inner.live.lock().await.as_mut() {
            live.session.agent = me.clone();
        }
        outbox::enqueue(&self.inner.cache, &OutboxItem::Status { status }).await?;
        self.inner.emit(UiEvent::AgentChanged(me.clone()));
        self.after_enqueue().await;
        Ok(me)
    }

    /// Save disposition and notes with a call. Works offline like [`Self::set_status`].
    pub async fn wrap_up(
        &self,
        sid: &CallSid,
        disposition: &str,
        notes: Option<&str>,
    ) -> Result<CallRecord, DesktopError> {
        self.client().await?;
        let req = WrapUpRequest {
            disposition: disposition.trim().to_owned(),
            notes: notes.map(str::to_owned).filter(|n| !n.trim().is_empty()),
        };
        req.validate().map_err(DesktopError::Invalid)?;
        let mut call = self
            .inner
            .cache
            .call(sid)
            .await?
            .ok_or_else(|| DesktopError::Invalid(format!("no call {sid} in this console")))?;
        call.disposition = Some(req.disposition.clone());
        call.notes.clone_from(&req.notes);
        outbox::enqueue(
            &self.inner.cache,
            &OutboxItem::WrapUp {
                call_sid: sid.clone(),
                wrap_up: req,
            },
        )
        .await?;
        let call = self.acted(call).await?;
        self.after_enqueue().await;
        Ok(call)
    }

    async fn after_enqueue(&self) {
        self.inner.emit_outbox().await;
        self.inner.outbox_wake.notify_one();
    }

    /// Outbox counts.
    pub async fn outbox(&self) -> Result<OutboxCounts, DesktopError> {
        outbox::counts(&self.inner.cache).await
    }
}
