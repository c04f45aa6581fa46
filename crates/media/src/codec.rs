//! Opus (libopus through the `opus` crate) at 48 kHz mono, 20 ms frames, tuned for voice:
//! wideband SILK at complexity 5 or 6 (what a phone call carries, at about two thirds of
//! libopus' default cost; see `complexity` below), in-band FEC while the far end reports
//! loss, so a decoder can rebuild a lost frame from the next packet, and packet loss
//! concealment when there is nothing to rebuild from.

use opus::{Application, Bandwidth, Bitrate, Channels, Decoder, Encoder};

use crate::{FRAME_SAMPLES, MediaError, SAMPLE_RATE};

/// Largest Opus packet we produce (RFC 6716 allows 1275 bytes per frame).
pub const MAX_PACKET: usize = 1275;

fn codec_err(e: opus::Error) -> MediaError {
    MediaError::Codec(e.to_string())
}

/// The encoder's complexity: 6 where libopus has its AVX2 noise-shaping quantiser, else 5.
///
/// libopus' default, 9, runs SILK's costliest tier (four delayed-decision quantiser states)
/// and a tonality analysis that only steers hybrid and CELT modes. Below it, SILK's tiers
/// are 0-1, 2-3, 4-5 and 6-7. The quantiser is half of the encoder's work, and libopus 1.5
/// runs its AVX2 version only with three or four states (with two it measured slower on
/// some AMD Zen cores), so on a CPU with AVX2 and FMA tier 6-7 costs what tier 4-5 does in
/// plain C: one stream's encoder 0.70-0.72 % of a core at 6 against 0.71-0.72 % at 5
/// (8 s of thread CPU each, this project's build machine). Its voice is better: PESQ-WB
/// (ITU-T P.862.2) over 24 espeak-ng utterances through the encoder and decoder, mean 4.30
/// at 6 against 4.17 at 5; 4.36 at libopus' 10, and 3.46 at 1, whose cost (0.28 %) would
/// be bought with audible damage. Without AVX2 the extra state is plain C work, so tier
/// 4-5 stays.
fn complexity() -> i32 {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return 6;
    }
    5
}

/// Encodes 20 ms frames.
pub struct OpusEncoder {
    inner: Encoder,
    out: Vec<u8>,
    /// Samples in a frame at the rate it takes.
    frame: usize,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// A wideband voice encoder at 32 kbit/s taking [`SAMPLE_RATE`], expecting no loss
    /// until told otherwise ([`OpusEncoder::expect_loss`]).
    pub fn new() -> Result<Self, MediaError> {
        Self::at_rate(SAMPLE_RATE)
    }

    /// The same encoder taking frames at `hz` (8, 12, 16, 24 or 48 kHz). The engine sends at
    /// [`crate::SEND_RATE`]: wideband SILK codes 16 kHz, so fed at 16 kHz it skips its
    /// own resampler. Either way the packets are wideband Opus on RTP's 48 kHz clock.
    pub fn at_rate(hz: u32) -> Result<Self, MediaError> {
        let mut inner = Encoder::new(hz, Channels::Mono, Application::Voip).map_err(codec_err)?;
        inner.set_bitrate(Bitrate::Bits(32_000)).map_err(codec_err)?;
        // Wideband (8 kHz of audio) is all a call carries: a carrier's leg is G.711 at
        // 4 kHz, HD voice 7 kHz. Above it libopus adds a CELT layer (hybrid mode) whose work
        // no caller hears; capped, every packet is SILK only.
        inner.set_max_bandwidth(Bandwidth::Wideband).map_err(codec_err)?;
        inner.set_complexity(complexity()).map_err(codec_err)?;
        // FEC (SILK's LBRR: a coarser copy of each frame in the next packet) is allowed, and
        // libopus codes it only while the expected loss is above zero: it runs the noise
        // shaping quantiser a second time per frame, about 0.4x the encoder's cost, and
        // takes bits from the frame itself. So it starts off and follows the loss the far
        // end reports (see `loss::LossEstimate`), as libwebrtc does.
        inner.set_inband_fec(true).map_err(codec_err)?;
        inner.set_packet_loss_perc(0).map_err(codec_err)?;
        Ok(Self {
            inner,
            out: vec![0; MAX_PACKET],
            frame: (hz / 1000 * crate::FRAME_MS) as usize,
        })
    }

    /// The share of packets (percent) the far end is expected to lose: above zero, each
    /// packet also carries the previous frame's FEC copy.
    pub fn expect_loss(&mut self, percent: u8) -> Result<(), MediaError> {
        self.inner
            .set_packet_loss_perc(i32::from(percent.min(100)))
            .map_err(codec_err)
    }

