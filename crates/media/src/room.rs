//! [`RoomSession`]: a call's audio in a LiveKit room (a LiveKit SIP caller's room), from
//! the Rust backend, on webrtc-rs: the official Rust client downloads a prebuilt libwebrtc
//! at build time, which cannot happen here, so this speaks LiveKit's client signalling
//! itself with `livekit-protocol`'s protobuf types (protocols.md §1.8).
//!
//! The protocol, as used here:
//! - `GET {url}/rtc?access_token=<JWT>&auto_subscribe=1&protocol=N` upgraded to a
//!   WebSocket; binary frames, each one protobuf `SignalRequest` (to the server) or
//!   `SignalResponse` (from it).
//! - The server speaks first: `join` (`JoinResponse`: the room, us, the others, the ping
//!   interval).
//! - Two peer connections, as LiveKit assigns them. The **publisher** is ours to offer:
//!   `add_track` (`AddTrackRequest`, `cid` = the track id in our SDP) announces the
//!   microphone, then our `offer` (complete SDP, candidates included) and the server's
//!   `answer`. The **subscriber** is the server's to offer: its `offer` whenever tracks
//!   to receive change, our `answer`. Remote audio arrives there and plays through the
//!   session's jitter buffer and speaker.
//! - `trickle` carries the server's ICE candidates (`candidateInit` as JSON, `target` =
//!   publisher or subscriber); ours travel inside the SDP.
//! - `ping` every `ping_interval` seconds keeps the signal connection alive; `leave` ends.
//! - When the signal connection or a peer connection breaks, the session resumes:
//!   the WebSocket again with `reconnect=1&sid=<our participant sid>`, the server's
//!   `reconnect` answer, an ICE-restart offer for the publisher from us and a new
//!   subscriber offer from the server. `refresh_token` keeps the token for that fresh; a
//!   `leave` without resume ends the session.
//! - A token without `canPublish` (a supervisor listening) joins listen-only: no
//!   `add_track`, no publisher offer; the subscriber carries everything.
//!
//! The audio itself (capture, processing, Opus, jitter buffer, meters, mute and hold) is
//! [`PeerSession`]'s: the publisher is its connection, the subscriber a receiving
//! connection of it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use livekit_protocol as proto;
use prost::Message as _;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::data_channel::data_channel_state::RTCDataChannelState;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

use crate::device::AudioDevice;
use crate::level::Levels;
use crate::peer::{Opened, PeerConfig, PeerSession};
use crate::session::{AudioStats, MediaEvent, MediaSession, MediaState};
use crate::{MediaError, threads};

/// The signalling protocol version we speak (what the server may send us).
const PROTOCOL: u32 = 9;
/// Our microphone track's id: the `cid` of the `AddTrackRequest`, and the track id in
/// the publisher's SDP (see `track::AudioTrack`).
const TRACK_CID: &str = "audio";

/// A call's audio in a LiveKit room; see the module docs.
pub struct RoomSession {
    peer: PeerSession,
    /// The publisher's reliable data channel: keys for a SIP caller travel on it. None in
    /// a listen-only session.
    data: Option<Arc<RTCDataChannel>>,
    keys: tokio::sync::Mutex<()>,
    signal: mpsc::UnboundedSender<proto::signal_request::Message>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Resumes after a broken signal connection or transport so far.
    resumes: Arc<std::sync::atomic::AtomicU32>,
    /// Our participant identity in the room.
    pub identity: String,
}

/// A session dropped without [`MediaSession::close`]: its pinger stops, so the signal task
/// sees the queue close and ends, and with it the call (see `PeerSession`'s drop). Its media
/// thread outlives whoever joined, so nothing else would stop them.
impl Drop for RoomSession {
    fn drop(&mut self) {
        self.stop_pinger();
    }
}

impl std::fmt::Debug for RoomSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomSession")
            .field("identity", &self.identity)
            .field("state", &self.peer.state())
            .finish_non_exhaustive()
    }
}

fn signal_err(e: impl std::fmt::Display) -> MediaError {
    MediaError::Webrtc(format!("LiveKit signalling: {e}"))
}

/// The signal WebSocket's address for `url` (`ws(s)://` or `http(s)://`).
pub fn rtc_url(url: &str, token: &str) -> String {
    let base = url
        .trim_end_matches('/')
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    format!(
        "{base}/rtc?access_token={token}&auto_subscribe=1&adaptive_stream=0&protocol={PROTOCOL}&sdk=rust&version=0.1.0"
    )
}

