//! The simulator's callers as real WebRTC peers: when an agent answers, the desktop offers
//! SDP through the gateway and the caller's peer answers. The caller "speaks" a generated
//! tone phrase, records what it hears to `<recordings>/<call_sid>.wav`, hears hold music
//! (and stops speaking) while held, and hangs up its peer when the call ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use switchboard_core::{CallErrorCode, CallSid, CallStatus};
use switchboard_media::device::{WavDevice, WavSource};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::pipeline::PipelineConfig;
use switchboard_media::session::{MediaEvent, MediaSession};
use switchboard_media::tone::{caller_phrase, hold_music};
use switchboard_media::{MediaError, SAMPLE_RATE};

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
}

/// A key the caller's peer heard (RFC 4733), for the simulator to report.
pub(crate) type HeardKeys = tokio::sync::mpsc::UnboundedSender<(String, char)>;

/// The live caller peers, by simulator call key.
#[derive(Debug)]
pub(crate) struct CallerPeers {
    cfg: SimMediaConfig,
    heard: HeardKeys,
    peers: Mutex<HashMap<String, PeerSession>>,
    voice: Arc<Vec<f32>>,
    hold: Arc<Vec<f32>>,
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

impl CallerPeers {
    pub(crate) fn new(cfg: SimMediaConfig, heard: HeardKeys) -> Self {
        Self {
            cfg,
            heard,
            peers: Mutex::new(HashMap::new()),
            voice: Arc::new(caller_phrase(12.0)),
            hold: Arc::new(hold_music(SAMPLE_RATE as usize * 2)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PeerSession>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer the desktop's offer: the first one creates the caller's peer, later ones are
    /// ICE restarts of the same peer.
    pub(crate) async fn offer(
        &self,
        key: &str,
        call_sid: &CallSid,
        status: Option<CallStatus>,
        sdp: &str,
    ) -> Result<String, ProviderError> {
        if !matches!(status, Some(CallStatus::Answered | CallStatus::OnHold)) {
            return Err(ProviderError::Invalid(
                "call audio can only be joined on a connected call".to_string(),
            ));
        }
        let existing = self.lock().get(key).cloned();
        if let Some(peer) = existing {
            return peer.answer(sdp).await.map_err(media_error);
        }
        let mut device = WavDevice::new(WavSource::Samples(self.voice.clone()), true);
        if let Some(dir) = &self.cfg.recordings_dir {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| ProviderError::Config(format!("recordings dir {}: {e}", dir.display())))?;
            device = device.recording_to(&dir.join(format!("{call_sid}.wav")));
        }
        // The caller is a phone line, not a laptop: no echo canceller on its side.
        let config = PeerConfig {
            loopback_only: self.cfg.loopback_only,
            pipeline: PipelineConfig {
                voice_processing: false,
                ..PipelineConfig::default()
            },
            ..PeerConfig::default()
        };
        let peer = PeerSession::new(Box::new(device), config).await.map_err(media_error)?;
        if status == Some(CallStatus::OnHold) {
            self.hold_peer(&peer, true);
        }
        let answer = match peer.answer(sdp).await {
            Ok(a) => a,
            Err(e) => {
                peer.close().await;
                return Err(media_error(e));
            }
        };
        // Keys the agent presses arrive in band; the simulator reports them.
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
        if let Some(old) = self.lock().insert(key.to_owned(), peer) {
            tokio::spawn(async move { old.close().await });
        }
        Ok(answer)
    }

    fn hold_peer(&self, peer: &PeerSession, on_hold: bool) {
        let controls = peer.controls();
        controls.set_held(on_hold);
        controls.replace_playout(on_hold.then(|| self.hold.clone()));
    }

    /// Follow the call's status: hold music on hold, the caller again on resume, hang up
    /// the peer when the call is over.
    pub(crate) async fn status_changed(&self, key: &str, status: CallStatus) {
        if status.is_terminal() || status == CallStatus::Transferred {
            let peer = self.lock().remove(key);
            if let Some(peer) = peer {
                peer.close().await;
            }
            return;
        }
        let peer = self.lock().get(key).cloned();
        if let Some(peer) = peer {
            self.hold_peer(&peer, status == CallStatus::OnHold);
        }
    }
}
