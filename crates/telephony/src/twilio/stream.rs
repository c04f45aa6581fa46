//! Twilio Media Streams: the JSON frames of the bidirectional WebSocket that
//! `<Connect><Stream>` opens to us, and G.711 μ-law, the audio inside them (8 kHz mono,
//! usually 20 ms = 160 bytes per frame, Base64 in `media.payload`).
//!
//! Twilio sends `connected`, then `start` once (with the call, the stream and our
//! `<Parameter>`s), then `media` frames (and `dtmf`, `mark` echoes) until `stop`. We send
//! `media` frames back, `mark`s to learn when queued audio has played, and `clear` to drop
//! what is queued.

use std::collections::HashMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A frame from Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Inbound {
    /// The first frame.
    Connected {
        /// `Call`.
        protocol: String,
    },
    /// The stream started.
    Start {
        /// Twilio's stream id (`MZ…`).
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// Details.
        start: StartInfo,
    },
    /// Audio.
    Media {
        /// Increasing, as a decimal string.
        #[serde(rename = "sequenceNumber")]
        sequence_number: String,
        /// The audio.
        media: MediaInfo,
    },
    /// A key the caller pressed.
    Dtmf {
        /// The key.
        dtmf: DtmfInfo,
    },
    /// Audio queued before this mark has played.
    Mark {
        /// Which mark.
        mark: MarkInfo,
    },
    /// The stream ended (the call hung up or moved on).
    Stop,
}

/// `start` details.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInfo {
    /// The account.
    pub account_sid: String,
    /// Twilio's call id.
    pub call_sid: String,
    /// Our `<Parameter>`s.
    #[serde(default)]
    pub custom_parameters: HashMap<String, String>,
    /// The audio format.
    pub media_format: MediaFormat,
}

/// The audio format of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    /// 8000.
    pub sample_rate: u32,
    /// 1.
    pub channels: u32,
}

/// `media` details.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaInfo {
    /// `inbound` (the caller) or `outbound`.
    #[serde(default)]
    pub track: Option<String>,
    /// Milliseconds since the stream started, as a decimal string.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Base64 μ-law.
    pub payload: String,
}

/// `dtmf` details.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DtmfInfo {
    /// The key.
    pub digit: String,
}

/// `mark` details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkInfo {
    /// Its name.
    pub name: String,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Not a frame we understand.
    #[error("malformed media stream frame: {0}")]
    Malformed(String),
    /// A stream in a format other than 8 kHz mono μ-law.
    #[error("unsupported media format {0}")]
    Format(String),
}

/// The largest frame we accept (a 20 ms frame is about 300 bytes of JSON; Twilio sends
/// up to a second of audio in one on occasion).
pub const MAX_FRAME: usize = 64 * 1024;

impl Inbound {
    /// Parse one text frame.
    pub fn parse(text: &str) -> Result<Self, StreamError> {
        if text.len() > MAX_FRAME {
            return Err(StreamError::Malformed(format!("frame of {} bytes", text.len())));
        }
        let frame: Self = serde_json::from_str(text).map_err(|e| StreamError::Malformed(e.to_string()))?;
        if let Self::Start { start, .. } = &frame {
            let f = &start.media_format;
            if f.encoding != "audio/x-mulaw" || f.sample_rate != 8000 || f.channels != 1 {
                return Err(StreamError::Format(format!(
                    "{} at {} Hz, {} channel(s)",
                    f.encoding, f.sample_rate, f.channels
                )));
            }
        }
        Ok(frame)
    }
}

impl MediaInfo {
    /// The audio as 16-bit linear samples at 8 kHz.
    pub fn samples(&self) -> Result<Vec<i16>, StreamError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.payload)
            .map_err(|e| StreamError::Malformed(format!("payload: {e}")))?;
        Ok(bytes.into_iter().map(ulaw_decode).collect())
    }
}

/// A `media` frame to Twilio carrying `samples` (16-bit linear, 8 kHz).
pub fn media_frame(stream_sid: &str, samples: &[i16]) -> String {
    let bytes: Vec<u8> = samples.iter().map(|&s| ulaw_encode(s)).collect();
    serde_json::json!({
        "event": "media",
        "streamSid": stream_sid,
        "media": { "payload": base64::engine::general_purpose::STANDARD.encode(bytes) },
    })
    .to_string()
}