fn request(m: proto::signal_request::Message) -> Vec<u8> {
    proto::SignalRequest { message: Some(m) }.encode_to_vec()
}

impl RoomSession {
    /// Join the room `token` admits to at `url`, with `device` as microphone and speaker;
    /// returns once the server has accepted us and our offer is out. The audio connects in
    /// the background ([`MediaSession::state`] says when).
    pub async fn join(
        url: &str,
        token: &str,
        device: Box<dyn AudioDevice>,
        config: PeerConfig,
    ) -> Result<Self, MediaError> {
        // The device opens here (it can block); the rest, the signal connection included,
        // runs on the call's media thread with its audio (see `crate::threads`).
        let opened = Opened::start(device, &config)?;
        let rt = config.runtime();
        let (url, token) = (url.to_owned(), token.to_owned());
        threads::run_on(&rt.clone(), async move {
            Self::join_here(&url, &token, opened, config, rt).await
        })
        .await?
    }

    async fn join_here(
        url: &str,
        token: &str,
        opened: Opened,
        config: PeerConfig,
        rt: tokio::runtime::Handle,
    ) -> Result<Self, MediaError> {
        let (sink, stream, join) = match signal_connection(url, token).await {
            Ok(c) => c,
            Err(e) => return Err(opened.give_up(e)),
        };
        let identity = join
            .participant
            .as_ref()
            .map(|p| p.identity.clone())
            .unwrap_or_default();
        // A token that may not publish (a supervisor listening) joins listen-only: nothing
        // is announced or offered, and the session's state is the subscriber's.
        let publishes = join
            .participant
            .as_ref()
            .and_then(|p| p.permission.as_ref())
            .is_none_or(|p| p.can_publish);
        let peer = PeerSession::set_up(rt, opened, config).await?;
        let subscriber = peer.receiving_connection(!publishes).await?;

        // Everything we send goes through the signal task, in order (see `signal_task`).
        let (tx, rx) = mpsc::unbounded_channel::<proto::signal_request::Message>();

        // LiveKit's reliable data channel (its name is LiveKit's), then the microphone:
        // announce it, and offer the publisher connection with both in it.
        let data = if publishes {
            let data = peer
                .connection()
                .create_data_channel(
                    "_reliable",
                    Some(RTCDataChannelInit {
                        ordered: Some(true),
                        ..Default::default()
                    }),
                )
                .await?;
            let _ = tx.send(proto::signal_request::Message::AddTrack(proto::AddTrackRequest {
                cid: TRACK_CID.to_owned(),
                name: "microphone".to_owned(),
                r#type: proto::TrackType::Audio as i32,
                source: proto::TrackSource::Microphone as i32,
                ..Default::default()
            }));
            let offer = peer.offer(false).await?;
            let _ = tx.send(proto::signal_request::Message::Offer(proto::SessionDescription {
                r#type: "offer".to_owned(),
                sdp: offer,
                ..Default::default()
            }));
            Some(data)
        } else {
            None
        };

        // A dropped transport resumes the session (see `signal_task`): the publisher's drop
        // comes as the session's RestartNeeded, the subscriber's from its own state.
        let resume = Arc::new(tokio::sync::Notify::new());
        if publishes {
            let r = resume.clone();
            subscriber.on_peer_connection_state_change(Box::new(move |st| {
                if matches!(
                    st,
                    RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed
                ) {
                    r.notify_one();
                }
                Box::pin(async {})
            }));
        }
        let link = Link {
            url: url.to_owned(),
            token: token.to_owned(),
            sid: join.participant.as_ref().map(|p| p.sid.clone()).unwrap_or_default(),
            publishes,
        };
        let resumes = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let signal_task = tokio::spawn(signal_task(
            link,
            resumes.clone(),
            (sink, stream),
            rx,
            peer.clone(),
            subscriber.clone(),
            resume,
        ));
        let interval = Duration::from_secs(u64::try_from(join.ping_interval.max(1)).unwrap_or(10));
        let pinger = {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    if tx.send(proto::signal_request::Message::Ping(now)).is_err() {
                        return;
                    }
                }
            })
        };
        Ok(Self {
            peer,
            data,
            keys: tokio::sync::Mutex::new(()),
            signal: tx,
            tasks: vec![signal_task, pinger],
            resumes,
            identity,
        })
    }

    /// Let only `identity` hear what we publish (LiveKit's subscription permissions): the
    /// gateway's hold music is for the caller, not for the agent.
    pub fn heard_only_by(&self, identity: &str) {
        let _ = self.signal.send(proto::signal_request::Message::SubscriptionPermission(
            proto::SubscriptionPermission {
                all_participants: false,
                track_permissions: vec![proto::TrackPermission {
                    participant_identity: identity.to_owned(),
                    all_tracks: true,
                    ..Default::default()
                }],
            },
        ));
    }

    /// How many times the session resumed after a break (diagnostics, tests).
    pub fn resumes(&self) -> u32 {
        self.resumes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Does this session publish (false: listen-only, its token may not publish)?
    pub fn publishes(&self) -> bool {
        self.data.is_some()
    }

    /// Stop the pinger (`tasks[1]`); the signal task (`tasks[0]`) ends by itself once the
    /// queue closes or after sending a leave.
    fn stop_pinger(&self) {
        for t in &self.tasks[1..] {
            t.abort();
        }
    }

    /// The audio session underneath (controls, stats).
    pub fn peer(&self) -> &PeerSession {
        &self.peer
    }
}

