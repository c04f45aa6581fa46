//! The system's sound devices through cpal (ALSA on Linux, CoreAudio, WASAPI).
//!
//! Streams live on one device thread (cpal streams are not `Send` on every platform). The
//! thread opens the chosen input and output (or the system defaults), and when one of them
//! disappears mid-call it reopens the default with fresh rings, hands the new ring ends to
//! the engine ([`AudioDevice::replacement`]) and says so with [`DeviceEvent::FellBack`].
//! A stream that reports an error but goes on moving samples is left alone
//! (`FAULT_GRACE`): reopening costs the call a quarter second of audio both ways.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use serde::{Deserialize, Serialize};

use super::{
    AudioDevice, DeviceEvent, Direction, EngineIo, XrunCounters, capture_ring, device_clock_us, playback_ring,
};
use crate::{MediaError, SAMPLE_RATE};
use std::sync::Arc;

/// The user's device choice; `None` means the system default. Remembered between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceChoice {
    pub input: Option<String>,
    pub output: Option<String>,
}

impl DeviceChoice {
    /// Read a remembered choice; a missing or unreadable file means "system defaults".
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Remember the choice.
    pub fn save(&self, path: &Path) -> Result<(), MediaError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| MediaError::Device {
            name: "choice".into(),
            message: e.to_string(),
        })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| MediaError::Device {
                name: path.display().to_string(),
                message: e.to_string(),
            })
    }
}

/// What can be picked in settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub default_input: Option<String>,
    pub default_output: Option<String>,
}

fn name_of(d: &cpal::Device) -> String {
    d.description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "unknown device".to_string())
}

fn dev_err(name: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Device {
        name: name.to_string(),
        message: e.to_string(),
    }
}

/// Enumerate the devices of the default host.
pub fn list_devices() -> Result<DeviceList, MediaError> {
    let host = cpal::default_host();
    let inputs = host
        .input_devices()
        .map_err(|e| dev_err("input", e))?
        .map(|d| name_of(&d))
        .collect();
    let outputs = host
        .output_devices()
        .map_err(|e| dev_err("output", e))?
        .map(|d| name_of(&d))
        .collect();
    Ok(DeviceList {
        inputs,
        outputs,
        default_input: host.default_input_device().map(|d| name_of(&d)),
        default_output: host.default_output_device().map(|d| name_of(&d)),
    })
}

/// Find a device by name, or the default when `name` is `None`.
fn find(direction: Direction, name: Option<&str>) -> Result<cpal::Device, MediaError> {
    let host = cpal::default_host();
    match name {
        None => match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        }
        .ok_or_else(|| MediaError::DeviceNotFound(format!("no default {direction:?} device").to_lowercase())),
        Some(want) => {
            let mut devices = match direction {
                Direction::Input => host.input_devices(),
                Direction::Output => host.output_devices(),
            }
            .map_err(|e| dev_err(want, e))?;
            devices
                .find(|d| name_of(d) == want)
                .ok_or_else(|| MediaError::DeviceNotFound(want.to_string()))
        }
    }
}

enum Msg {
    Stop,
    Use(Direction, Option<String>),
    /// A stream of generation `.1` stopped working: the device went away (`None`) or the
    /// sound system reported an error it does not recover from by itself.
    Broken(Direction, u64, Option<String>),
    /// A stream of generation `.1` reported error `.2` at `.3` ([`device_clock_us`]). It
    /// is broken only if it then stops moving samples (see [`FAULT_GRACE`]).
    Faulted(Direction, u64, String, u64),
}

/// The system sound card(s); see the module docs.
#[derive(Debug)]
pub struct SystemAudio {
    choice: DeviceChoice,
    events: Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>,
    control: Option<mpsc::Sender<Msg>>,
    replacements: Option<mpsc::Receiver<EngineIo>>,
    thread: Option<JoinHandle<()>>,
}

impl SystemAudio {
    /// Use `choice`, reporting device events to `events`.
    pub fn new(choice: DeviceChoice, events: Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>) -> Self {
        Self {
            choice,
            events,
            control: None,
            replacements: None,
            thread: None,
        }
    }