/// A `mark` frame: Twilio echoes it once the audio sent before it has played.
pub fn mark_frame(stream_sid: &str, name: &str) -> String {
    serde_json::json!({ "event": "mark", "streamSid": stream_sid, "mark": { "name": name } }).to_string()
}

/// A `clear` frame: drop the audio queued at Twilio (hold, barge-in).
pub fn clear_frame(stream_sid: &str) -> String {
    serde_json::json!({ "event": "clear", "streamSid": stream_sid }).to_string()
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// G.711 μ-law: one 16-bit linear sample to its 8-bit code.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    let s = s.min(CLIP) + BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = (0..8).rev().find(|e| s & (0x80 << e) != 0).unwrap_or(0);
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// G.711 μ-law: one 8-bit code to its 16-bit linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_matches_g711() {
        // Reference points of the G.711 μ-law table.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        // Every code decodes to a value that encodes back to the same code.
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            // 0x7F and 0xFF are both zero.
            assert!(
                back == code || (ulaw_decode(code) == 0 && back == 0xFF),
                "{code:#x} -> {back:#x}"
            );
        }
        // Quantisation error stays within the segment's step (worst case 1/16 of the value).
        for s in (-32_000i32..32_000).step_by(97) {
            let s = s as i16;
            let err = (i32::from(ulaw_decode(ulaw_encode(s))) - i32::from(s)).abs();
            assert!(err <= (i32::from(s).abs() / 16).max(8) + 4, "{s}: error {err}");
        }
    }

    #[test]
    fn frames_parse_as_twilio_sends_them() {
        let start = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ00000000000000000000000000000001","start":{"streamSid":"MZ00000000000000000000000000000001","accountSid":"AC00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001","tracks":["inbound"],"customParameters":{"call_sid":"call_01"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
        match Inbound::parse(start).unwrap() {
            Inbound::Start { stream_sid, start } => {
                assert!(stream_sid.starts_with("MZ"));
                assert_eq!(start.custom_parameters["call_sid"], "call_01");
                assert_eq!(start.call_sid, "CA00000000000000000000000000000001");
            }
            other => panic!("{other:?}"),
        }
        let samples: Vec<i16> = (0..160).map(|i| ((i as f32 / 8.0).sin() * 8000.0) as i16).collect();
        let out = media_frame("MZ1", &samples);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let echoed = format!(
            r#"{{"event":"media","sequenceNumber":"2","streamSid":"MZ1","media":{{"track":"inbound","chunk":"1","timestamp":"20","payload":"{}"}}}}"#,
            v["media"]["payload"].as_str().unwrap()
        );
        match Inbound::parse(&echoed).unwrap() {
            Inbound::Media { media, .. } => {
                let back = media.samples().unwrap();
                assert_eq!(back.len(), 160);
                assert!(
                    back.iter()
                        .zip(&samples)
                        .all(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() < 600)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Inbound::parse(
                r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#
            )
            .unwrap(),
            Inbound::Stop
        );
        assert!(
            matches!(Inbound::parse(r#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"5"}}"#).unwrap(), Inbound::Dtmf { dtmf } if dtmf.digit == "5")
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&clear_frame("MZ1")).unwrap(),
            serde_json::json!({ "event": "clear", "streamSid": "MZ1" })
        );
    }

    #[test]
    fn bad_frames_are_refused_clearly() {
        assert!(matches!(Inbound::parse("not json"), Err(StreamError::Malformed(_))));
        assert!(matches!(
            Inbound::parse(r#"{"event":"teleport"}"#),
            Err(StreamError::Malformed(_))
        ));
        let wideband = r#"{"event":"start","streamSid":"MZ1","start":{"accountSid":"AC1","callSid":"CA1","mediaFormat":{"encoding":"audio/l16","sampleRate":16000,"channels":1}}}"#;
        assert!(matches!(Inbound::parse(wideband), Err(StreamError::Format(_))));
        let bad_payload = r#"{"event":"media","sequenceNumber":"2","streamSid":"MZ1","media":{"payload":"***"}}"#;
        match Inbound::parse(bad_payload).unwrap() {
            Inbound::Media { media, .. } => assert!(media.samples().is_err()),
            other => panic!("{other:?}"),
        }
        assert!(Inbound::parse(&"x".repeat(MAX_FRAME + 1)).is_err());
    }
}
