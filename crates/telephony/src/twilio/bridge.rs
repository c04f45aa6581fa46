//! The gateway's end of a Twilio Media Stream: the caller's audio (μ-law, 8 kHz, in 20 ms
//! frames over the WebSocket `<Connect><Stream>` opened) bridged to the agent's desktop,
//! which joins with the same WebRTC/Opus `MediaJoin::Peer` flow as on the simulator.
//!
//! - The stream drives the clock: every 20 ms the bridge hands the caller's latest audio
//!   (upsampled to 48 kHz) to the agent's peer and sends the caller 20 ms of what the agent
//!   said (downsampled, μ-law), so a late desktop or a stalled socket delays nothing else.
//! - Until an agent is connected, and while the call is on hold, the caller hears hold
//!   music and the agent hears nothing: hold silences both ways in the bridge.
//! - Keys the agent presses travel in band (RFC 4733) to the bridge, which plays them to
//!   the caller as DTMF tones.
//! - A stream and a desktop can arrive in either order; each call has one [`Bridge`],
//!   made by whichever comes first and dropped when the stream ends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_core::{CallError, CallErrorCode};
use switchboard_media::device::{BridgeDevice, BridgeEnds};
use switchboard_media::narrowband::{Downsampler, FACTOR, Upsampler};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::pipeline::PipelineConfig;
use switchboard_media::session::{MediaEvent, MediaSession};
use switchboard_media::{FRAME_SAMPLES, MediaError};

use super::stream::{Inbound, StartInfo, media_frame};
use crate::{MediaStreamSocket, ProviderError};

/// Samples in 20 ms at 8 kHz.
const NARROW_FRAME: usize = FRAME_SAMPLES / FACTOR;
/// At most this much of the caller's audio waits for the agent's peer (200 ms): more
/// would only add delay.
const MAX_QUEUED: usize = 10 * FRAME_SAMPLES;
/// How long a new stream may take to say which call it carries.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The bridges of one provider, by Twilio call SID.
#[derive(Debug)]
pub(crate) struct Bridges {
    map: Mutex<HashMap<String, Arc<Bridge>>>,
    /// Hold music at 8 kHz, looped.
    hold: Arc<Vec<f32>>,
    loopback_only: bool,
}

/// One call's bridge.
#[derive(Debug, Default)]
pub(crate) struct Bridge {
    st: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// An agent is connected to the caller.
    connected: bool,
    held: bool,
    peer: Option<(PeerSession, BridgeEnds)>,
    /// DTMF tones (8 kHz) queued for the caller.
    tones: VecDeque<f32>,
}

fn media_error(e: MediaError) -> ProviderError {
    match e {
        MediaError::Webrtc(_) | MediaError::NoCodec => ProviderError::Invalid(format!("call audio: {e}")),
        _ => ProviderError::Call(CallError::new(CallErrorCode::ProviderError, format!("call audio: {e}"))),
    }
}

