//! [`PeerSession`]: a call's audio over one WebRTC peer connection (webrtc-rs): the
//! microphone as an Opus track, the remote track to the speaker, RFC 4733 DTMF on the same
//! stream, ICE + DTLS-SRTP, and ICE restart when the network drops.
//!
//! Signalling is the caller's business and non-trickle: [`PeerSession::offer`] and
//! [`PeerSession::answer`] return complete SDP (candidates included) once gathering is done.
//! When the transport drops, the session reports [`MediaState::Reconnecting`] and
//! [`MediaEvent::RestartNeeded`]; the offering side then sends `offer(true)` through its
//! signalling again and applies the answer. The call carries on; nothing is re-created.
//!
//! A session's tasks, webrtc-rs' included, run on one media thread ([`crate::threads`]):
//! each method that can make webrtc-rs start something does its work there.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::broadcast;
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_TELEPHONE_EVENT, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType};
use webrtc::track::track_local::TrackLocal;
use webrtc::track::track_remote::TrackRemote;

use crate::device::{AudioDevice, DeviceEvent};
use crate::dtmf::{self, DtmfReceiver};
use crate::level::Levels;
use crate::pipeline::{Controls, Pipeline, PipelineConfig};
use crate::session::{AudioStats, MediaEvent, MediaSession, MediaState};
use crate::speaker::SpeakerClock;
use crate::track::AudioTrack;
use crate::{FRAME_SAMPLES, MediaError, threads};

/// Payload types we offer (the ones Chrome uses, so SDP stays familiar in logs).
const OPUS_PT: u8 = 111;
const DTMF_PT: u8 = 110;

/// How a peer session is set up.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Only loopback host candidates (tests and the in-process simulator).
    pub loopback_only: bool,
    /// The audio path.
    pub pipeline: PipelineConfig,
    /// No traffic for this long: the transport counts as dropped and recovery starts.
    pub disconnected_after: Duration,
    /// Still dropped after this long: ICE gives up until a restart.
    pub failed_after: Duration,
    /// Run the call on a media thread of its own (see [`crate::threads`]); false keeps it
    /// on the caller's runtime, as before those threads, for `bench media` to compare.
    pub own_thread: bool,
}

impl PeerConfig {
    /// The runtime a call set up with this configuration runs on.
    pub(crate) fn runtime(&self) -> Handle {
        if self.own_thread {
            threads::for_a_call()
        } else {
            Handle::current()
        }
    }
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            loopback_only: false,
            pipeline: PipelineConfig::default(),
            disconnected_after: Duration::from_secs(2),
            // Failed ICE never comes back by itself; the offering side restarts it, so fail
            // early rather than leave the agent in silence.
            failed_after: Duration::from_secs(4),
            own_thread: true,
        }
    }
}

fn state_code(s: MediaState) -> u8 {
    match s {
        MediaState::Connecting => 0,
        MediaState::Connected => 1,
        MediaState::Reconnecting => 2,
        MediaState::Closed => 3,
    }
}

fn state_from(c: u8) -> MediaState {
    match c {
        0 => MediaState::Connecting,
        1 => MediaState::Connected,
        2 => MediaState::Reconnecting,
        _ => MediaState::Closed,
    }
}

struct Inner {
    pc: Arc<RTCPeerConnection>,
    /// Where the call runs (its media thread, as shipped): its tasks and webrtc-rs' run there.
    rt: Handle,
    /// Builds further peer connections with the same codecs and network settings.
    api: webrtc::api::API,
    /// Connections that only bring remote audio in (a LiveKit room's subscriber).
    receivers: Mutex<Vec<Arc<RTCPeerConnection>>>,
    track: Arc<AudioTrack>,
    pipeline: Arc<Mutex<Pipeline>>,
    controls: Arc<Controls>,
    device: Mutex<Box<dyn AudioDevice>>,
    events: broadcast::Sender<MediaEvent>,
    state: AtomicU8,
    /// While a key press is on the wire, audio frames are not sent (one sequence, one clock).
    dtmf_active: AtomicBool,
    dtmf_lock: tokio::sync::Mutex<()>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Inner {
    fn set_state(&self, s: MediaState) {
        if self.state.swap(state_code(s), Ordering::AcqRel) != state_code(s) {
            let _ = self.events.send(MediaEvent::State { state: s });
        }
    }

    /// The connections closed, the tasks stopped, the device released.
    async fn shut_down(&self) {
        close_all(self.take_connections()).await;
        self.set_state(MediaState::Closed);
        self.stop_tasks_and_device();
    }

    /// The sending connection, and the receiving ones taken out of the session.
    fn take_connections(&self) -> Vec<Arc<RTCPeerConnection>> {
        let mut all = vec![self.pc.clone()];
        if let Ok(mut r) = self.receivers.lock() {
            all.append(&mut r);
        }
        all
    }

    fn stop_tasks_and_device(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.drain(..).for_each(|t| t.abort());
        }
        if let Ok(mut d) = self.device.lock() {
            d.stop();
        }
    }
}