/// The signal WebSocket to `url` for `token`, and the server's `join` once it came.
async fn signal_connection(url: &str, token: &str) -> Result<(Sink, Stream, proto::JoinResponse), MediaError> {
    let (ws, _) = tokio_tungstenite::connect_async(rtc_url(url, token))
        .await
        .map_err(signal_err)?;
    let (sink, mut stream) = ws.split();
    loop {
        let frame = stream
            .next()
            .await
            .ok_or_else(|| signal_err("closed before joining"))?
            .map_err(signal_err)?;
        if let Message::Binary(b) = frame {
            match proto::SignalResponse::decode(b.as_ref()).map_err(signal_err)?.message {
                Some(proto::signal_response::Message::Join(j)) => return Ok((sink, stream, j)),
                Some(proto::signal_response::Message::Leave(l)) => {
                    return Err(signal_err(format!("refused (reason {})", l.reason)));
                }
                _ => {}
            }
        }
    }
}

/// Where and who we are, for resuming.
struct Link {
    url: String,
    token: String,
    /// Our participant sid (`reconnect=1&sid=` resumes it).
    sid: String,
    publishes: bool,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = futures_util::stream::SplitSink<Ws, Message>;
type Stream = futures_util::stream::SplitStream<Ws>;

/// What became of the signal connection.
enum Ended {
    /// We left (or the session closed): stop.
    Left,
    /// The server removed us for good: stop (a new join with a fresh token is the caller's).
    Dropped,
    /// The connection or a transport broke: resume.
    Broken,
}

/// How long one resume attempt may take to connect.
const RESUME_CONNECT: Duration = Duration::from_secs(2);
/// Give up resuming after this long (the server forgets us about then).
const RESUME_FOR: Duration = Duration::from_secs(60);

/// The signal connection, for the session's life: sends what the session queues, applies
/// what the server says, and when the connection or a peer connection breaks, resumes
/// (LiveKit's `reconnect=1&sid=`; the server answers `reconnect`, restarts the
/// subscriber's ICE with a new offer, and we restart the publisher's with ours). The
/// audio goes on meanwhile as far as the network lets it; nothing about the call changes.
async fn signal_task(
    mut link: Link,
    resumes: Arc<std::sync::atomic::AtomicU32>,
    (mut sink, mut stream): (Sink, Stream),
    mut rx: mpsc::UnboundedReceiver<proto::signal_request::Message>,
    peer: PeerSession,
    subscriber: Arc<RTCPeerConnection>,
    resume: Arc<tokio::sync::Notify>,
) {
    let mut events = peer.subscribe();
    // A transport still down from before the last resume is not a new break: the restart
    // that resume started is under way.
    let mut resumed_at: Option<tokio::time::Instant> = None;
    let settled = |at: Option<tokio::time::Instant>| at.is_none_or(|t| t.elapsed() > Duration::from_secs(5));
    loop {
        let ended = loop {
            tokio::select! {
                // What the session queued goes first: a leave must not lose to the close
                // that follows it.
                biased;
                m = rx.recv() => match m {
                    None => break Ended::Left,
                    Some(m) => {
                        let leaving = matches!(m, proto::signal_request::Message::Leave(_));
                        if sink.send(Message::binary(request(m))).await.is_err() {
                            break if leaving { Ended::Left } else { Ended::Broken };
                        }
                        if leaving {
                            let _ = sink.close().await;
                            break Ended::Left;
                        }
                    }
                },
                frame = stream.next() => match frame {
                    Some(Ok(Message::Binary(b))) => match apply(&b, &peer, &subscriber, &mut link).await {
                        Applied::Nothing => {}
                        Applied::Reply(m) => {
                            if sink.send(Message::binary(request(m))).await.is_err() {
                                break Ended::Broken;
                            }
                        }
                        Applied::End(end) => break end,
                    },
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break Ended::Broken,
                },
                ev = events.recv() => match ev {
                    Ok(MediaEvent::RestartNeeded) if settled(resumed_at) => break Ended::Broken,
                    Ok(MediaEvent::State { state: MediaState::Closed }) => break Ended::Left,
                    Err(broadcast::error::RecvError::Closed) => break Ended::Left,
                    _ => {}
                },
                () = resume.notified() => {
                    if settled(resumed_at) {
                        break Ended::Broken;
                    }
                }
            }
        };
        match ended {
            Ended::Left | Ended::Dropped => {
                if matches!(ended, Ended::Dropped) {
                    peer.close().await;
                }
                return;
            }
            Ended::Broken => {}
        }
        tracing::info!("LiveKit signal or transport broke; resuming the session");
        let Some((new_sink, new_stream)) = reconnect(&link, &peer).await else {
            tracing::warn!("could not resume the LiveKit session; leaving");
            peer.close().await;
            return;
        };
        (sink, stream) = (new_sink, new_stream);
        resumed_at = Some(tokio::time::Instant::now());
        resumes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Our side of the ICE restart: a fresh publisher offer.
        if link.publishes {
            match peer.offer(true).await {
                Ok(sdp) => {
                    let offer = proto::signal_request::Message::Offer(proto::SessionDescription {
                        r#type: "offer".to_owned(),
                        sdp,
                        ..Default::default()
                    });
                    if sink.send(Message::binary(request(offer))).await.is_err() {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "publisher ICE restart offer failed"),
            }
        }
        // Transport events from before the resume are stale.
        while events.try_recv().is_ok() {}
    }
}

/// Reconnect the signal connection with `reconnect=1` until the server takes us back
/// (`reconnect` answer) or refuses (`leave`), for up to [`RESUME_FOR`].
async fn reconnect(link: &Link, peer: &PeerSession) -> Option<(Sink, Stream)> {
    let until = tokio::time::Instant::now() + RESUME_FOR;
    let url = format!(
        "{}&reconnect=1&sid={}&reconnect_reason=1",
        rtc_url(&link.url, &link.token),
        link.sid
    );
    while tokio::time::Instant::now() < until {
        if peer.state() == MediaState::Closed {
            return None;
        }
        let attempt = async {
            let (ws, _) = tokio::time::timeout(RESUME_CONNECT, tokio_tungstenite::connect_async(url.as_str()))
                .await
                .ok()?
                .ok()?;
            let (sink, mut stream) = ws.split();
            loop {
                let frame = tokio::time::timeout(RESUME_CONNECT, stream.next()).await.ok()??.ok()?;
                let Message::Binary(b) = frame else { continue };
                match proto::SignalResponse::decode(b.as_ref()).ok()?.message {
                    Some(proto::signal_response::Message::Reconnect(_)) => return Some(Some((sink, stream))),
                    Some(proto::signal_response::Message::Leave(_)) => return Some(None),
                    _ => {}
                }
            }
        };
        match attempt.await {
            Some(Some(ok)) => return Some(ok),
            // The server no longer has us: resuming is over.
            Some(None) => return None,
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    None
}

/// What applying a message from the server asks for.
enum Applied {
    Nothing,
    /// Send this back (our subscriber answer).
    Reply(proto::signal_request::Message),
    /// The connection is over.
    End(Ended),
}

/// Apply one message from the server.
async fn apply(b: &[u8], peer: &PeerSession, subscriber: &Arc<RTCPeerConnection>, link: &mut Link) -> Applied {
    use proto::signal_response::Message as R;
    let Ok(resp) = proto::SignalResponse::decode(b) else {
        tracing::warn!("undecodable LiveKit signal message");
        return Applied::Nothing;
    };
    let result = match resp.message {
        Some(R::Answer(d)) => peer.accept_answer(&d.sdp).await,
        Some(R::Offer(d)) => match answer_subscriber(subscriber, &d.sdp).await {
            Ok(sdp) => {
                let answer = proto::signal_request::Message::Answer(proto::SessionDescription {
                    r#type: "answer".to_owned(),
                    sdp,
                    id: d.id,
                    ..Default::default()
                });
                return Applied::Reply(answer);
            }
            Err(e) => Err(e),
        },
        Some(R::Trickle(t)) => {
            let pc = if t.target == proto::SignalTarget::Subscriber as i32 {
                subscriber.clone()
            } else {
                peer.connection()
            };
            add_candidate(&pc, &t.candidate_init).await
        }
        Some(R::RefreshToken(t)) => {
            // Resuming later needs a token that is still valid.
            link.token = t;
            Ok(())
        }
        Some(R::Leave(l)) => {
            tracing::info!(
                reason = l.reason,
                action = l.action,
                "LiveKit asked us to leave the room"
            );
            let resume = l.action == proto::leave_request::Action::Resume as i32
                || (l.can_reconnect && l.action != proto::leave_request::Action::Disconnect as i32);
            return Applied::End(if resume { Ended::Broken } else { Ended::Dropped });
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "LiveKit signal message not applied");
    }
    Applied::Nothing
}

async fn answer_subscriber(pc: &RTCPeerConnection, offer: &str) -> Result<String, MediaError> {
    pc.set_remote_description(RTCSessionDescription::offer(offer.to_owned())?)
        .await?;
    let answer = pc.create_answer(None).await?;
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(answer).await?;
    let _ = gathered.recv().await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| MediaError::Webrtc("no local description".into()))
}

async fn add_candidate(pc: &RTCPeerConnection, init: &str) -> Result<(), MediaError> {
    let c: RTCIceCandidateInit = serde_json::from_str(init).map_err(signal_err)?;
    pc.add_ice_candidate(c).await?;
    Ok(())
}

#[async_trait]
impl MediaSession for RoomSession {
    async fn set_muted(&self, muted: bool) {
        self.peer.set_muted(muted).await;
    }

    async fn set_hold(&self, on_hold: bool) {
        self.peer.set_hold(on_hold).await;
    }

    /// Keys go to the room as LiveKit's `SipDTMF` data packets, which the SIP service
    /// plays to the caller as RFC 4733 events (the SFU does not forward telephone-events
    /// inside an audio track).
    async fn send_dtmf(&self, keys: &str) -> Result<(), MediaError> {
        let codes = crate::dtmf::validate(keys)?;
        let Some(data) = &self.data else {
            return Err(MediaError::Webrtc("a listen-only session sends no keys".into()));
        };
        let _one_at_a_time = self.keys.lock().await;
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while data.ready_state() != RTCDataChannelState::Open {
            if tokio::time::Instant::now() > until {
                return Err(MediaError::Webrtc("the room's data channel did not open".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (code, key) in codes.into_iter().zip(keys.chars().filter(|c| !c.is_whitespace())) {
            let packet = proto::DataPacket {
                value: Some(proto::data_packet::Value::SipDtmf(proto::SipDtmf {
                    code: u32::from(code),
                    digit: key.to_string(),
                })),
                ..Default::default()
            };
            data.send(&bytes::Bytes::from(packet.encode_to_vec())).await?;
            // The SIP service plays each key for its own length; leave room between them.
            let gap = crate::dtmf::TONE_MS + crate::dtmf::GAP_MS;
            tokio::time::sleep(Duration::from_millis(u64::from(gap) * 2)).await;
        }
        Ok(())
    }

    fn levels(&self) -> Levels {
        self.peer.levels()
    }

    fn state(&self) -> MediaState {
        self.peer.state()
    }

    fn stats(&self) -> AudioStats {
        self.peer.stats()
    }

    fn subscribe(&self) -> broadcast::Receiver<MediaEvent> {
        self.peer.subscribe()
    }

    async fn close(&self) {
        let _ = self
            .signal
            .send(proto::signal_request::Message::Leave(proto::LeaveRequest {
                reason: proto::DisconnectReason::ClientInitiated as i32,
                ..Default::default()
            }));
        self.peer.close().await;
        // The writer sends the leave and closes the socket; the pinger stops now.
        self.stop_pinger();
    }
}
