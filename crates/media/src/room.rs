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
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

use crate::MediaError;
use crate::device::AudioDevice;
use crate::level::Levels;
use crate::peer::{PeerConfig, PeerSession};
use crate::session::{MediaEvent, MediaSession, MediaState};

/// The signalling protocol version we speak (what the server may send us).
const PROTOCOL: u32 = 9;
/// Our microphone track's id: the `cid` of the `AddTrackRequest`, and the track id in
/// the publisher's SDP (see `peer::AudioTrack`).
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
    /// Our participant identity in the room.
    pub identity: String,
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
        let (ws, _) = tokio_tungstenite::connect_async(rtc_url(url, token))
            .await
            .map_err(signal_err)?;
        let (mut sink, mut stream) = ws.split();
        let join = loop {
            let frame = stream
                .next()
                .await
                .ok_or_else(|| signal_err("closed before joining"))?
                .map_err(signal_err)?;
            if let Message::Binary(b) = frame {
                match proto::SignalResponse::decode(b.as_ref()).map_err(signal_err)?.message {
                    Some(proto::signal_response::Message::Join(j)) => break j,
                    Some(proto::signal_response::Message::Leave(l)) => {
                        return Err(signal_err(format!("refused (reason {})", l.reason)));
                    }
                    _ => {}
                }
            }
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
        let peer = PeerSession::new(device, config).await?;
        let subscriber = peer.receiving_connection(!publishes).await?;

        // Everything we send goes through one task, in order.
        let (tx, mut rx) = mpsc::unbounded_channel::<proto::signal_request::Message>();
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let leaving = matches!(m, proto::signal_request::Message::Leave(_));
                if sink.send(Message::binary(request(m))).await.is_err() {
                    return;
                }
                if leaving {
                    let _ = sink.close().await;
                    return;
                }
            }
        });

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

        let reader = tokio::spawn(read_loop(stream, peer.clone(), subscriber.clone(), tx.clone()));
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
            tasks: vec![writer, reader, pinger],
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

    /// Does this session publish (false: listen-only, its token may not publish)?
    pub fn publishes(&self) -> bool {
        self.data.is_some()
    }

    /// The audio session underneath (controls, stats).
    pub fn peer(&self) -> &PeerSession {
        &self.peer
    }
}

/// What the server tells us, until it closes or says leave.
async fn read_loop<S>(
    mut stream: S,
    peer: PeerSession,
    subscriber: Arc<RTCPeerConnection>,
    tx: mpsc::UnboundedSender<proto::signal_request::Message>,
) where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    use proto::signal_response::Message as R;
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Binary(b) = frame else { continue };
        let Ok(resp) = proto::SignalResponse::decode(b.as_ref()) else {
            tracing::warn!("undecodable LiveKit signal message");
            continue;
        };
        let result = match resp.message {
            Some(R::Answer(d)) => peer.accept_answer(&d.sdp).await,
            Some(R::Offer(d)) => answer_subscriber(&subscriber, &d.sdp).await.map(|sdp| {
                let _ = tx.send(proto::signal_request::Message::Answer(proto::SessionDescription {
                    r#type: "answer".to_owned(),
                    sdp,
                    id: d.id,
                    ..Default::default()
                }));
            }),
            Some(R::Trickle(t)) => {
                let pc = if t.target == proto::SignalTarget::Subscriber as i32 {
                    subscriber.clone()
                } else {
                    peer.connection()
                };
                add_candidate(&pc, &t.candidate_init).await
            }
            Some(R::Leave(l)) => {
                tracing::info!(reason = l.reason, "LiveKit asked us to leave the room");
                peer.close().await;
                return;
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "LiveKit signal message not applied");
        }
    }
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
        // The writer sends the leave and closes the socket; the others stop now.
        for t in &self.tasks[1..] {
            t.abort();
        }
    }
}
