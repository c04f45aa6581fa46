//! The simulator's calls as real audio: each connected call is a small mixer. The caller
//! is simulated here (it "speaks" a generated tone phrase and records what it hears to
//! `<recordings>/<call_sid>.wav`); everyone else on the call joins from a desktop as a
//! WebRTC peer of the gateway: the agent, supervisors monitoring it, and the agent an
//! attended transfer consults (an outside number consulted is simulated here too). Every
//! 20 ms the mixer gives each party the sum of what the others said, by the routing rules
//! of [`super::mix`].
//!
//! What a desktop said reaches the others one mixer frame (20 ms) later: the mix uses each
//! peer's previous frame, so no party waits for another.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_core::{CallErrorCode, CallSid, CallStatus};
use switchboard_media::device::{BridgeDevice, BridgeEnds, WavRecorder};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::pipeline::PipelineConfig;
use switchboard_media::session::{MediaEvent, MediaSession};
use switchboard_media::tone::{caller_phrase, hold_music, sine};
use switchboard_media::{FRAME_SAMPLES, MediaError, SAMPLE_RATE};

use super::mix::{Party, Stage, hears};
use crate::ProviderError;

/// `media` in the simulator's config: give callers a real audio peer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimMediaConfig {
    /// Where each caller's recording (what the caller heard) is written; none: not kept.
    #[serde(default)]
    pub recordings_dir: Option<String>,
    /// Offer only loopback candidates (tests, a gateway and desktop on one machine).
    #[serde(default)]
    pub loopback_only: bool,
    /// The caller says a steady tone of this frequency (Hz) instead of the tone phrase:
    /// tests that tell the parties of a call apart by pitch.
    #[serde(default)]
    pub caller_tone_hz: Option<f32>,
}

/// The frequency an outside number consulted during an attended transfer "speaks" at:
/// apart from the caller's phrase (330/440/550 Hz) and the hold music (660 + 880 Hz).
pub const OUTSIDE_PARTY_HZ: f32 = 1_250.0;

/// A key the caller heard (RFC 4733), for the simulator to report.
pub(crate) type HeardKeys = tokio::sync::mpsc::UnboundedSender<(String, char)>;

/// The mixers of the connected calls, by simulator call key.
#[derive(Debug)]
pub(crate) struct CallerPeers {
    cfg: SimMediaConfig,
    heard: HeardKeys,
    calls: Mutex<HashMap<String, Arc<CallMix>>>,
    voice: Arc<Vec<f32>>,
    hold: Arc<Vec<f32>>,
    outside: Arc<Vec<f32>>,
}

/// One call's mixer.
#[derive(Debug)]
struct CallMix {
    state: Mutex<MixState>,
}

/// A desktop on the call.
#[derive(Debug)]
struct Leg {
    login: String,
    party: Party,
    peer: PeerSession,
    ends: BridgeEnds,
    /// What it said in the last frame.
    said: Vec<f32>,
}

#[derive(Debug)]
struct MixState {
    stage: Stage,
    legs: Vec<Leg>,
    /// A consulted outside number answered and is on the line.
    outside: bool,
    caller_at: usize,
    hold_at: usize,
    outside_at: usize,
    recorder: Option<WavRecorder>,
    closed: bool,
}

fn media_error(e: MediaError) -> ProviderError {
    match e {
        // The offer itself was unusable: the desktop's fault, not the network's.
        MediaError::Webrtc(_) | MediaError::NoCodec => ProviderError::Invalid(format!("call audio: {e}")),
        _ => ProviderError::Call(switchboard_core::CallError::new(
            CallErrorCode::ProviderError,
            format!("call audio: {e}"),
        )),
    }
}

/// Frame `out` from a looped source, advancing `at`.
fn looped(source: &[f32], at: &mut usize, out: &mut [f32]) {
    for s in out.iter_mut() {
        *s = source[*at];
        *at = (*at + 1) % source.len();
    }
}

