//! A WAV file as the microphone and a WAV file as the speaker, paced in real time by a
//! thread, for tests, benchmarks and the simulator's caller.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{AudioDevice, CaptureSide, EngineIo, PlaybackSide, XrunCounters, capture_ring, playback_ring};
use crate::{FRAME_MS, FRAME_SAMPLES, MediaError, SAMPLE_RATE};

/// What the "microphone" plays.
#[derive(Debug, Clone)]
pub enum WavSource {
    /// Nothing: digital silence.
    Silence,
    /// Samples already in memory (48 kHz mono), looped.
    Samples(Arc<Vec<f32>>),
}

/// See the module docs.
#[derive(Debug)]
pub struct WavDevice {
    source: WavSource,
    loop_source: bool,
    record: Option<PathBuf>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), MediaError>>>,
    started_at: Arc<std::sync::Mutex<Option<Instant>>>,
}

fn wav_err(path: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Wav {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Read a WAV file as 48 kHz mono `f32`: channels are averaged, other rates are resampled
/// linearly (speech synthesisers write 22.05 kHz).
pub fn read_wav(path: &Path) -> Result<Vec<f32>, MediaError> {
    let mut reader = hound::WavReader::open(path).map_err(|e| wav_err(path, e))?;
    let spec = reader.spec();
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|e| wav_err(path, e))?;
    let ch = usize::from(spec.channels.max(1));
    let mono: Vec<f32> = raw.chunks(ch).map(|c| c.iter().sum::<f32>() / ch as f32).collect();
    Ok(resample(&mono, spec.sample_rate, SAMPLE_RATE))
}

/// Linear-interpolation resampling; good enough for test fixtures, not for music.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let out_len = (input.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let k = pos as usize;
            let frac = (pos - k as f64) as f32;
            let a = input[k.min(input.len() - 1)];
            let b = input[(k + 1).min(input.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// Write 48 kHz mono samples as a 16-bit WAV file.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), MediaError> {
    let mut w = hound::WavWriter::create(path, spec16()).map_err(|e| wav_err(path, e))?;
    for &s in samples {
        w.write_sample(to_i16(s)).map_err(|e| wav_err(path, e))?;
    }
    w.finalize().map_err(|e| wav_err(path, e))
}

/// A 48 kHz mono 16-bit WAV file written as audio arrives: the header is kept valid every
/// second, so a process that dies mid-call still leaves a readable file.
pub struct WavRecorder {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    unflushed: usize,
}

impl std::fmt::Debug for WavRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavRecorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WavRecorder {
    /// Create (or truncate) the file.
    pub fn create(path: &Path) -> Result<Self, MediaError> {
        Ok(Self {
            writer: hound::WavWriter::create(path, spec16()).map_err(|e| wav_err(path, e))?,
            path: path.to_path_buf(),
            unflushed: 0,
        })
    }

    /// Append samples.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        for &s in samples {
            self.writer
                .write_sample(to_i16(s))
                .map_err(|e| wav_err(&self.path, e))?;
        }
        self.unflushed += samples.len();
        if self.unflushed >= SAMPLE_RATE as usize {
            self.unflushed = 0;
            self.writer.flush().map_err(|e| wav_err(&self.path, e))?;
        }
        Ok(())
    }

    /// Write the final header.
    pub fn finish(self) -> Result<(), MediaError> {
        self.writer.finalize().map_err(|e| wav_err(&self.path, e))
    }
}

fn spec16() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16
}

impl WavDevice {
    /// Play samples (48 kHz mono) as the microphone; `looped` repeats them forever.
    pub fn new(source: WavSource, looped: bool) -> Self {
        Self {
            source,
            loop_source: looped,
            record: None,
            running: Arc::new(AtomicBool::new(false)),
            thread: None,
            started_at: Default::default(),
        }
    }

    /// Also record what the engine plays to this file (written as it goes, finalized on stop).
    pub fn recording_to(mut self, path: &Path) -> Self {
        self.record = Some(path.to_path_buf());
        self
    }

    /// When streaming started (shared, so it can be read after the device moved into a
    /// session): sample `n` of the source was captured, and sample `n` of the recording
    /// played, at `start + n / 48 kHz`.
    pub fn clock(&self) -> Arc<std::sync::Mutex<Option<Instant>>> {
        self.started_at.clone()
    }