    /// Encode one 20 ms frame at the encoder's rate ([`FRAME_SAMPLES`] at
    /// [`SAMPLE_RATE`]); returns the packet.
    pub fn encode(&mut self, frame: &[f32]) -> Result<&[u8], MediaError> {
        debug_assert_eq!(frame.len(), self.frame);
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

/// Whether an Opus packet carries FEC for the frame before it (SILK's LBRR flag), which
/// [`OpusDecoder::conceal`] can rebuild that frame from; without it, it can only guess.
/// Read from the packet's first frame (RFC 6716 section 4.2.3: after the TOC byte and any
/// frame lengths, the range coder's first bits are each SILK frame's voice activity flag,
/// then the LBRR flag, all equiprobable, so they are the first byte's top bits). Packets
/// of several Opus frames with their own framing (code 3) are not looked into: false.
pub fn has_fec(packet: &[u8]) -> bool {
    let Some(&toc) = packet.first() else { return false };
    let config = toc >> 3;
    // CELT-only configurations carry no SILK layer.
    if config >= 16 {
        return false;
    }
    // SILK-only frames of 40 and 60 ms hold two or three 20 ms SILK frames, each with its
    // own voice activity flag ahead of the LBRR flag; hybrid frames are 10 or 20 ms.
    let silk_frames = match config {
        0..12 if config % 4 == 2 => 2,
        0..12 if config % 4 == 3 => 3,
        _ => 1,
    };
    let first = match toc & 0b11 {
        // One frame, or two of equal size: the first starts after the TOC.
        0 | 1 => packet.get(1),
        // Two frames of different sizes: the first one's length (one or two bytes) first.
        2 => match packet.get(1) {
            Some(&len) if len < 252 => packet.get(2),
            Some(_) => packet.get(3),
            None => None,
        },
        _ => None,
    };
    first.is_some_and(|&b| (b >> (7 - silk_frames)) & 1 == 1)
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
        enc.expect_loss(10).expect("loss");
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
        assert!(has_fec(&packets[11]));
        let n = dec.conceal(Some(&packets[11]), &mut frame).expect("fec");
        assert_eq!(n, FRAME_SAMPLES);
        assert!(crate::tone::rms(&frame) > 0.05, "FEC frame is silent");
        let n = dec.conceal(None, &mut frame).expect("plc");
        assert_eq!(n, FRAME_SAMPLES);
        assert!(crate::tone::rms(&frame) > 0.01, "PLC frame is silent");
    }

    /// A voice-like test signal: 24 harmonics of a gliding 100-180 Hz pitch shaped by three
    /// formants, in 4 Hz syllables.
    fn voice(seconds: f32) -> Vec<f32> {
        let rate = SAMPLE_RATE as f32;
        let n = (seconds * rate) as usize;
        let mut phase = 0.0_f32;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate;
                let f0 = 140.0 + 40.0 * (t * 1.3).sin();
                phase += std::f32::consts::TAU * f0 / rate;
                let syllable = (0.5 + 0.5 * (t * 4.0 * std::f32::consts::TAU).sin()).powi(2);
                let formants = |f: f32| {
                    [(700.0, 300.0, 1.0), (1800.0, 400.0, 0.6), (2800.0, 500.0, 0.3)]
                        .iter()
                        .map(|(centre, width, gain)| gain * (-((f - centre) / width).powi(2)).exp())
                        .sum::<f32>()
                };
                let harmonics: f32 = (1..25_u8)
                    .map(|h| {
                        let h = f32::from(h);
                        formants(f0 * h) * (phase * h).sin() / h
                    })
                    .sum();
                0.3 * syllable * harmonics
            })
            .collect()
    }

    #[test]
    fn voice_comes_back_close_to_its_waveform_in_wideband_packets() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let input = voice(3.0);
        let mut output = Vec::new();
        let mut frame = vec![0.0; FRAME_SAMPLES];
        for chunk in input.chunks_exact(FRAME_SAMPLES) {
            let packet = enc.encode(chunk).expect("encode").to_vec();
            let bandwidth = opus::packet::get_bandwidth(&packet).expect("a valid packet");
            assert!(
                matches!(
                    bandwidth,
                    Bandwidth::Narrowband | Bandwidth::Mediumband | Bandwidth::Wideband
                ),
                "{bandwidth:?}"
            );
            dec.decode(&packet, &mut frame).expect("decode");
            output.extend_from_slice(&frame);
        }
        // The codec delays by its look-ahead (312 samples); search around it and skip the
        // first second while the encoder settles. libopus' defaults give 16.3 dB here,
        // these settings 16.6 dB; a setting that harms voice falls under 12.
        let lookahead = enc.inner.get_lookahead().expect("lookahead") as usize;
        let snr = (lookahead - 16..lookahead + 16)
            .map(|lag| {
                let (mut signal, mut error) = (0.0_f64, 0.0_f64);
                for (x, y) in input[SAMPLE_RATE as usize..input.len() - 2 * lag]
                    .iter()
                    .zip(&output[SAMPLE_RATE as usize + lag..])
                {
                    signal += f64::from(*x).powi(2);
                    error += f64::from(x - y).powi(2);
                }
                10.0 * (signal / error).log10()
            })
            .fold(f64::MIN, f64::max);
        assert!(snr > 12.0, "voice through the codec: SNR {snr:.1} dB");
    }

    /// Correlation of `a` with `b`, 1 for the same shape.
    fn likeness(a: &[f32], b: &[f32]) -> f64 {
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt().max(1e-12)
    }

    #[test]
    fn fec_is_sent_only_while_loss_is_expected_and_rebuilds_a_lost_frame() {
        let input = voice(2.0);
        let frames: Vec<&[f32]> = input.chunks_exact(FRAME_SAMPLES).collect();
        let mut enc = OpusEncoder::new().expect("encoder");
        let clean: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).expect("encode").to_vec()).collect();
        assert!(!clean.iter().any(|p| has_fec(p)), "FEC sent with no loss expected");
        enc.expect_loss(10).expect("loss");
        let lossy: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).expect("encode").to_vec()).collect();
        let with_fec = lossy.iter().filter(|p| has_fec(p)).count();
        // Quiet frames between syllables may go without (libopus codes LBRR for speech).
        assert!(
            with_fec * 2 > lossy.len(),
            "{with_fec} of {} packets carry FEC",
            lossy.len()
        );
        enc.expect_loss(0).expect("loss");
        let again: Vec<Vec<u8>> = frames.iter().map(|f| enc.encode(f).expect("encode").to_vec()).collect();
        // The flag refers to the previous frame, so the first packet may still carry it.
        assert!(
            !again[1..].iter().any(|p| has_fec(p)),
            "FEC still sent after the loss went"
        );

        // Lose each packet that has FEC after it, in turn: the rebuilt frame is the lost
        // one's shape, and closer to it than what concealment guesses.
        let lookahead = enc.inner.get_lookahead().expect("lookahead") as usize;
        let (mut rebuilt, mut guessed, mut n) = (0.0, 0.0, 0);
        for lost in (10..lossy.len() - 1).step_by(7).filter(|&i| has_fec(&lossy[i + 1])) {
            let play = |fec: bool| {
                let mut dec = OpusDecoder::new().expect("decoder");
                let mut out = vec![0.0; FRAME_SAMPLES];
                for p in &lossy[..lost] {
                    dec.decode(p, &mut out).expect("decode");
                }
                let mut played = vec![0.0; FRAME_SAMPLES];
                dec.conceal(fec.then_some(&lossy[lost + 1][..]), &mut played)
                    .expect("conceal");
                played
            };
            // The decoder's output lags the input by the look-ahead.
            let start = lost * FRAME_SAMPLES - lookahead;
            let original = &input[start..start + FRAME_SAMPLES];
            rebuilt += likeness(original, &play(true));
            guessed += likeness(original, &play(false));
            n += 1;
        }
        assert!(n >= 5, "only {n} lost frames tried");
        let (rebuilt, guessed) = (rebuilt / f64::from(n), guessed / f64::from(n));
        assert!(
            rebuilt > 0.8 && rebuilt > guessed,
            "rebuilt from FEC {rebuilt:.2}, guessed {guessed:.2}"
        );
    }

    #[test]
    fn the_fec_flag_is_read_from_the_first_silk_frame_only() {
        // TOC: SILK wideband 20 ms (config 9), one frame; the next byte's bits: VAD, LBRR.
        assert!(has_fec(&[9 << 3, 0b0100_0000]));
        assert!(!has_fec(&[9 << 3, 0b1000_0000]));
        // 60 ms (config 11): three VAD flags, then LBRR.
        assert!(has_fec(&[11 << 3, 0b0001_0000]));
        assert!(!has_fec(&[11 << 3, 0b0100_0000]));
        // Two frames of different sizes (code 2): a length byte before the first frame.
        assert!(has_fec(&[(9 << 3) | 2, 3, 0b0100_0000, 0, 0, 0]));
        // CELT-only (config 28) and empty or truncated packets carry none.
        assert!(!has_fec(&[28 << 3, 0xff]));
        assert!(!has_fec(&[]));
        assert!(!has_fec(&[9 << 3]));
    }
}