impl CallerPeers {
    pub(crate) fn new(cfg: SimMediaConfig, heard: HeardKeys) -> Self {
        let outside: Vec<f32> = sine(OUTSIDE_PARTY_HZ, 0.25, SAMPLE_RATE as usize);
        let voice = match cfg.caller_tone_hz {
            Some(hz) => sine(hz, 0.3, SAMPLE_RATE as usize),
            None => caller_phrase(12.0),
        };
        Self {
            cfg,
            heard,
            calls: Mutex::new(HashMap::new()),
            voice: Arc::new(voice),
            hold: Arc::new(hold_music(SAMPLE_RATE as usize * 2)),
            outside: Arc::new(outside),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CallMix>>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mix(&self, key: &str) -> Option<Arc<CallMix>> {
        self.lock().get(key).cloned()
    }

    /// The call's mixer, started (with its recording) on first use.
    fn mix_for(&self, key: &str, call_sid: &CallSid, held: bool) -> Result<Arc<CallMix>, ProviderError> {
        if let Some(m) = self.mix(key) {
            return Ok(m);
        }
        let recorder = match &self.cfg.recordings_dir {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| ProviderError::Config(format!("recordings dir {}: {e}", dir.display())))?;
                Some(WavRecorder::create(&dir.join(format!("{call_sid}.wav"))).map_err(media_error)?)
            }
            None => None,
        };
        let mix = Arc::new(CallMix {
            state: Mutex::new(MixState {
                stage: Stage {
                    held,
                    ..Stage::default()
                },
                legs: Vec::new(),
                outside: false,
                caller_at: 0,
                hold_at: 0,
                outside_at: 0,
                recorder,
                closed: false,
            }),
        });
        // Two offers racing: the first mixer wins, the other is dropped unused.
        let (mix, fresh) = match self.lock().entry(key.to_owned()) {
            std::collections::hash_map::Entry::Occupied(e) => (e.get().clone(), false),
            std::collections::hash_map::Entry::Vacant(v) => (v.insert(mix).clone(), true),
        };
        if fresh {
            tokio::spawn(run_mixer(
                Arc::downgrade(&mix),
                self.voice.clone(),
                self.hold.clone(),
                self.outside.clone(),
            ));
        }
        Ok(mix)
    }

    /// Answer a desktop's offer for the call's audio as `party`: the first offer of a login
    /// adds its leg to the call's mixer, later ones are ICE restarts of that leg.
    pub(crate) async fn offer(
        &self,
        key: &str,
        call_sid: &CallSid,
        status: Option<CallStatus>,
        login: &str,
        party: Party,
        sdp: &str,
    ) -> Result<String, ProviderError> {
        if !matches!(status, Some(CallStatus::Answered | CallStatus::OnHold)) {
            return Err(ProviderError::Invalid(
                "call audio can only be joined on a connected call".to_string(),
            ));
        }
        let mix = self.mix_for(key, call_sid, status == Some(CallStatus::OnHold))?;
        let existing = mix
            .lock()
            .legs
            .iter()
            .find(|l| l.login == login)
            .map(|l| l.peer.clone());
        if let Some(peer) = existing {
            return peer.answer(sdp).await.map_err(media_error);
        }
        let (device, ends) = BridgeDevice::new(format!("simulated call {call_sid} ({login})"));
        // The far end is a phone line and a mixer, not a laptop: no echo canceller here.
        let config = PeerConfig {
            loopback_only: self.cfg.loopback_only,
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
        // Keys the agent presses arrive in band; the caller hears them and the simulator
        // reports them.
        if party == Party::Agent {
            let (mut events, heard, k) = (peer.subscribe(), self.heard.clone(), key.to_owned());
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(MediaEvent::Dtmf { key }) => {
                            let _ = heard.send((k.clone(), key));
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    }
                }
            });
        }
        let replaced = {
            let mut st = mix.lock();
            if st.closed {
                None
            } else {
                // One agent holds the call: a new agent leg replaces an old one (the same
                // agent reconnecting from scratch, or the next agent after a transfer).
                let old: Vec<Leg> = extract(&mut st.legs, |l| {
                    l.login == login || (party == Party::Agent && l.party == Party::Agent)
                });
                st.legs.push(Leg {
                    login: login.to_owned(),
                    party,
                    peer: peer.clone(),
                    ends,
                    said: vec![0.0; FRAME_SAMPLES],
                });
                Some(old)
            }
        };
        match replaced {
            Some(old) => close_legs(old),
            // The call ended while the offer was answered.
            None => {
                peer.close().await;
                return Err(ProviderError::Invalid("the call is over".into()));
            }
        }
        Ok(answer)
    }

    /// Follow the call's status: the hold music on hold, the caller again on resume, the
    /// agent's leg gone on a transfer, everything closed when the call is over.
    pub(crate) async fn status_changed(&self, key: &str, status: CallStatus) {
        if status.is_terminal() {
            let mix = self.lock().remove(key);
            if let Some(mix) = mix {
                mix.close();
            }
            return;
        }
        let Some(mix) = self.mix(key) else { return };
        let mut st = mix.lock();
        match status {
            CallStatus::Transferred => {
                let gone = extract(&mut st.legs, |l| l.party == Party::Agent);
                close_legs(gone);
            }
            CallStatus::OnHold => st.stage.held = true,
            CallStatus::Answered => st.stage.held = false,
            _ => {}
        }
    }

    /// Change the stage of a call's audio (the attended transfer's steps).
    pub(crate) fn set_stage(&self, key: &str, change: impl FnOnce(&mut Stage)) {
        if let Some(mix) = self.mix(key) {
            change(&mut mix.lock().stage);
        }
    }

    /// A supervisor switches mode (the same leg, so no gap), or leaves (`None`).
    pub(crate) fn set_monitor(&self, key: &str, login: &str, mode: Option<switchboard_core::MonitorMode>) {
        let Some(mix) = self.mix(key) else { return };
        let mut st = mix.lock();
        match mode {
            Some(mode) => {
                for leg in st.legs.iter_mut().filter(|l| l.login == login) {
                    leg.party = Party::Monitor(mode);
                }
            }
            None => {
                let gone = extract(&mut st.legs, |l| l.login == login);
                close_legs(gone);
            }
        }
    }

    /// A consulted outside number picks up (`true`) or leaves.
    pub(crate) fn set_outside(&self, key: &str, on_line: bool) {
        if let Some(mix) = self.mix(key) {
            mix.lock().outside = on_line;
        }
    }

    /// The consulted party leaves: their leg closes.
    pub(crate) fn drop_target(&self, key: &str) {
        let Some(mix) = self.mix(key) else { return };
        let mut st = mix.lock();
        st.outside = false;
        let gone = extract(&mut st.legs, |l| l.party == Party::Target);
        close_legs(gone);
    }

    /// An attended transfer completes to an agent: the agent leaves, the consulted agent
    /// holds the call now.
    pub(crate) fn promote_target(&self, key: &str) {
        let Some(mix) = self.mix(key) else { return };
        let mut st = mix.lock();
        let gone = extract(&mut st.legs, |l| l.party == Party::Agent);
        for leg in st.legs.iter_mut().filter(|l| l.party == Party::Target) {
            leg.party = Party::Agent;
        }
        close_legs(gone);
    }
}

