//! Audio bridged from another transport instead of a sound card: a carrier's media stream
//! (Twilio Media Streams, later a PBX's RTP) stands where the microphone and speaker
//! would be. The transport drives the clock: every 20 ms it calls [`BridgeEnds::exchange`]
//! with what the far end said and takes what the engine has to send, so a stalled stream
//! stalls nothing else and a device that has not started yet simply drops audio.

use std::sync::{Arc, Mutex};

use super::{AudioDevice, CaptureSide, EngineIo, PlaybackSide, XrunCounters, capture_ring, playback_ring};
use crate::MediaError;

type Slot = Arc<Mutex<Option<(CaptureSide, PlaybackSide)>>>;

/// The device a [`crate::peer::PeerSession`] owns; see the module docs.
#[derive(Debug)]
pub struct BridgeDevice {
    slot: Slot,
    name: String,
}

/// The transport's handle on a [`BridgeDevice`]'s rings.
#[derive(Debug, Clone)]
pub struct BridgeEnds {
    slot: Slot,
}

impl BridgeDevice {
    /// A device named `name` (for logs) and the handle its transport drives it with.
    pub fn new(name: impl Into<String>) -> (Self, BridgeEnds) {
        let slot: Slot = Arc::new(Mutex::new(None));
        (
            Self {
                slot: slot.clone(),
                name: name.into(),
            },
            BridgeEnds { slot },
        )
    }
}

impl AudioDevice for BridgeDevice {
    fn start(&mut self) -> Result<EngineIo, MediaError> {
        let counters = Arc::new(XrunCounters::default());
        let (capture, capture_rx) = capture_ring(&counters);
        let (playback, playback_tx) = playback_ring(&counters);
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((capture, playback));
        Ok(EngineIo {
            capture: capture_rx,
            playback: playback_tx,
            counters,
        })
    }

    fn stop(&mut self) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn describe(&self) -> String {
        format!("bridge ({})", self.name)
    }
}

impl BridgeEnds {
    /// Hand the engine what the far end said (48 kHz) and fill `to_send` with what the
    /// engine has for the far end (silence where it has nothing). Returns whether the
    /// device is running; when it is not, `to_send` is silence and `heard` is dropped.
    /// Pulls are not stamped: the carrier's packets pace them, and a network's timing does
    /// not predict the next one, so the engine's tick keeps the ring filled.
    pub fn exchange(&self, heard: &[f32], to_send: &mut [f32]) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        let Some((capture, playback)) = slot.as_mut() else {
            to_send.iter_mut().for_each(|s| *s = 0.0);
            return false;
        };
        capture.push(heard.iter().copied());
        to_send.iter_mut().for_each(|s| *s = playback.pop());
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn samples_cross_in_both_directions_once_started() {
        let (mut dev, ends) = BridgeDevice::new("test");
        let mut out = [1.0f32; 4];
        assert!(!ends.exchange(&[0.5; 4], &mut out), "not started yet");
        assert_eq!(out, [0.0; 4]);
        let mut io = dev.start().unwrap();
        io.playback.push(0.25).unwrap();
        assert!(ends.exchange(&[0.5, 0.75], &mut out));
        assert_eq!(out, [0.25, 0.0, 0.0, 0.0], "what the engine had, then silence");
        assert_eq!(io.capture.pop().unwrap(), 0.5);
        assert_eq!(io.capture.pop().unwrap(), 0.75);
        assert!(io.capture.pop().is_err());
        dev.stop();
        assert!(!ends.exchange(&[0.5], &mut out));
    }
}