    /// Pick another device while running (or for the next start).
    pub fn select(&mut self, direction: Direction, name: Option<String>) {
        match direction {
            Direction::Input => self.choice.input = name.clone(),
            Direction::Output => self.choice.output = name.clone(),
        }
        if let Some(c) = &self.control {
            let _ = c.send(Msg::Use(direction, name));
        }
    }

    /// The current choice (to remember it).
    pub fn choice(&self) -> &DeviceChoice {
        &self.choice
    }
}

fn error_callback(
    direction: Direction,
    generation: u64,
    counters: &Arc<XrunCounters>,
    control: &mpsc::Sender<Msg>,
) -> impl FnMut(cpal::Error) + Send + 'static {
    let (tx, counters) = (control.clone(), counters.clone());
    let mut last_fault: Option<std::time::Instant> = None;
    move |e: cpal::Error| {
        // Not the audio callback: sending (and its allocation) is fine here.
        match e.kind() {
            // cpal restarts the stream itself after an xrun: count it, nothing to do.
            cpal::ErrorKind::Xrun => {
                counters.device_xruns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceNotAvailable => {
                let _ = tx.send(Msg::Broken(direction, generation, None));
            }
            // Anything else: a sound server that died repeats it on every poll, but
            // PulseAudio's ALSA plugin also fails a single call right after a stream
            // starts (seen on CI: `snd_pcm_avail_delay` I/O error within 20 ms), and
            // cpal polls on. The device thread judges which it was. A dead stream's
            // errors come in a tight loop: one report every 50 ms is plenty.
            _ => {
                let now = std::time::Instant::now();
                if last_fault.is_none_or(|t| now.duration_since(t) >= Duration::from_millis(50)) {
                    last_fault = Some(now);
                    let _ = tx.send(Msg::Faulted(direction, generation, e.to_string(), device_clock_us()));
                }
            }
        }
    }
}

/// The stream configurations to try, best first: mono, then the device's own channel
/// count (we mix down / duplicate ourselves). Each asks for 20 ms device periods: left to
/// itself a sound server can pick periods of a second or more, which would overflow the
/// 200 ms rings and reach the far end as bursts with gaps.
fn configs(default: Result<cpal::SupportedStreamConfig, cpal::Error>) -> Vec<cpal::StreamConfig> {
    let period = u32::try_from(crate::FRAME_SAMPLES).unwrap_or(960);
    let (channels, buffer_size) = match &default {
        Ok(c) => (
            c.channels(),
            match c.buffer_size() {
                cpal::SupportedBufferSize::Range { min, max } => cpal::BufferSize::Fixed(period.clamp(*min, *max)),
                cpal::SupportedBufferSize::Unknown => cpal::BufferSize::Default,
            },
        ),
        Err(_) => (1, cpal::BufferSize::Default),
    };
    tracing::debug!(?default, ?buffer_size, "stream configuration");
    let mut options = vec![1u16];
    if channels != 1 {
        options.push(channels);
    }
    let mut all: Vec<cpal::StreamConfig> = options
        .iter()
        .map(|&channels| cpal::StreamConfig {
            channels,
            sample_rate: SAMPLE_RATE,
            buffer_size,
        })
        .collect();
    // A device that refuses the period size still gets a chance with its own.
    if buffer_size != cpal::BufferSize::Default {
        all.extend(options.iter().map(|&channels| cpal::StreamConfig {
            channels,
            sample_rate: SAMPLE_RATE,
            buffer_size: cpal::BufferSize::Default,
        }));
    }
    all
}

/// Open the input; returns the stream and the engine's end of a fresh capture ring.
fn open_input(
    device: &cpal::Device,
    generation: u64,
    counters: &Arc<XrunCounters>,
    control: &mpsc::Sender<Msg>,
) -> Result<(cpal::Stream, rtrb::Consumer<f32>), MediaError> {
    first_that_opens(device, device.default_input_config(), |config| {
        let (mut side, engine_end) = capture_ring(counters);
        let n = usize::from(config.channels);
        let stream = device.build_input_stream::<f32, _, _>(
            config,
            move |data: &[f32], _| side.push(data.chunks(n).map(|c| c.iter().sum::<f32>() / n as f32)),
            error_callback(Direction::Input, generation, counters, control),
            Some(Duration::from_secs(2)),
        )?;
        Ok((stream, engine_end))
    })
}

