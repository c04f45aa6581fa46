//! The boundary the desktop drives for a call's audio, whatever carries it: the
//! simulator's direct WebRTC peer today ([`crate::peer::PeerSession`]), a LiveKit room later.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::MediaError;
use crate::device::DeviceEvent;
use crate::level::Levels;

/// Transport state as the agent sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Negotiating or establishing ICE/DTLS.
    Connecting,
    /// Audio flows.
    Connected,
    /// The network dropped; the session is trying to recover (ICE restart).
    Reconnecting,
    /// Closed (call ended, or recovery gave up).
    Closed,
}

/// Something that happened to the call's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MediaEvent {
    /// The transport changed state.
    State { state: MediaState },
    /// The offering side must renegotiate (ICE restart) through signalling.
    RestartNeeded,
    /// A DTMF key arrived from the far end (RFC 4733).
    Dtmf { key: char },
    /// A device changed or failed.
    Device { event: DeviceEvent },
}

/// A call's received audio in figures: what explains a caller who broke up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioStats {
    /// The jitter buffer's counters (frames received, played, concealed, ...).
    pub jitter: crate::jitter::JitterStats,
    /// Captured samples dropped because the engine did not keep up.
    pub capture_overruns: u64,
    /// Samples the speaker played as silence because the engine had nothing ready.
    pub playback_underruns: u64,
}

/// One call's audio; see the module docs.
#[async_trait]
pub trait MediaSession: Send + Sync {
    /// Mute or unmute the microphone.
    async fn set_muted(&self, muted: bool);
    /// On hold nothing from the microphone goes out; resume sends it again.
    async fn set_hold(&self, on_hold: bool);
    /// Send keys as RFC 4733 telephone-events; a bad key sends nothing.
    async fn send_dtmf(&self, keys: &str) -> Result<(), MediaError>;
    /// Current input/output levels.
    fn levels(&self) -> Levels;
    /// Current transport state.
    fn state(&self) -> MediaState;
    /// What the call's received audio went through so far: the jitter buffer's counters
    /// and the device's drop-outs, logged when the call's audio ends.
    fn stats(&self) -> AudioStats;
    /// Subscribe to events.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<MediaEvent>;
    /// Hang up the media: close the transport and release the device.
    async fn close(&self);
}
