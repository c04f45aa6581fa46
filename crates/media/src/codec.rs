//! Opus (libopus through the `opus` crate) at 48 kHz mono, 20 ms frames, tuned for voice:
//! in-band FEC on, so a decoder can rebuild a lost frame from the next packet, and packet
//! loss concealment when there is nothing to rebuild from.

use opus::{Application, Bitrate, Channels, Decoder, Encoder};

use crate::{FRAME_SAMPLES, MediaError, SAMPLE_RATE};

/// Largest Opus packet we produce (RFC 6716 allows 1275 bytes per frame).
pub const MAX_PACKET: usize = 1275;

fn codec_err(e: opus::Error) -> MediaError {
    MediaError::Codec(e.to_string())
}

/// Encodes 20 ms frames.
pub struct OpusEncoder {
    inner: Encoder,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// A voice encoder at 32 kbit/s with FEC for up to 10% loss.
    pub fn new() -> Result<Self, MediaError> {
        let mut inner = Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip).map_err(codec_err)?;
        inner.set_bitrate(Bitrate::Bits(32_000)).map_err(codec_err)?;
        inner.set_inband_fec(true).map_err(codec_err)?;
        inner.set_packet_loss_perc(10).map_err(codec_err)?;
        Ok(Self {
            inner,
            out: vec![0; MAX_PACKET],
        })
    }

    /// Encode one frame of [`FRAME_SAMPLES`] samples; returns the packet.
    pub fn encode(&mut self, frame: &[f32]) -> Result<&[u8], MediaError> {
        debug_assert_eq!(frame.len(), FRAME_SAMPLES);
        let n = self.inner.encode_float(frame, &mut self.out).map_err(codec_err)?;
        Ok(&self.out[..n])
    }
}

/// Decodes packets, and conceals missing ones.
pub struct OpusDecoder {
    inner: Decoder,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A mono 48 kHz decoder.
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            inner: Decoder::new(SAMPLE_RATE, Channels::Mono).map_err(codec_err)?,
        })
    }

    /// Decode a packet into `out` (one frame); returns the samples written.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, MediaError> {
        self.inner.decode_float(packet, out, false).map_err(codec_err)
    }

    /// Synthesize one frame for a lost packet: from the FEC data in `next` when the
    /// following packet is already here, else by libopus concealment.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut [f32]) -> Result<usize, MediaError> {
        match next {
            Some(next) => self.inner.decode_float(next, &mut out[..FRAME_SAMPLES], true),
            None => self.inner.decode_float(&[], &mut out[..FRAME_SAMPLES], false),
        }
        .map_err(codec_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{dominant_frequency, sine};

    #[test]
    fn a_tone_survives_encode_and_decode() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let input = sine(1000.0, 0.5, FRAME_SAMPLES * 25);
        let mut output = Vec::new();
        let mut frame = vec![0.0; FRAME_SAMPLES];
        for chunk in input.chunks(FRAME_SAMPLES) {
            let packet = enc.encode(chunk).expect("encode").to_vec();
            assert!(
                packet.len() < 200,
                "32 kbit/s is 80 bytes a frame, got {}",
                packet.len()
            );
            let n = dec.decode(&packet, &mut frame).expect("decode");
            assert_eq!(n, FRAME_SAMPLES);
            output.extend_from_slice(&frame);
        }
        let f = dominant_frequency(&output[FRAME_SAMPLES * 5..]).expect("tone");
        assert!((f - 1000.0).abs() < 15.0, "{f}");
    }

    #[test]
    fn concealment_fills_a_lost_frame_with_signal_not_silence() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let input = sine(440.0, 0.5, FRAME_SAMPLES * 12);
        let packets: Vec<Vec<u8>> = input
            .chunks(FRAME_SAMPLES)
            .map(|c| enc.encode(c).expect("encode").to_vec())
            .collect();
        let mut frame = vec![0.0; FRAME_SAMPLES];
        for p in &packets[..10] {
            dec.decode(p, &mut frame).expect("decode");
        }
        // Packet 10 is lost; 11 has arrived, so FEC can rebuild it.
        let n = dec.conceal(Some(&packets[11]), &mut frame).expect("fec");
        assert_eq!(n, FRAME_SAMPLES);
        assert!(crate::tone::rms(&frame) > 0.05, "FEC frame is silent");
        let n = dec.conceal(None, &mut frame).expect("plc");
        assert_eq!(n, FRAME_SAMPLES);
        assert!(crate::tone::rms(&frame) > 0.01, "PLC frame is silent");
    }
}