/// Open the output; returns the stream and the engine's end of a fresh playback ring.
fn open_output(
    device: &cpal::Device,
    generation: u64,
    counters: &Arc<XrunCounters>,
    control: &mpsc::Sender<Msg>,
) -> Result<(cpal::Stream, rtrb::Producer<f32>), MediaError> {
    first_that_opens(device, device.default_output_config(), |config| {
        let (mut side, engine_end) = playback_ring(counters);
        let n = usize::from(config.channels);
        let stream = device.build_output_stream::<f32, _, _>(
            config,
            move |data: &mut [f32], _| {
                for frame in data.chunks_mut(n) {
                    let s = side.pop();
                    frame.iter_mut().for_each(|x| *x = s);
                }
                side.pulled();
            },
            error_callback(Direction::Output, generation, counters, control),
            Some(Duration::from_secs(2)),
        )?;
        Ok((stream, engine_end))
    })
}

/// Build a stream with the first of [`configs`] the device accepts, and start it.
fn first_that_opens<E>(
    device: &cpal::Device,
    default: Result<cpal::SupportedStreamConfig, cpal::Error>,
    mut build: impl FnMut(cpal::StreamConfig) -> Result<(cpal::Stream, E), cpal::Error>,
) -> Result<(cpal::Stream, E), MediaError> {
    let name = name_of(device);
    let mut last = None;
    for config in configs(default) {
        match build(config) {
            Ok((stream, engine_end)) => {
                stream.play().map_err(|e| dev_err(&name, e))?;
                return Ok((stream, engine_end));
            }
            Err(e) => last = Some(e.to_string()),
        }
    }
    Err(dev_err(&name, last.unwrap_or_else(|| "cannot open".into())))
}

/// Resolve a choice to a device, falling back to the default (with an event) when the
/// chosen one is gone.
fn resolve(
    direction: Direction,
    wanted: Option<&str>,
    events: &Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>,
) -> Result<cpal::Device, MediaError> {
    match find(direction, wanted) {
        Ok(d) => Ok(d),
        Err(MediaError::DeviceNotFound(lost)) if wanted.is_some() => {
            let d = find(direction, None)?;
            emit(
                events,
                DeviceEvent::FellBack {
                    direction,
                    lost,
                    now: name_of(&d),
                },
            );
            Ok(d)
        }
        Err(e) => Err(e),
    }
}

fn emit(events: &Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>, event: DeviceEvent) {
    tracing::info!(?event, "audio device");
    if let Some(tx) = events {
        let _ = tx.send(event);
    }
}

struct Open {
    input: (cpal::Device, cpal::Stream),
    output: (cpal::Device, cpal::Stream),
    /// Errors from streams of an older generation (already replaced) are ignored.
    generation: u64,
    opened: std::time::Instant,
    /// The streams' stamps: whether they still move samples.
    counters: Arc<XrunCounters>,
}

impl Open {
    fn device(&self, direction: Direction) -> &cpal::Device {
        match direction {
            Direction::Input => &self.input.0,
            Direction::Output => &self.output.0,
        }
    }

    /// Whether the `direction` stream has moved samples since `since_us`.
    fn moved_since(&self, direction: Direction, since_us: u64) -> bool {
        let stamp = match direction {
            Direction::Input => &self.counters.last_capture_us,
            Direction::Output => &self.counters.last_pull_us,
        };
        stamp.load(std::sync::atomic::Ordering::Relaxed) > since_us
    }
}