async fn close_all(connections: Vec<Arc<RTCPeerConnection>>) {
    for pc in connections {
        if let Err(e) = pc.close().await {
            tracing::debug!(error = %e, "closing peer connection");
        }
    }
}

/// A session dropped without [`MediaSession::close`] still lets its call go: its media
/// thread outlives whoever created it, and webrtc-rs' own tasks would otherwise keep the
/// connection (and its socket) alive for the life of the process.
impl Drop for Inner {
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stop_tasks_and_device();
        self.rt.spawn(close_all(self.take_connections()));
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct PeerSession {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PeerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSession")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn media_engine() -> Result<MediaEngine, MediaError> {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            capability: RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: OPUS_PT,
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    m.register_codec(
        RTCRtpCodecParameters {
            capability: RTCRtpCodecCapability {
                mime_type: MIME_TYPE_TELEPHONE_EVENT.to_owned(),
                clock_rate: 48_000,
                channels: 0,
                sdp_fmtp_line: "0-15".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: DTMF_PT,
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    Ok(m)
}

/// A call's device started and its audio path built: done by whoever asks for a call, on
/// their own thread, since opening a sound card can block for a while and the media
/// thread carries other calls' audio.
pub(crate) struct Opened {
    device: Box<dyn AudioDevice>,
    pipeline: Pipeline,
}

impl Opened {
    pub(crate) fn start(mut device: Box<dyn AudioDevice>, config: &PeerConfig) -> Result<Self, MediaError> {
        let io = device.start()?;
        match Pipeline::new(io, config.pipeline) {
            Ok(pipeline) => Ok(Self { device, pipeline }),
            Err(e) => {
                device.stop();
                Err(e)
            }
        }
    }

    /// Release the device of a call that will not happen because of `e`; returns `e`.
    pub(crate) fn give_up(mut self, e: MediaError) -> MediaError {
        self.device.stop();
        e
    }
}

/// A peer connection with our codecs, interceptors and network settings, and our audio
/// track on it.
struct Connection {
    /// What built it; builds further ones alike.
    api: webrtc::api::API,
    pc: Arc<RTCPeerConnection>,
    track: Arc<AudioTrack>,
    sender: Arc<webrtc::rtp_transceiver::rtp_sender::RTCRtpSender>,
}

async fn connection(config: &PeerConfig) -> Result<Connection, MediaError> {
    let mut m = media_engine()?;
    let registry = register_default_interceptors(Registry::new(), &mut m)?;
    let mut s = SettingEngine::default();
    s.set_ice_timeouts(
        Some(config.disconnected_after),
        Some(config.failed_after),
        Some(Duration::from_millis(500)),
    );
    s.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    s.set_network_types(vec![NetworkType::Udp4]);
    if config.loopback_only {
        s.set_include_loopback_candidate(true);
        s.set_ip_filter(Box::new(|ip| ip.is_loopback()));
    }
    let api = APIBuilder::new()
        .with_media_engine(m)
        .with_interceptor_registry(registry)
        .with_setting_engine(s)
        .build();
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    let track = Arc::new(AudioTrack::new());
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal + Send + Sync>).await?;

    Ok(Connection { api, pc, track, sender })
}

impl PeerSession {
    /// Start the device and set up the peer connection (no signalling yet). The call's
    /// tasks run on a media thread of their own (see [`crate::threads`]).
    pub async fn new(device: Box<dyn AudioDevice>, config: PeerConfig) -> Result<Self, MediaError> {
        let opened = Opened::start(device, &config)?;
        let rt = config.runtime();
        threads::run_on(&rt.clone(), Self::set_up(rt, opened, config)).await?
    }

    /// The rest of [`PeerSession::new`], run on `rt`, the call's media thread.
    pub(crate) async fn set_up(rt: Handle, opened: Opened, config: PeerConfig) -> Result<Self, MediaError> {
        let Connection { api, pc, track, sender } = match connection(&config).await {
            Ok(c) => c,
            Err(e) => return Err(opened.give_up(e)),
        };
        let Opened { device, pipeline } = opened;
        let controls = pipeline.controls();
        let (events, _) = broadcast::channel(64);
        let inner = Arc::new(Inner {
            pc: pc.clone(),
            api,
            rt,
            receivers: Mutex::new(Vec::new()),
            track,
            pipeline: Arc::new(Mutex::new(pipeline)),
            controls,
            device: Mutex::new(device),
            events,
            state: AtomicU8::new(state_code(MediaState::Connecting)),
            dtmf_active: AtomicBool::new(false),
            dtmf_lock: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });

        // RTCP from the far end must be read for the interceptors (NACK, reports) to work;
        // its reception reports say how much of our audio is lost, which our FEC follows.
        let rtcp = tokio::spawn(follow_loss(sender, inner.controls.clone()));

        follow_state(&pc, Arc::downgrade(&inner));

        play_remote_tracks(&pc, Arc::downgrade(&inner));

        let engine = tokio::spawn(engine_loop(Arc::downgrade(&inner)));
        if let Ok(mut t) = inner.tasks.lock() {
            t.push(rtcp);
            t.push(engine);
        }
        Ok(Self { inner })
    }

    /// Run `work` with this session on its media thread (see [`crate::threads::run_on`]).
    async fn on_its_thread<T, F>(&self, work: impl FnOnce(Self) -> F) -> Result<T, MediaError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, MediaError>> + Send + 'static,
    {
        threads::run_on(&self.inner.rt, work(self.clone())).await?
    }

    async fn gathered_local(&self) -> Result<String, MediaError> {
        self.inner
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| MediaError::Webrtc("no local description".into()))
    }

    /// Create an offer (with `ice_restart`, new ICE credentials for recovery) and return its
    /// SDP once all candidates are in it.
    pub async fn offer(&self, ice_restart: bool) -> Result<String, MediaError> {
        self.on_its_thread(move |s| async move { s.offer_here(ice_restart).await })
            .await
    }

    async fn offer_here(&self, ice_restart: bool) -> Result<String, MediaError> {
        let pc = &self.inner.pc;
        let offer = pc
            .create_offer(Some(RTCOfferOptions {
                ice_restart,
                ..Default::default()
            }))
            .await?;
        let mut gathered = pc.gathering_complete_promise().await;
        pc.set_local_description(offer).await?;
        let _ = gathered.recv().await;
        self.gathered_local().await
    }

    /// Apply the answer to our offer.
    pub async fn accept_answer(&self, sdp: &str) -> Result<(), MediaError> {
        let answer = RTCSessionDescription::answer(sdp.to_owned())?;
        self.on_its_thread(move |s| async move { Ok(s.inner.pc.set_remote_description(answer).await?) })
            .await
    }

    /// Answer a remote offer (first one or an ICE restart); returns our complete SDP.
    pub async fn answer(&self, offer_sdp: &str) -> Result<String, MediaError> {
        let offer_sdp = offer_sdp.to_owned();
        self.on_its_thread(move |s| async move { s.answer_here(&offer_sdp).await })
            .await
    }

    async fn answer_here(&self, offer_sdp: &str) -> Result<String, MediaError> {
        let pc = &self.inner.pc;
        pc.set_remote_description(RTCSessionDescription::offer(offer_sdp.to_owned())?)
            .await?;
        if self.inner.track.binding().is_none() && !offer_sdp.to_ascii_lowercase().contains("opus/48000") {
            return Err(MediaError::NoCodec);
        }
        let answer = pc.create_answer(None).await?;
        let mut gathered = pc.gathering_complete_promise().await;
        pc.set_local_description(answer).await?;
        let _ = gathered.recv().await;
        self.gathered_local().await
    }

    /// The peer connection the microphone is sent on (for signalling that trickles ICE).
    pub fn connection(&self) -> Arc<RTCPeerConnection> {
        self.inner.pc.clone()
    }

    /// A second peer connection, same codecs and network settings, whose remote audio
    /// plays through this session's jitter buffer and speaker: a LiveKit room's
    /// subscriber connection, negotiated by the room's signalling. Closed with the session.
    /// With `drives_state` the session's state follows this connection (a listen-only
    /// session never connects its sending one).
    pub async fn receiving_connection(&self, drives_state: bool) -> Result<Arc<RTCPeerConnection>, MediaError> {
        self.on_its_thread(move |s| async move { s.receiving_connection_here(drives_state).await })
            .await
    }

    async fn receiving_connection_here(&self, drives_state: bool) -> Result<Arc<RTCPeerConnection>, MediaError> {
        let pc = Arc::new(self.inner.api.new_peer_connection(RTCConfiguration::default()).await?);
        play_remote_tracks(&pc, Arc::downgrade(&self.inner));
        if drives_state {
            follow_state(&pc, Arc::downgrade(&self.inner));
        }
        if let Ok(mut r) = self.inner.receivers.lock() {
            r.push(pc.clone());
        }
        Ok(pc)
    }

    /// The pipeline's controls: replacement sources (the simulator's hold music), meters.
    pub fn controls(&self) -> Arc<Controls> {
        self.inner.controls.clone()
    }

    /// How much decoded audio the speaker ring is kept filled to now, in samples.
    pub fn playout_target(&self) -> usize {
        self.inner.pipeline.lock().map_or(0, |p| p.playout_target())
    }
}

/// The call's audio engine. A frame the device signals as captured is encoded and sent at
/// once; the speaker ring is topped up just before the device's next pull (see
/// [`crate::speaker`]); a tick switches rings when the device was replaced, and keeps the
/// speaker filled every 10 ms while no pull can be predicted.
async fn engine_loop(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // While pulls time the speaker, the tick is only housekeeping (a replaced device):
    // ten times slower, ninety fewer wake-ups a second per call.
    let mut housekeeping = tokio::time::interval(Duration::from_millis(100));
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut packets: Vec<Bytes> = Vec::with_capacity(8);
    // The device whose capture signal is awaited and whose pulls time the speaker's
    // top-ups; a replaced device's are picked up at the next tick.
    let Some(first) = inner.upgrade() else { return };
    let (mut device, mut pulls) = match first.pipeline.lock() {
        Ok(p) => (p.capture_signal(), p.pull_stamps()),
        Err(_) => return,
    };
    drop(first);
    let mut speaker = SpeakerClock::default();
    loop {
        if let Some(p) = &pulls {
            speaker.observe(p.last_pull_us.load(Ordering::Relaxed));
        }
        let top_up_at = speaker
            .next_top_up()
            .map(|us| tokio::time::Instant::from_std(crate::device::device_clock_epoch() + Duration::from_micros(us)));
        let captured = async {
            match &device {
                Some(d) => d.frame_captured.notified().await,
                None => std::future::pending().await,
            }
        };
        let pull_near = async {
            match top_up_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let ticked = async {
            if top_up_at.is_some() {
                housekeeping.tick().await
            } else {
                tick.tick().await
            }
        };
        let wake = tokio::select! {
            _ = ticked => Wake::Tick,
            () = captured => Wake::Captured,
            () = pull_near => Wake::TopUp,
        };
        let Some(inner) = inner.upgrade() else { return };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        let replacement = if wake == Wake::Tick {
            inner.device.lock().ok().and_then(|mut d| d.replacement())
        } else {
            None
        };
        {
            let Ok(mut p) = inner.pipeline.lock() else { return };
            if let Some(io) = replacement {
                tracing::debug!("audio device rings replaced");
                p.replace_io(io);
                device = p.capture_signal();
                pulls = p.pull_stamps();
                speaker = SpeakerClock::default();
            }
            if let Err(e) = p.capture(|pkt| packets.push(Bytes::copy_from_slice(pkt))) {
                tracing::warn!(error = %e, "capture failed");
            }
            // The tick tops up only while no pull is predicted (device starting, stalled,
            // paced by a network, or the feature off).
            let top_up = match wake {
                Wake::TopUp => true,
                Wake::Tick => top_up_at.is_none(),
                Wake::Captured => false,
            };
            if top_up {
                if let Err(e) = p.playout() {
                    tracing::warn!(error = %e, "playout failed");
                }
                if wake == Wake::TopUp {
                    speaker.topped_up();
                }
            }
        }
        let binding = inner.track.binding();
        for payload in packets.drain(..) {
            // The RTP clock advances with every frame, sent or not.
            let ts = inner.track.timestamp.fetch_add(FRAME_SAMPLES as u32, Ordering::Relaxed);
            if let Some(b) = &binding {
                if !inner.dtmf_active.load(Ordering::Acquire) {
                    inner.track.write(b, b.opus_pt, false, ts, payload).await;
                }
            }
        }
    }
}

/// What woke the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Its tick: device replacement, and the speaker while no pull is predicted (every
    /// 10 ms then, every 100 ms otherwise).
    Tick,
    /// A whole frame was captured.
    Captured,
    /// The device is about to pull from the speaker ring.
    TopUp,
}

/// The session's state follows `pc`'s: connected, dropped (recovery starts), closed.
fn follow_state(pc: &RTCPeerConnection, weak: std::sync::Weak<Inner>) {
    pc.on_peer_connection_state_change(Box::new(move |s: RTCPeerConnectionState| {
        if let Some(inner) = weak.upgrade() {
            match s {
                RTCPeerConnectionState::Connected => inner.set_state(MediaState::Connected),
                RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed
                    if !inner.closed.load(Ordering::Acquire) =>
                {
                    inner.set_state(MediaState::Reconnecting);
                    let _ = inner.events.send(MediaEvent::RestartNeeded);
                }
                RTCPeerConnectionState::Closed => inner.set_state(MediaState::Closed),
                _ => {}
            }
        }
        Box::pin(async {})
    }));
}

/// Every track `pc` receives plays through the session's pipeline.
fn play_remote_tracks(pc: &RTCPeerConnection, weak: std::sync::Weak<Inner>) {
    pc.on_track(Box::new(move |remote, _receiver, _transceiver| {
        if let Some(inner) = weak.upgrade() {
            let task = tokio::spawn(receive_loop(Arc::downgrade(&inner), remote));
            if let Ok(mut t) = inner.tasks.lock() {
                t.push(task);
            }
        }
        Box::pin(async {})
    }));
}

/// Read the remote track: Opus to the jitter buffer, telephone-events to DTMF events.
async fn receive_loop(inner: std::sync::Weak<Inner>, remote: Arc<TrackRemote>) {
    let mut dtmf = DtmfReceiver::default();
    loop {
        let packet = remote.read_rtp().await;
        let Some(inner) = inner.upgrade() else { return };
        let packet = match packet {
            Ok((packet, _)) => packet,
            Err(e) => {
                // Closing the session ends every reader. One that ends before: the far
                // end left, or its audio is lost until the track is offered again.
                if !inner.closed.load(Ordering::Acquire) {
                    tracing::info!(
                        ssrc = remote.ssrc(),
                        error = %e,
                        "a remote track ended before the call's audio did"
                    );
                }
                return;
            }
        };
        let pt = packet.header.payload_type;
        let binding = inner.track.binding();
        let dtmf_pt = binding.as_ref().and_then(|b| b.dtmf_pt).unwrap_or(DTMF_PT);
        if pt == dtmf_pt {
            if let Some(key) = dtmf.receive(packet.header.timestamp, &packet.payload) {
                let _ = inner.events.send(MediaEvent::Dtmf { key });
            }
        } else if let Ok(mut p) = inner.pipeline.lock() {
            let h = &packet.header;
            if let Err(e) = p.receive(h.ssrc, h.sequence_number, h.timestamp, packet.payload) {
                tracing::warn!(error = %e, "no decoder for a new sender");
            }
        }
    }
}

#[async_trait]
impl MediaSession for PeerSession {
    async fn set_muted(&self, muted: bool) {
        self.inner.controls.set_muted(muted);
    }

    async fn set_hold(&self, on_hold: bool) {
        self.inner.controls.set_held(on_hold);
    }

    async fn send_dtmf(&self, keys: &str) -> Result<(), MediaError> {
        let codes = dtmf::validate(keys)?;
        let _one_at_a_time = self.inner.dtmf_lock.lock().await;
        let binding = self
            .inner
            .track
            .binding()
            .ok_or(MediaError::Webrtc("not connected yet".into()))?;
        let pt = binding.dtmf_pt.ok_or(MediaError::Webrtc(
            "the far end does not accept telephone-events".into(),
        ))?;
        for code in codes {
            self.inner.dtmf_active.store(true, Ordering::Release);
            // The event's timestamp is where the tone starts on the audio clock.
            let ts = self.inner.track.timestamp.load(Ordering::Relaxed);
            let mut tick = tokio::time::interval(Duration::from_millis(u64::from(dtmf::PACKET_MS)));
            for p in dtmf::key_press(code, 48_000) {
                tick.tick().await;
                self.inner
                    .track
                    .write(&binding, pt, p.marker, ts, Bytes::copy_from_slice(&p.payload.encode()))
                    .await;
            }
            self.inner.dtmf_active.store(false, Ordering::Release);
            tokio::time::sleep(Duration::from_millis(u64::from(dtmf::GAP_MS))).await;
        }
        Ok(())
    }

    fn levels(&self) -> Levels {
        self.inner.controls.levels()
    }

    fn state(&self) -> MediaState {
        state_from(self.inner.state.load(Ordering::Acquire))
    }

    fn stats(&self) -> AudioStats {
        match self.inner.pipeline.lock() {
            Ok(p) => {
                let (capture_overruns, playback_underruns) = p.xruns();
                AudioStats {
                    jitter: p.jitter_stats(),
                    capture_overruns,
                    playback_underruns,
                }
            }
            Err(_) => AudioStats::default(),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<MediaEvent> {
        self.inner.events.subscribe()
    }

    async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let closed = self
            .on_its_thread(|s| async move {
                s.inner.shut_down().await;
                Ok(())
            })
            .await;
        if let Err(e) = closed {
            tracing::warn!(error = %e, "closing the call's audio");
        }
    }
}

/// Reads the far end's RTCP for our track until the connection ends, and sets the loss the
/// encoder expects from its reception reports (in receiver reports, or in sender reports
/// when the far end sends too, as browsers do).
async fn follow_loss(sender: Arc<webrtc::rtp_transceiver::rtp_sender::RTCRtpSender>, controls: Arc<Controls>) {
    use webrtc::rtcp::receiver_report::ReceiverReport;
    use webrtc::rtcp::sender_report::SenderReport;
    let mut loss = crate::loss::LossEstimate::default();
    while let Ok((packets, _)) = sender.read_rtcp().await {
        for p in &packets {
            let any = p.as_any();
            let reports = match (any.downcast_ref::<ReceiverReport>(), any.downcast_ref::<SenderReport>()) {
                (Some(rr), _) => &rr.reports,
                (None, Some(sr)) => &sr.reports,
                (None, None) => continue,
            };
            // We send one stream: every block in a report that reaches our sender is about it.
            if let Some(fraction) = reports.iter().map(|r| r.fraction_lost).max() {
                controls.set_expected_loss(loss.report(fraction));
            }
        }
    }
}

/// Forward device events (fallbacks) into a session's event stream.
pub fn forward_device_events(session: &PeerSession, mut rx: tokio::sync::mpsc::UnboundedReceiver<DeviceEvent>) {
    let events = session.inner.events.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            let _ = events.send(MediaEvent::Device { event });
        }
    });
}