/// Remove the legs matching `f`.
fn extract(legs: &mut Vec<Leg>, f: impl Fn(&Leg) -> bool) -> Vec<Leg> {
    let (gone, kept): (Vec<Leg>, Vec<Leg>) = legs.drain(..).partition(|l| f(l));
    *legs = kept;
    gone
}

/// Hang up legs' peers (in the background: closing waits on the network).
fn close_legs(legs: Vec<Leg>) {
    if legs.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for leg in legs {
            leg.peer.close().await;
        }
    });
}

impl CallMix {
    fn lock(&self) -> std::sync::MutexGuard<'_, MixState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The call is over: stop mixing, hang up every peer, finish the recording.
    fn close(&self) {
        let (legs, recorder) = {
            let mut st = self.lock();
            st.closed = true;
            (std::mem::take(&mut st.legs), st.recorder.take())
        };
        close_legs(legs);
        if let Some(r) = recorder {
            if let Err(e) = r.finish() {
                tracing::warn!(error = %e, "caller recording");
            }
        }
    }
}

/// Every 20 ms, one frame for everyone on the call; ends when the call closes.
async fn run_mixer(mix: Weak<CallMix>, voice: Arc<Vec<f32>>, hold: Arc<Vec<f32>>, outside: Arc<Vec<f32>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(u64::from(switchboard_media::FRAME_MS)));
    // Late ticks are made up at once, so the caller's audio keeps real time on average.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut caller = vec![0.0f32; FRAME_SAMPLES];
    let mut other = vec![0.0f32; FRAME_SAMPLES];
    let mut heard: Vec<Vec<f32>> = Vec::new();
    loop {
        tick.tick().await;
        let Some(mix) = mix.upgrade() else { return };
        let mut st = mix.lock();
        if st.closed {
            return;
        }
        let st = &mut *st;
        let stage = st.stage;
        // What the simulated parties say this frame.
        if stage.held {
            caller.iter_mut().for_each(|s| *s = 0.0);
        } else {
            looped(&voice, &mut st.caller_at, &mut caller);
        }
        if st.outside {
            looped(&outside, &mut st.outside_at, &mut other);
        }
        if heard.is_empty() {
            heard.push(vec![0.0; FRAME_SAMPLES]);
        }
        if stage.held {
            looped(&hold, &mut st.hold_at, &mut heard[0]);
        }
        let local: Vec<(Party, &[f32])> = std::iter::once((Party::Caller, caller.as_slice()))
            .chain(st.outside.then_some((Party::Target, other.as_slice())))
            .collect();
        // What each listener hears: the sum of every other party it can hear.
        let mix_for = |listener: Party, me: Option<usize>, out: &mut Vec<f32>| {
            out.clear();
            out.resize(FRAME_SAMPLES, 0.0);
            let remote = st
                .legs
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != me)
                .map(|(_, l)| (l.party, l.said.as_slice()));
            for (party, said) in local.iter().copied().chain(remote) {
                if hears(stage, listener, party) {
                    out.iter_mut().zip(said).for_each(|(o, s)| *o += s);
                }
            }
            out.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
        };
        heard.resize_with(st.legs.len() + 1, Vec::new);
        for (i, leg) in st.legs.iter().enumerate() {
            mix_for(leg.party, Some(i), &mut heard[i + 1]);
        }
        // On hold the caller hears the music (framed above) instead of anyone.
        if !stage.held {
            mix_for(Party::Caller, None, &mut heard[0]);
        }
        if let Some(r) = st.recorder.as_mut() {
            if let Err(e) = r.write(&heard[0]) {
                tracing::warn!(error = %e, "caller recording stopped");
                st.recorder = None;
            }
        }
        for (i, leg) in st.legs.iter_mut().enumerate() {
            leg.ends.exchange(&heard[i + 1], &mut leg.said);
        }
    }
}