/// Open both directions with fresh rings; returns the streams and the engine's ends.
fn open_both(
    input: cpal::Device,
    output: cpal::Device,
    generation: u64,
    control: &mpsc::Sender<Msg>,
) -> Result<(Open, EngineIo), MediaError> {
    let counters = Arc::new(XrunCounters::default());
    let (in_stream, capture) = open_input(&input, generation, &counters, control)?;
    let (out_stream, playback) = open_output(&output, generation, &counters, control)?;
    Ok((
        Open {
            input: (input, in_stream),
            output: (output, out_stream),
            generation,
            opened: std::time::Instant::now(),
            counters: counters.clone(),
        },
        EngineIo {
            capture,
            playback,
            counters,
        },
    ))
}

/// The shortest time between reopening devices after a failure.
const REOPEN_BACKOFF: Duration = Duration::from_millis(250);

/// How long a stream that reported an error has to show it still works (its callback ran
/// again) before it counts as broken. Reopening costs both directions a quarter second of
/// audio, so a stream that goes on is left alone: on CI a fallback speaker failed one call
/// right after each start, and reopening it each time cut the agent's microphone for two
/// seconds. Several device periods long, so a working stream has run in it.
const FAULT_GRACE: Duration = Duration::from_millis(150);

/// A stream that reported an error, waiting for [`FAULT_GRACE`] to pass.
struct Suspect {
    direction: Direction,
    generation: u64,
    reason: String,
    since_us: u64,
    until: std::time::Instant,
}