impl Bridges {
    pub(crate) fn new(loopback_only: bool) -> Self {
        let wide = switchboard_media::tone::hold_music(switchboard_media::SAMPLE_RATE as usize * 2);
        let mut hold = Vec::with_capacity(wide.len() / FACTOR);
        Downsampler::default().process(&wide, &mut hold);
        Self {
            map: Mutex::new(HashMap::new()),
            hold: Arc::new(hold),
            loopback_only,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Bridge>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The call's bridge, made if it has none yet.
    pub(crate) fn get(&self, twilio_call: &str) -> Arc<Bridge> {
        self.lock().entry(twilio_call.to_owned()).or_default().clone()
    }

    /// Connect or disconnect the agent (answer, transfer to another agent).
    pub(crate) async fn set_connected(&self, twilio_call: &str, connected: bool) {
        let bridge = self.get(twilio_call);
        let old = {
            let mut st = bridge.lock();
            st.connected = connected;
            if connected { None } else { st.peer.take() }
        };
        if let Some((peer, _)) = old {
            peer.close().await;
        }
    }

    pub(crate) fn set_held(&self, twilio_call: &str, held: bool) {
        let bridge = self.get(twilio_call);
        let mut st = bridge.lock();
        st.held = held;
        if let Some((peer, _)) = &st.peer {
            peer.controls().set_held(held);
        }
    }

    /// Play keys to the caller. Returns false (and plays nothing) when an agent's desktop
    /// is joined: its keys already arrive in band.
    pub(crate) fn play_keys_unless_joined(&self, twilio_call: &str, keys: &str) -> bool {
        let bridge = self.get(twilio_call);
        let mut st = bridge.lock();
        if st.peer.is_some() {
            return false;
        }
        for k in keys.chars() {
            push_tone(&mut st.tones, k);
        }
        true
    }

    /// The call is over: close its audio.
    pub(crate) async fn end(&self, twilio_call: &str) {
        let bridge = self.lock().remove(twilio_call);
        if let Some(b) = bridge {
            let peer = b.lock().peer.take();
            if let Some((peer, _)) = peer {
                peer.close().await;
            }
        }
    }

    /// Answer the agent's SDP offer: the first one makes the peer, later ones are ICE
    /// restarts of it.
    pub(crate) async fn offer(&self, twilio_call: &str, sdp: &str) -> Result<String, ProviderError> {
        let bridge = self.get(twilio_call);
        let existing = {
            let st = bridge.lock();
            if !st.connected {
                return Err(ProviderError::Invalid(
                    "call audio can only be joined on a connected call".into(),
                ));
            }
            st.peer.as_ref().map(|(p, _)| p.clone())
        };
        if let Some(peer) = existing {
            return peer.answer(sdp).await.map_err(media_error);
        }
        let (device, ends) = BridgeDevice::new(format!("twilio {twilio_call}"));
        // The far end is a phone line: no echo canceller on its side.
        let config = PeerConfig {
            loopback_only: self.loopback_only,
            pipeline: PipelineConfig {
                voice_processing: false,
                ..PipelineConfig::default()
            },
            ..PeerConfig::default()
        };
        let peer = PeerSession::new(Box::new(device), config).await.map_err(media_error)?;
        let answer = match peer.answer(sdp).await {
            Ok(a) => a,
            Err(e) => {
                peer.close().await;
                return Err(media_error(e));
            }
        };
        // The agent's keys arrive in band; the caller hears them as tones.
        let (mut events, weak) = (peer.subscribe(), Arc::downgrade(&bridge));
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(MediaEvent::Dtmf { key }) => match weak.upgrade() {
                        Some(b) => push_tone(&mut b.lock().tones, key),
                        None => return,
                    },
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        });
        let old = {
            let mut st = bridge.lock();
            peer.controls().set_held(st.held);
            st.peer.replace((peer, ends))
        };
        if let Some((old, _)) = old {
            old.close().await;
        }
        Ok(answer)
    }

    /// Carry one Media Stream until it stops. `started` learns which call it carries (its
    /// `start` frame) before any audio moves.
    pub(crate) async fn run(
        &self,
        mut socket: MediaStreamSocket,
        started: impl FnOnce(&StartInfo),
    ) -> Option<StartInfo> {
        let (stream_sid, start) = wait_for_start(&mut socket).await?;
        started(&start);
        let call = start.call_sid.clone();
        let bridge = self.get(&call);
        let (mut up, mut down) = (Upsampler::default(), Downsampler::default());
        let mut heard: VecDeque<f32> = VecDeque::with_capacity(MAX_QUEUED + FRAME_SAMPLES);
        let (mut wide, mut narrow) = (Vec::with_capacity(FRAME_SAMPLES), Vec::with_capacity(NARROW_FRAME));
        let mut said = vec![0.0f32; FRAME_SAMPLES];
        // Buffers reused every frame: this loop runs 50 times a second per call.
        let (mut linear, mut tones, mut pcm) = (Vec::new(), Vec::new(), Vec::with_capacity(NARROW_FRAME));
        let mut hold_at = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                frame = socket.incoming.recv() => {
                    let Some(text) = frame else { break };
                    match Inbound::parse(&text) {
                        Ok(Inbound::Media { media, .. }) => {
                            // Only the caller's track; an outbound echo would loop the agent.
                            if media.track.as_deref().is_some_and(|t| t != "inbound") {
                                continue;
                            }
                            let Ok(samples) = media.samples() else { continue };
                            linear.clear();
                            linear.extend(samples.iter().map(|&s| f32::from(s) / 32_768.0));
                            wide.clear();
                            up.process(&linear, &mut wide);
                            heard.extend(wide.iter().copied());
                            while heard.len() > MAX_QUEUED {
                                heard.pop_front();
                            }
                        }
                        Ok(Inbound::Stop) => break,
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, call = %call, "media stream frame ignored"),
                    }
                }
                _ = tick.tick() => {
                    let mut caller: [f32; FRAME_SAMPLES] = [0.0; FRAME_SAMPLES];
                    let n = heard.len().min(FRAME_SAMPLES);
                    for (dst, src) in caller.iter_mut().zip(heard.drain(..n)) {
                        *dst = src;
                    }
                    let (live, ends) = {
                        let mut st = bridge.lock();
                        let n = st.tones.len().min(NARROW_FRAME);
                        tones.clear();
                        tones.extend(st.tones.drain(..n));
                        (st.connected && !st.held, st.peer.as_ref().map(|(_, e)| e.clone()))
                    };
                    if !live {
                        caller.iter_mut().for_each(|s| *s = 0.0);
                    }
                    match &ends {
                        Some(e) => { e.exchange(&caller, &mut said); }
                        None => said.iter_mut().for_each(|s| *s = 0.0),
                    }
                    narrow.clear();
                    down.process(&said, &mut narrow);
                    if !live {
                        narrow.clear();
                        for _ in 0..NARROW_FRAME {
                            narrow.push(self.hold[hold_at]);
                            hold_at = (hold_at + 1) % self.hold.len();
                        }
                    }
                    for (s, t) in narrow.iter_mut().zip(&tones) {
                        *s += t;
                    }
                    pcm.clear();
                    pcm.extend(narrow.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32_767.0) as i16));
                    if socket.outgoing.send(media_frame(&stream_sid, &pcm)).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The stream ended: the call hung up or moved on (a transfer to a number). Either
        // way the agent's audio for it is over.
        self.end(&call).await;
        Some(start)
    }
}