    fn pump(
        (mut capture, mut playback): (CaptureSide, PlaybackSide),
        source: WavSource,
        looped: bool,
        record: Option<PathBuf>,
        running: Arc<AtomicBool>,
        start: Instant,
    ) -> Result<(), MediaError> {
        let mut writer = match &record {
            Some(p) => Some(hound::WavWriter::create(p, spec16()).map_err(|e| wav_err(p, e))?),
            None => None,
        };
        let samples = match &source {
            WavSource::Silence => Arc::new(Vec::new()),
            WavSource::Samples(s) => s.clone(),
        };
        let mut pos = 0usize;
        let period = Duration::from_millis(u64::from(FRAME_MS));
        let mut tick = 0u32;
        while running.load(Ordering::Acquire) {
            // Capture: one frame of the source, or silence after its end.
            let frame = (0..FRAME_SAMPLES).map(|_| {
                if pos >= samples.len() {
                    if looped && !samples.is_empty() {
                        pos = 0;
                    } else {
                        return 0.0;
                    }
                }
                pos += 1;
                samples[pos - 1]
            });
            capture.push(frame);
            // Playback: one frame, whatever the engine has ready (silence otherwise).
            for _ in 0..FRAME_SAMPLES {
                let s = playback.pop();
                if let (Some(w), Some(p)) = (writer.as_mut(), record.as_ref()) {
                    w.write_sample(to_i16(s)).map_err(|e| wav_err(p, e))?;
                }
            }
            playback.pulled();
            if tick % 50 == 0 {
                if let (Some(w), Some(p)) = (writer.as_mut(), record.as_ref()) {
                    // Keep the header valid while running, so a crash still leaves a file.
                    w.flush().map_err(|e| wav_err(p, e))?;
                }
            }
            tick += 1;
            // Absolute deadlines: no drift however long a frame took.
            let deadline = start + period * tick;
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        if let (Some(w), Some(p)) = (writer, record.as_ref()) {
            w.finalize().map_err(|e| wav_err(p, e))?;
        }
        Ok(())
    }
}

impl AudioDevice for WavDevice {
    fn start(&mut self) -> Result<EngineIo, MediaError> {
        self.stop();
        let counters = Arc::new(XrunCounters::default());
        let (capture, capture_rx) = capture_ring(&counters);
        let (playback, playback_tx) = playback_ring(&counters);
        let engine_io = EngineIo {
            capture: capture_rx,
            playback: playback_tx,
            counters,
        };
        self.running.store(true, Ordering::Release);
        let (source, looped, record, running) = (
            self.source.clone(),
            self.loop_source,
            self.record.clone(),
            self.running.clone(),
        );
        let start = Instant::now();
        if let Ok(mut t) = self.started_at.lock() {
            *t = Some(start);
        }
        self.thread = Some(
            std::thread::Builder::new()
                .name("wav-device".into())
                .spawn(move || Self::pump((capture, playback), source, looped, record, running, start))
                .map_err(|e| MediaError::Device {
                    name: "wav".into(),
                    message: e.to_string(),
                })?,
        );
        Ok(engine_io)
    }

    fn stop(&mut self) {
        self.running.store(false, Ordering::Release);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "WAV device stopped with an error"),
                Err(_) => tracing::warn!("WAV device thread panicked"),
            }
        }
    }

    fn describe(&self) -> String {
        match &self.record {
            Some(p) => format!("WAV (recording to {})", p.display()),
            None => "WAV".to_string(),
        }
    }
}

impl Drop for WavDevice {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_duration_and_pitch() {
        let at_22k: Vec<f32> = (0..22_050)
            .map(|i| (std::f32::consts::TAU * 500.0 * i as f32 / 22_050.0).sin())
            .collect();
        let at_48k = resample(&at_22k, 22_050, SAMPLE_RATE);
        assert_eq!(at_48k.len(), 48_000);
        let f = crate::tone::dominant_frequency(&at_48k[..9600]).expect("tone");
        assert!((f - 500.0).abs() < 10.0, "{f}");
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("not.wav");
        std::fs::write(&path, b"RIFF nonsense").expect("write");
        let err = read_wav(&path).expect_err("not a WAV");
        assert!(err.to_string().contains("not.wav"), "{err}");
    }
}
