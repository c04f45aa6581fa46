//! switchboard-media: the call audio engine of the Switchboard desktop, and of the
//! simulator's caller peer.
//!
//! Audio moves as 48 kHz mono `f32` samples in 20 ms frames ([`FRAME_SAMPLES`]), except
//! what is sent, which leaves voice processing at 16 kHz ([`SEND_RATE`]). Where to start
//! reading:
//!
//! - [`device`]: where samples come from and go to. [`device::AudioDevice`] is implemented by
//!   the system sound card through cpal ([`device::SystemAudio`]) and by WAV files
//!   ([`device::WavDevice`]). Devices talk to the engine only through lock-free ring buffers.
//! - [`pipeline`]: one call's audio path, without any network: capture frames go through
//!   echo cancellation and noise suppression ([`processing`]), our gain ([`gain`]), mute,
//!   level metering ([`level`]) and Opus ([`codec`]); received packets go through the adaptive
//!   [`jitter`] buffer (with loss concealment, from the next packet's FEC when it has
//!   some), Opus and the speaker. The FEC we send follows the loss the far end reports
//!   ([`loss`]).
//! - [`session`]: the [`session::MediaSession`] boundary the desktop drives (mute, hold,
//!   DTMF, levels, close), and [`peer::PeerSession`], its WebRTC implementation (webrtc-rs,
//!   ICE + DTLS-SRTP, ICE restart after a network drop).
//! - [`threads`]: where a call's tasks run: a media thread of the process's own, one
//!   single-thread runtime per core, calls spread over them.
//! - [`dtmf`]: RFC 4733 telephone-events, sent and received beside the Opus stream.
//! - [`narrowband`] and [`device::BridgeDevice`]: a carrier's 8 kHz stream in place of a
//!   sound card, for the gateway's media bridges.

pub mod codec;
pub mod device;
pub mod dtmf;
pub mod gain;
pub mod jitter;
pub mod level;
pub mod loss;
pub mod narrowband;
pub mod peer;
pub mod pipeline;
pub mod processing;
pub mod resample;
pub mod room;
pub mod session;
pub mod speaker;
pub mod threads;
pub mod tone;
mod track;

/// The devices' rate, and everything on the way in: decoding, mixing and playout.
pub const SAMPLE_RATE: u32 = 48_000;
/// The rate of what is sent, from voice processing's output to the encoder: a call
/// carries wideband audio (up to 8 kHz) and no more, so the microphone is processed and
/// encoded at 16 kHz (see [`processing`] and [`resample`]).
pub const SEND_RATE: u32 = 16_000;
/// Duration of one frame, the unit of encoding, packetisation and playout.
pub const FRAME_MS: u32 = 20;
/// Samples in one 20 ms mono frame at [`SAMPLE_RATE`].
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;
/// Samples in one 20 ms mono frame at [`SEND_RATE`].
pub const SEND_FRAME: usize = (SEND_RATE / 1000 * FRAME_MS) as usize;

/// What can go wrong in the media engine, as the desktop and the simulator see it.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No audio device with that name, or none at all.
    #[error("audio device not found: {0}")]
    DeviceNotFound(String),
    /// The device exists but refused to open or stream.
    #[error("audio device {name}: {message}")]
    Device { name: String, message: String },
    /// A WAV file could not be read or written.
    #[error("WAV file {path}: {message}")]
    Wav { path: String, message: String },
    /// Opus refused to encode or decode.
    #[error("opus: {0}")]
    Codec(String),
    /// The echo canceller / noise suppressor could not be set up.
    #[error("audio processing: {0}")]
    Processing(String),
    /// WebRTC negotiation or transport failed.
    #[error("webrtc: {0}")]
    Webrtc(String),
    /// The remote description offered nothing we can play (no Opus).
    #[error("the remote peer offered no usable audio codec")]
    NoCodec,
    /// A DTMF string held something that is not a key of a phone keypad.
    #[error("not a DTMF key: {0:?}")]
    InvalidDtmf(char),
    /// The session is already closed.
    #[error("the media session is closed")]
    Closed,
}

impl From<webrtc::Error> for MediaError {
    fn from(e: webrtc::Error) -> Self {
        MediaError::Webrtc(e.to_string())
    }
}