impl Bridge {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn wait_for_start(socket: &mut MediaStreamSocket) -> Option<(String, StartInfo)> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let text = match tokio::time::timeout_at(deadline, socket.incoming.recv()).await {
            Ok(Some(t)) => t,
            Ok(None) => return None,
            Err(_) => {
                tracing::warn!("a media stream sent no start frame within 10 s; closed");
                return None;
            }
        };
        match Inbound::parse(&text) {
            Ok(Inbound::Start { stream_sid, start }) => return Some((stream_sid, start)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "media stream refused before it started");
                return None;
            }
        }
    }
}

/// Row and column frequencies of a key (ITU-T Q.23).
fn dtmf_pair(key: char) -> Option<(f32, f32)> {
    let row = match key {
        '1' | '2' | '3' | 'A' => 697.0,
        '4' | '5' | '6' | 'B' => 770.0,
        '7' | '8' | '9' | 'C' => 852.0,
        '*' | '0' | '#' | 'D' => 941.0,
        _ => return None,
    };
    let col = match key {
        '1' | '4' | '7' | '*' => 1209.0,
        '2' | '5' | '8' | '0' => 1336.0,
        '3' | '6' | '9' | '#' => 1477.0,
        _ => 1633.0,
    };
    Some((row, col))
}

/// Queue one key's tone and the gap after it, at 8 kHz.
fn push_tone(tones: &mut VecDeque<f32>, key: char) {
    let Some((row, col)) = dtmf_pair(key.to_ascii_uppercase()) else {
        return;
    };
    let on = (8 * switchboard_media::dtmf::TONE_MS) as usize;
    let off = (8 * switchboard_media::dtmf::GAP_MS) as usize;
    let w = std::f32::consts::TAU / 8_000.0;
    tones.extend((0..on).map(|i| 0.25 * ((w * row * i as f32).sin() + (w * col * i as f32).sin())));
    tones.extend(std::iter::repeat_n(0.0, off));
}

/// The key a block of 8 kHz audio carries, by Goertzel power at the eight DTMF
/// frequencies (for tests and for reading what a carrier plays).
pub fn detect_key(block: &[f32]) -> Option<char> {
    let power = |f: f32| {
        let k = 2.0 * (std::f32::consts::TAU * f / 8_000.0).cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in block {
            let s = x + k * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - k * s1 * s2
    };
    let rows = [697.0, 770.0, 852.0, 941.0];
    let cols = [1209.0, 1336.0, 1477.0, 1633.0];
    let best = |fs: &[f32]| {
        fs.iter()
            .map(|&f| (f, power(f)))
            .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    };
    let (row, rp) = best(&rows);
    let (col, cp) = best(&cols);
    let energy: f32 = block.iter().map(|x| x * x).sum::<f32>() * block.len() as f32 / 2.0;
    // Both tones must carry most of the block's energy.
    if energy <= 0.0 || rp + cp < 0.5 * energy {
        return None;
    }
    "123A456B789C*0#D".chars().find(|&k| dtmf_pair(k) == Some((row, col)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_heard_as_itself() {
        for key in "0123456789*#ABCD".chars() {
            let mut tones = VecDeque::new();
            push_tone(&mut tones, key);
            let block: Vec<f32> = tones.iter().copied().take(640).collect();
            assert_eq!(detect_key(&block), Some(key));
        }
        let silence = vec![0.0f32; 640];
        assert_eq!(detect_key(&silence), None);
        let hum: Vec<f32> = (0..640).map(|i| (i as f32 * 0.3).sin()).collect();
        assert_eq!(detect_key(&hum), None);
    }
}