/// The next thing for the device thread to act on: a message, or a suspect stream of
/// `generation` whose grace ran out without it moving samples (`moved(direction, since_us)`
/// false), as [`Msg::Broken`]. [`Msg::Faulted`] stops here: it only starts a watch.
/// `None`: time to stop.
fn next_msg(
    control: &mpsc::Receiver<Msg>,
    suspects: &mut Vec<Suspect>,
    generation: u64,
    moved: impl Fn(Direction, u64) -> bool,
) -> Option<Msg> {
    loop {
        let received = match suspects.iter().map(|s| s.until).min() {
            None => control.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(until) => control.recv_timeout(until.saturating_duration_since(std::time::Instant::now())),
        };
        match received {
            Ok(Msg::Faulted(direction, g, reason, since_us)) => {
                let known = suspects.iter().any(|s| s.direction == direction && s.generation == g);
                if g == generation && !known {
                    tracing::debug!(?direction, %reason, "audio device reported an error; watching it");
                    suspects.push(Suspect {
                        direction,
                        generation: g,
                        reason,
                        since_us,
                        until: std::time::Instant::now() + FAULT_GRACE,
                    });
                }
                continue;
            }
            Ok(msg) => return Some(msg),
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = std::time::Instant::now();
        let (due, waiting): (Vec<Suspect>, Vec<Suspect>) = suspects.drain(..).partition(|s| s.until <= now);
        *suspects = waiting;
        for s in due {
            if s.generation != generation {
                continue;
            }
            if moved(s.direction, s.since_us) {
                tracing::info!(direction = ?s.direction, reason = %s.reason, "audio device went on after an error");
                continue;
            }
            return Some(Msg::Broken(s.direction, s.generation, Some(s.reason)));
        }
    }
}

/// The device thread: owns the streams, reopens them on loss or on a new choice.
fn device_thread(
    mut open: Open,
    control_tx: mpsc::Sender<Msg>,
    control: mpsc::Receiver<Msg>,
    replacements: mpsc::Sender<EngineIo>,
    events: Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>,
) {
    let mut suspects: Vec<Suspect> = Vec::new();
    while let Some(msg) = next_msg(&control, &mut suspects, open.generation, |d, since| {
        open.moved_since(d, since)
    }) {
        let generation = open.generation + 1;
        let reopened = match msg {
            Msg::Stop => break,
            // Only a watch, started in `next_msg`; never returned from it.
            Msg::Faulted(..) => continue,
            Msg::Broken(_, g, _) if g != open.generation => continue,
            Msg::Broken(direction, _, reason) => {
                let (lost, kept) = (open.device(direction).clone(), open.device(direction.other()).clone());
                tracing::warn!(
                    ?direction,
                    device = %name_of(&lost),
                    reason = reason.as_deref().unwrap_or("gone"),
                    "audio device stopped working"
                );
                // A device that breaks again right after opening must not spin this loop.
                let since = open.opened.elapsed();
                if since < REOPEN_BACKOFF {
                    std::thread::sleep(REOPEN_BACKOFF - since);
                }
                drop(open);
                recover(
                    direction,
                    lost,
                    kept,
                    reason.is_some(),
                    generation,
                    &control_tx,
                    &events,
                )
            }
            Msg::Use(direction, name) => {
                let device = match resolve(direction, name.as_deref(), &events) {
                    Ok(d) => d,
                    Err(e) => {
                        emit(
                            &events,
                            DeviceEvent::Failed {
                                direction,
                                message: e.to_string(),
                            },
                        );
                        continue;
                    }
                };
                emit(
                    &events,
                    DeviceEvent::Switched {
                        direction,
                        now: name_of(&device),
                    },
                );
                let kept = open.device(direction.other()).clone();
                drop(open);
                open_pair(direction, device, kept, generation, &control_tx).map_err(|e| (direction, e))
            }
        };
        match reopened {
            Ok((fresh, io)) => {
                open = fresh;
                let _ = replacements.send(io);
            }
            Err((direction, e)) => {
                emit(
                    &events,
                    DeviceEvent::Failed {
                        direction,
                        message: e.to_string(),
                    },
                );
                break;
            }
        }
    }
}

/// Streams again after `lost` (for `direction`) stopped working, `kept` serving the other
/// direction. An error that may pass (`transient`: a backend error rather than an unplug)
/// gets the same devices once more; after that the default takes over, for this direction
/// and, when the other went with it (a headset, a sound server), for both.
fn recover(
    direction: Direction,
    lost: cpal::Device,
    kept: cpal::Device,
    transient: bool,
    generation: u64,
    control: &mpsc::Sender<Msg>,
    events: &Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>,
) -> Result<(Open, EngineIo), (Direction, MediaError)> {
    if transient {
        if let Ok(reopened) = open_pair(direction, lost.clone(), kept.clone(), generation, control) {
            return Ok(reopened);
        }
    }
    let default = fall_back(direction, name_of(&lost), events).map_err(|e| (direction, e))?;
    let first = open_pair(direction, default.clone(), kept.clone(), generation, control);
    if first.is_ok() {
        return first.map_err(|e| (direction, e));
    }
    let other = fall_back(direction.other(), name_of(&kept), events).map_err(|e| (direction.other(), e))?;
    open_pair(direction, default, other, generation, control).map_err(|e| (direction, e))
}

/// The system default for `direction` in place of `lost`, said with an event (unless the
/// default is what was lost: reopening it needs no notice).
fn fall_back(
    direction: Direction,
    lost: String,
    events: &Option<tokio::sync::mpsc::UnboundedSender<DeviceEvent>>,
) -> Result<cpal::Device, MediaError> {
    let found = find(direction, None)?;
    let now = name_of(&found);
    if now != lost {
        emit(events, DeviceEvent::FellBack { direction, lost, now });
    }
    Ok(found)
}

/// [`open_both`] with `device` for `direction` and `other` for the other direction.
fn open_pair(
    direction: Direction,
    device: cpal::Device,
    other: cpal::Device,
    generation: u64,
    control: &mpsc::Sender<Msg>,
) -> Result<(Open, EngineIo), MediaError> {
    match direction {
        Direction::Input => open_both(device, other, generation, control),
        Direction::Output => open_both(other, device, generation, control),
    }
}

impl AudioDevice for SystemAudio {
    fn start(&mut self) -> Result<EngineIo, MediaError> {
        self.stop();
        let (control_tx, control_rx) = mpsc::channel();
        let (repl_tx, repl_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (choice, events, tx) = (self.choice.clone(), self.events.clone(), control_tx.clone());
        let thread = std::thread::Builder::new()
            .name("audio-devices".into())
            .spawn(move || {
                let opened = resolve(Direction::Input, choice.input.as_deref(), &events).and_then(|i| {
                    let o = resolve(Direction::Output, choice.output.as_deref(), &events)?;
                    open_both(i, o, 0, &tx)
                });
                match opened {
                    Ok((open, io)) => {
                        let _ = ready_tx.send(Ok(io));
                        device_thread(open, tx, control_rx, repl_tx, events);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| dev_err("audio thread", e))?;
        let io = ready_rx
            .recv()
            .map_err(|_| dev_err("audio thread", "exited while opening devices"))??;
        self.control = Some(control_tx);
        self.replacements = Some(repl_rx);
        self.thread = Some(thread);
        Ok(io)
    }

    fn stop(&mut self) {
        if let Some(c) = self.control.take() {
            let _ = c.send(Msg::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.replacements = None;
    }

    fn replacement(&mut self) -> Option<EngineIo> {
        let rx = self.replacements.as_ref()?;
        let mut latest = None;
        while let Ok(io) = rx.try_recv() {
            latest = Some(io);
        }
        latest
    }

    fn describe(&self) -> String {
        format!(
            "input {}, output {}",
            self.choice.input.as_deref().unwrap_or("system default"),
            self.choice.output.as_deref().unwrap_or("system default")
        )
    }
}

impl Drop for SystemAudio {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn suspect(direction: Direction, generation: u64, since_us: u64) -> Suspect {
        Suspect {
            direction,
            generation,
            reason: "I/O error".into(),
            since_us,
            until: std::time::Instant::now() + FAULT_GRACE,
        }
    }

    /// A control channel whose only message, a stop, comes at twice the grace: a suspect
    /// that should count as broken would be reported before it.
    fn stop_after_the_grace() -> (mpsc::Receiver<Msg>, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let later = std::thread::spawn(move || {
            std::thread::sleep(FAULT_GRACE * 2);
            tx.send(Msg::Stop).unwrap();
        });
        (rx, later)
    }

    #[test]
    fn a_stream_that_goes_on_after_an_error_is_left_alone() {
        let (rx, later) = stop_after_the_grace();
        let mut suspects = vec![suspect(Direction::Output, 3, 1_000)];
        // The output kept pulling after the error; then the user stops.
        let msg = next_msg(&rx, &mut suspects, 3, |d, since| {
            d == Direction::Output && since == 1_000
        });
        assert!(
            matches!(msg, Some(Msg::Stop)),
            "no reopen, the next message is the stop"
        );
        assert!(suspects.is_empty(), "the suspicion is dropped once judged");
        later.join().unwrap();
    }

    #[test]
    fn a_stream_that_stops_after_an_error_is_broken_once_its_grace_is_over() {
        let (_tx, rx) = mpsc::channel();
        let mut suspects = vec![suspect(Direction::Input, 3, 1_000)];
        let start = std::time::Instant::now();
        let msg = next_msg(&rx, &mut suspects, 3, |_, _| false);
        assert!(start.elapsed() >= FAULT_GRACE, "judged only after the grace");
        match msg {
            Some(Msg::Broken(Direction::Input, 3, Some(reason))) => assert_eq!(reason, "I/O error"),
            _ => panic!("expected the input to count as broken"),
        }
    }

    #[test]
    fn an_error_report_starts_the_watch_and_a_silent_stream_is_then_broken() {
        let (tx, rx) = mpsc::channel();
        tx.send(Msg::Faulted(Direction::Output, 3, "I/O error".into(), 1_000))
            .unwrap();
        // A second report of the same stream adds no second watch.
        tx.send(Msg::Faulted(Direction::Output, 3, "I/O error".into(), 2_000))
            .unwrap();
        let mut suspects = Vec::new();
        let msg = next_msg(&rx, &mut suspects, 3, |_, _| false);
        assert!(matches!(msg, Some(Msg::Broken(Direction::Output, 3, Some(_)))));
        assert!(suspects.is_empty(), "one watch, judged once");
    }

    #[test]
    fn a_suspect_of_a_replaced_generation_is_forgotten() {
        let (rx, later) = stop_after_the_grace();
        // Generation 2 was replaced by 3 while it was watched: its grace ends unjudged.
        let mut suspects = vec![suspect(Direction::Input, 2, 1_000)];
        let msg = next_msg(&rx, &mut suspects, 3, |_, _| false);
        assert!(matches!(msg, Some(Msg::Stop)));
        later.join().unwrap();
    }
}
