//! Our outgoing audio track: unlike webrtc-rs' static tracks it writes Opus and RFC 4733
//! telephone-event packets with their own payload types on one SSRC and one sequence, so
//! a key press can interrupt the audio without a second stream.

use std::any::Any;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_TELEPHONE_EVENT};
use webrtc::rtp_transceiver::rtp_codec::{RTCRtpCodecParameters, RTPCodecType};
use webrtc::track::track_local::{TrackLocal, TrackLocalContext, TrackLocalWriter};

/// Where the track writes once a connection has bound it, and with which payload types.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) ssrc: u32,
    pub(crate) writer: Arc<dyn TrackLocalWriter + Send + Sync>,
    pub(crate) opus_pt: u8,
    pub(crate) dtmf_pt: Option<u8>,
}

/// Our outgoing audio track: unlike webrtc-rs' static tracks it writes Opus and
/// telephone-event packets with their own payload types on one SSRC and one sequence.
#[derive(Debug)]
pub(crate) struct AudioTrack {
    binding: Mutex<Option<Binding>>,
    seq: AtomicU16,
    /// RTP timestamp of the next audio frame (48 kHz units).
    pub(crate) timestamp: AtomicU32,
}

impl AudioTrack {
    pub(crate) fn new() -> Self {
        Self {
            binding: Mutex::new(None),
            seq: AtomicU16::new(rand_u16()),
            timestamp: AtomicU32::new(u32::from(rand_u16()) << 8),
        }
    }

    pub(crate) fn binding(&self) -> Option<Binding> {
        self.binding.lock().ok().and_then(|b| b.clone())
    }

    pub(crate) async fn write(&self, b: &Binding, pt: u8, marker: bool, timestamp: u32, payload: Bytes) {
        let header = webrtc::rtp::header::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: self.seq.fetch_add(1, Ordering::Relaxed),
            timestamp,
            ssrc: b.ssrc,
            ..Default::default()
        };
        let packet = webrtc::rtp::packet::Packet { header, payload };
        if let Err(e) = b.writer.write_rtp(&packet).await {
            tracing::trace!(error = %e, "RTP write failed (transport not ready)");
        }
    }
}

fn rand_u16() -> u16 {
    // Random initial sequence/timestamp (RFC 3550 §5.1); no crypto needed.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16)) as u16
}

#[async_trait]
impl TrackLocal for AudioTrack {
    async fn bind(&self, t: &TrackLocalContext) -> webrtc::error::Result<RTCRtpCodecParameters> {
        let codecs = t.codec_parameters();
        let opus = codecs
            .iter()
            .find(|c| c.capability.mime_type.eq_ignore_ascii_case(MIME_TYPE_OPUS))
            .cloned()
            .ok_or(webrtc::Error::ErrUnsupportedCodec)?;
        let dtmf_pt = codecs
            .iter()
            .find(|c| {
                c.capability.mime_type.eq_ignore_ascii_case(MIME_TYPE_TELEPHONE_EVENT)
                    && c.capability.clock_rate == 48_000
            })
            .map(|c| c.payload_type);
        if let Ok(mut b) = self.binding.lock() {
            *b = Some(Binding {
                ssrc: t.ssrc(),
                writer: t.write_stream(),
                opus_pt: opus.payload_type,
                dtmf_pt,
            });
        }
        Ok(opus)
    }

    async fn unbind(&self, _t: &TrackLocalContext) -> webrtc::error::Result<()> {
        if let Ok(mut b) = self.binding.lock() {
            *b = None;
        }
        Ok(())
    }

    fn id(&self) -> &str {
        "audio"
    }

    fn rid(&self) -> Option<&str> {
        None
    }

    fn stream_id(&self) -> &str {
        "switchboard"
    }

    fn kind(&self) -> RTPCodecType {
        RTPCodecType::Audio
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
