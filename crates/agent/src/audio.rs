//! Call audio for the console: joins the media the gateway announces when a call is
//! answered (a direct peer, `MediaJoin::Peer`, or a LiveKit room, `MediaJoin::LiveKit`;
//! both are a [`MediaSession`] from then on), keeps a direct peer alive across network
//! drops (ICE restart through the gateway's signalling endpoint), follows hold / resume /
//! mute / end, sends DTMF in band where the gateway does not, and streams levels and device
//! changes to the UI. A PBX call (`MediaJoin::External`) is on the agent's own phone: the
//! console only says which.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchboard_client::Client;
use switchboard_core::desktop::{AudioLevel, AudioLevels, DesktopError, UiEvent};
use switchboard_core::{CallSid, MediaJoin};
use switchboard_media::MediaError;
use switchboard_media::device::{AudioDevice, DeviceChoice, SystemAudio, WavDevice, WavSource, read_wav};
use switchboard_media::peer::{PeerConfig, PeerSession, forward_device_events};
use switchboard_media::room::RoomSession;
use switchboard_media::session::{MediaEvent, MediaSession, MediaState};
use tokio::sync::Mutex;

/// Where call audio comes from and goes to.
#[derive(Debug, Clone)]
pub enum AudioSetup {
    /// The system's sound devices; the choice is remembered in this file.
    System { choice_file: PathBuf },
    /// Files (tests, demos on machines without sound): `mic` is played as the microphone,
    /// what the agent hears is written to `speaker`.
    Wav { mic: PathBuf, speaker: PathBuf },
}

struct Joined {
    sid: CallSid,
    /// The session now: a room session dropped by the server is replaced by a new one.
    session: Slot,
    task: tokio::task::JoinHandle<()>,
    /// Keys go in the call's audio from here (the direct peer), not only through the gateway.
    keys_in_band: bool,
    /// What the controls set, for a replacement session to start from.
    controls: Arc<Controls>,
}

type Slot = Arc<std::sync::RwLock<Arc<dyn MediaSession>>>;

/// Mute and hold as the agent left them.
#[derive(Default)]
struct Controls {
    muted: std::sync::atomic::AtomicBool,
    held: std::sync::atomic::AtomicBool,
    /// We are leaving: a closed session is not to be replaced.
    leaving: std::sync::atomic::AtomicBool,
}

fn current(slot: &Slot) -> Arc<dyn MediaSession> {
    slot.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// How a dropped transport comes back.
enum Recover {
    /// A direct peer: ICE restart offers through the gateway's signalling endpoint.
    Peer {
        session: PeerSession,
        client: Client,
        signal: String,
    },
    /// A LiveKit room: the room session resumes by itself; when the server drops it, a
    /// new one joins with a fresh token from the gateway.
    Room {
        client: Client,
        device: Arc<dyn Fn() -> Box<dyn AudioDevice> + Send + Sync>,
        config: PeerConfig,
    },
}

/// Is the server at `url` this machine (loopback)?
fn on_this_machine(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.split('/').next().unwrap_or(host);
    let host = host.rsplit_once(':').map_or(
        host,
        |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host },
    );
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Joined {
    /// Close the session; the watcher reports "closed" to the UI and ends by itself.
    async fn close(self) {
        self.controls.leaving.store(true, std::sync::atomic::Ordering::SeqCst);
        let session = current(&self.session);
        // What the caller's audio went through: the line that explains "they broke up".
        let s = session.stats();
        tracing::info!(
            call_sid = %self.sid,
            received = s.jitter.received,
            played = s.jitter.played,
            concealed = s.jitter.concealed,
            rebuilt = s.jitter.rebuilt,
            late = s.jitter.late,
            shrunk = s.jitter.shrunk,
            stretched = s.jitter.stretched,
            discarded = s.jitter.discarded,
            playback_underruns = s.playback_underruns,
            capture_overruns = s.capture_overruns,
            "the call's audio ended"
        );
        session.close().await;
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// The console's audio side; one call at a time.
pub(crate) struct Audio {
    setup: std::sync::Mutex<AudioSetup>,
    joined: Mutex<Option<Joined>>,
    /// The microphone file of [`AudioSetup::Wav`], decoded.
    mic: std::sync::Mutex<Option<MicFile>>,
}

/// A microphone file's samples, kept from one call to the next. Decoding is slow for an
/// async worker to do at every answer (a 150 s recording took 1.3 s of CPU in a debug
/// build, on the task that was joining the call) and made a new 29 MB buffer per call.
/// The file is read again when its size or modification time changed.
struct MicFile {
    path: PathBuf,
    stamp: (u64, Option<SystemTime>),
    samples: Arc<Vec<f32>>,
}

impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audio").finish_non_exhaustive()
    }
}

fn media_err(what: &str, e: impl std::fmt::Display) -> DesktopError {
    DesktopError::Invalid(format!("{what}: {e}"))
}

fn level(l: switchboard_media::level::Level) -> AudioLevel {
    AudioLevel {
        rms_dbfs: l.rms_dbfs,
        peak_dbfs: l.peak_dbfs,
    }
}

impl Audio {
    pub(crate) fn new(setup: AudioSetup) -> Self {
        Self {
            setup: std::sync::Mutex::new(setup),
            joined: Mutex::new(None),
            mic: std::sync::Mutex::new(None),
        }
    }

    /// The samples of the microphone file at `path` (48 kHz mono), decoded off the async
    /// workers the first time and whenever the file changed since.
    async fn mic_samples(&self, path: &Path) -> Result<Arc<Vec<f32>>, MediaError> {
        let unreadable = |message: String| MediaError::Wav {
            path: path.display().to_string(),
            message,
        };
        let meta = tokio::fs::metadata(path).await.map_err(|e| unreadable(e.to_string()))?;
        let stamp = (meta.len(), meta.modified().ok());
        if let Ok(kept) = self.mic.lock() {
            if let Some(kept) = kept.as_ref().filter(|k| k.path == path && k.stamp == stamp) {
                return Ok(kept.samples.clone());
            }
        }
        let owned = path.to_path_buf();
        let samples = tokio::task::spawn_blocking(move || read_wav(&owned))
            .await
            .map_err(|e| unreadable(e.to_string()))??;
        let samples = Arc::new(samples);
        if let Ok(mut kept) = self.mic.lock() {
            *kept = Some(MicFile {
                path: path.to_path_buf(),
                stamp,
                samples: samples.clone(),
            });
        }
        Ok(samples)
    }

    pub(crate) fn set_setup(&self, setup: AudioSetup) {
        if let Ok(mut s) = self.setup.lock() {
            *s = setup;
        }
    }

    /// What settings shows: the system's devices and the remembered choice.
    pub(crate) async fn devices(&self) -> Result<switchboard_core::desktop::AudioDeviceList, DesktopError> {
        let choice_file = match self.setup() {
            AudioSetup::Wav { .. } => {
                return Ok(switchboard_core::desktop::AudioDeviceList {
                    files: true,
                    ..Default::default()
                });
            }
            AudioSetup::System { choice_file } => choice_file,
        };
        // Enumeration talks to the sound server: keep it off the async threads.
        let list = tokio::task::spawn_blocking(switchboard_media::device::list_devices)
            .await
            .map_err(|e| media_err("Listing audio devices", e))?
            .map_err(|e| media_err("Listing audio devices", e))?;
        let choice = DeviceChoice::load(&choice_file);
        Ok(switchboard_core::desktop::AudioDeviceList {
            inputs: list.inputs,
            outputs: list.outputs,
            input: choice.input,
            output: choice.output,
            files: false,
        })
    }

    /// Remember a device choice for the next calls.
    pub(crate) fn choose(&self, input: bool, name: Option<String>) -> Result<(), DesktopError> {
        let AudioSetup::System { choice_file } = self.setup() else {
            return Err(DesktopError::Invalid(
                "calls use audio files in this setup; there is no device to pick".into(),
            ));
        };
        let mut choice = DeviceChoice::load(&choice_file);
        if input {
            choice.input = name;
        } else {
            choice.output = name;
        }
        choice
            .save(&choice_file)
            .map_err(|e| media_err("Saving the audio device choice", e))
    }

    pub(crate) fn setup(&self) -> AudioSetup {
        self.setup.lock().map(|s| s.clone()).unwrap_or(AudioSetup::System {
            choice_file: PathBuf::new(),
        })
    }

    async fn device(
        &self,
        emit: &Arc<dyn Fn(UiEvent) + Send + Sync>,
    ) -> (
        Box<dyn AudioDevice>,
        Option<tokio::sync::mpsc::UnboundedReceiver<switchboard_media::device::DeviceEvent>>,
    ) {
        match self.setup() {
            AudioSetup::Wav { mic, speaker } => {
                let source = match self.mic_samples(&mic).await {
                    Ok(samples) => WavSource::Samples(samples),
                    Err(e) => {
                        emit(UiEvent::AudioProblem { message: e.to_string() });
                        WavSource::Silence
                    }
                };
                (Box::new(WavDevice::new(source, false).recording_to(&speaker)), None)
            }
            AudioSetup::System { choice_file } => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                (
                    Box::new(SystemAudio::new(DeviceChoice::load(&choice_file), Some(tx))),
                    Some(rx),
                )
            }
        }
    }

    /// Join the call's audio as the gateway said to. `MediaJoin::None` does nothing.
    pub(crate) async fn join(
        &self,
        client: Client,
        sid: &CallSid,
        join: &MediaJoin,
        muted: bool,
        emit: Arc<dyn Fn(UiEvent) + Send + Sync>,
    ) -> Result<(), DesktopError> {
        tracing::info!(call_sid = %sid, "joining the call's audio");
        match join {
            MediaJoin::Peer { signal } => self.join_peer(client, sid, signal, muted, emit).await,
            MediaJoin::LiveKit { url, token, .. } => self.join_room(client, sid, url, token, muted, emit).await,
            // The PBX carries this call's audio to the agent's own phone: say where.
            MediaJoin::External { extension } => {
                self.leave_any().await;
                emit(UiEvent::AudioState {
                    call_sid: sid.clone(),
                    state: format!("external:{extension}"),
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A direct WebRTC peer: our offer through the gateway's signalling endpoint.
    async fn join_peer(
        &self,
        client: Client,
        sid: &CallSid,
        signal: &str,
        muted: bool,
        emit: Arc<dyn Fn(UiEvent) + Send + Sync>,
    ) -> Result<(), DesktopError> {
        self.leave_any().await;
        let (device, device_events) = self.device(&emit).await;
        let session = PeerSession::new(device, PeerConfig::default())
            .await
            .map_err(|e| media_err("Call audio", e))?;
        if let Some(rx) = device_events {
            forward_device_events(&session, rx);
        }
        session.set_muted(muted).await;
        // Listen before the answer goes in: on loopback ICE can connect before a task
        // spawned afterwards subscribes, and a missed `Connected` left the console on
        // "No call audio" for the whole call (seen once in CI's warm-transfer run).
        let events = session.subscribe();
        let offer = session.offer(false).await.map_err(|e| media_err("Call audio", e))?;
        let answer = client
            .media_offer(signal, &offer)
            .await
            .map_err(|e| media_err("Joining the call audio", e))?;
        session
            .accept_answer(&answer)
            .await
            .map_err(|e| media_err("Call audio", e))?;
        let recover = Recover::Peer {
            session: session.clone(),
            client,
            signal: signal.to_owned(),
        };
        self.install(sid, Arc::new(session), events, recover, emit, muted, true)
            .await;
        Ok(())
    }

    /// A LiveKit room: the caller is a participant there; we publish the microphone and
    /// play what we are sent.
    async fn join_room(
        &self,
        client: Client,
        sid: &CallSid,
        url: &str,
        token: &str,
        muted: bool,
        emit: Arc<dyn Fn(UiEvent) + Send + Sync>,
    ) -> Result<(), DesktopError> {
        self.leave_any().await;
        let (device, device_events) = self.device(&emit).await;
        // A server on this machine is reached over loopback, which WebRTC leaves out of
        // its candidates unless asked.
        let config = PeerConfig {
            loopback_only: on_this_machine(url),
            ..PeerConfig::default()
        };
        let room = RoomSession::join(url, token, device, config.clone())
            .await
            .map_err(|e| media_err("Joining the call's room", e))?;
        if let Some(rx) = device_events {
            forward_device_events(room.peer(), rx);
        }
        room.set_muted(muted).await;
        let events = room.subscribe();
        let room: Arc<dyn MediaSession> = Arc::new(room);
        // A replacement session's device: the same setup, without the device-change
        // reports (the first session's device keeps those).
        let setup = self.setup();
        let mic = match &setup {
            AudioSetup::Wav { mic, .. } => self.mic_samples(mic).await.ok(),
            AudioSetup::System { .. } => None,
        };
        let device = Arc::new(move || -> Box<dyn AudioDevice> {
            match &setup {
                AudioSetup::Wav { speaker, .. } => Box::new(
                    WavDevice::new(mic.clone().map_or(WavSource::Silence, WavSource::Samples), false)
                        .recording_to(&speaker.with_extension("rejoined.wav")),
                ),
                AudioSetup::System { choice_file } => Box::new(SystemAudio::new(DeviceChoice::load(choice_file), None)),
            }
        });
        let recover = Recover::Room { client, device, config };
        // The gateway sends a LiveKit caller's keys itself (SipDTMF); sending them from the
        // room too would press each key twice.
        self.install(sid, room, events, recover, emit, muted, false).await;
        Ok(())
    }

    /// Hold `session` as the call's audio, watched until it ends.
    #[allow(clippy::too_many_arguments)]
    async fn install(
        &self,
        sid: &CallSid,
        session: Arc<dyn MediaSession>,
        events: tokio::sync::broadcast::Receiver<MediaEvent>,
        recover: Recover,
        emit: Arc<dyn Fn(UiEvent) + Send + Sync>,
        muted: bool,
        keys_in_band: bool,
    ) {
        let session: Slot = Arc::new(std::sync::RwLock::new(session));
        let controls = Arc::new(Controls::default());
        controls.muted.store(muted, std::sync::atomic::Ordering::SeqCst);
        let task = tokio::spawn(watch(
            session.clone(),
            events,
            recover,
            sid.clone(),
            emit,
            controls.clone(),
        ));
        *self.joined.lock().await = Some(Joined {
            sid: sid.clone(),
            session,
            task,
            keys_in_band,
            controls,
        });
    }

    async fn with(&self, sid: &CallSid) -> Option<Arc<dyn MediaSession>> {
        self.joined
            .lock()
            .await
            .as_ref()
            .filter(|j| &j.sid == sid)
            .map(|j| current(&j.session))
    }

    pub(crate) async fn hold(&self, sid: &CallSid, on_hold: bool) {
        let joined = self.joined.lock().await;
        if let Some(j) = joined.as_ref().filter(|j| &j.sid == sid) {
            j.controls.held.store(on_hold, std::sync::atomic::Ordering::SeqCst);
            current(&j.session).set_hold(on_hold).await;
        }
    }

    pub(crate) async fn mute(&self, muted: bool) {
        if let Some(j) = self.joined.lock().await.as_ref() {
            j.controls.muted.store(muted, std::sync::atomic::Ordering::SeqCst);
            current(&j.session).set_muted(muted).await;
        }
    }

    pub(crate) async fn dtmf(&self, sid: &CallSid, digits: &str) -> Result<(), DesktopError> {
        let in_band = self
            .joined
            .lock()
            .await
            .as_ref()
            .is_some_and(|j| &j.sid == sid && j.keys_in_band);
        match self.with(sid).await.filter(|_| in_band) {
            Some(s) => s
                .send_dtmf(digits)
                .await
                .map_err(|e| DesktopError::Invalid(e.to_string())),
            None => Ok(()),
        }
    }

    /// Leave this call's audio (ended, transferred).
    pub(crate) async fn leave(&self, sid: &CallSid) {
        let joined = {
            let mut j = self.joined.lock().await;
            if j.as_ref().is_some_and(|j| &j.sid == sid) {
                j.take()
            } else {
                None
            }
        };
        if let Some(j) = joined {
            j.close().await;
        }
    }

    pub(crate) async fn leave_any(&self) {
        let joined = self.joined.lock().await.take();
        if let Some(j) = joined {
            tracing::info!(call_sid = %j.sid, "leaving the call's audio");
            j.close().await;
        }
    }
}

/// How long an accepted ICE restart is given to connect before another one may replace
/// it: a peer's ICE reports failure within 4 s ([`PeerConfig`]'s `failed_after`), so a
/// restart that cannot connect has said so by then.
const RESTART_GRACE: Duration = Duration::from_secs(4);

/// Forward levels (10 Hz) and state to the UI; on a network drop of a direct peer,
/// renegotiate with an ICE restart every 2 s until the media is back or the call is gone;
/// when a LiveKit server drops a room session for good, join again with a fresh token.
///
/// One restart at a time is in play. A request that hangs while the network is down holds
/// up this loop, and the drop's later reports (disconnected, then failed) and the retry
/// ticks wait behind it; once it is answered they are stale. Acting on each would restart
/// ICE again and again, each one throwing away the candidate checks of the one before, and
/// the agent would hear nothing until the last of them connected.
async fn watch(
    slot: Slot,
    mut events: tokio::sync::broadcast::Receiver<MediaEvent>,
    recover: Recover,
    sid: CallSid,
    emit: Arc<dyn Fn(UiEvent) + Send + Sync>,
    controls: Arc<Controls>,
) {
    // Ten meter readings a second. Every reading that moves a bar is a frame WebKit
    // composites whole: under Mesa's software GL (VMs, virtual desktops) ~25-50 ms of CPU
    // each at 1440x900, so 20 a second kept the web process above one core for the whole
    // call and starved the call's own audio on two cores.
    let mut meters = tokio::time::interval(Duration::from_millis(100));
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    // Ticks missed while a restart request hung are not owed: no burst of restarts after it.
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut restarting = false;
    let mut renegotiated_at: Option<tokio::time::Instant> = None;
    // Whether a restart is wanted now: not while the last accepted one is still connecting,
    // nor once the media is back.
    let wanted = |renegotiated_at: Option<tokio::time::Instant>| {
        current(&slot).state() != MediaState::Connected
            && renegotiated_at.is_none_or(|at| at.elapsed() >= RESTART_GRACE)
    };
    let restart_now = || async {
        match &recover {
            Recover::Peer {
                session,
                client,
                signal,
            } => restart(session, client, signal).await,
            Recover::Room { .. } => false,
        }
    };
    let state = |state: &str| {
        emit(UiEvent::AudioState {
            call_sid: sid.clone(),
            state: state.to_owned(),
        });
    };
    loop {
        tokio::select! {
            _ = meters.tick() => {
                let l = current(&slot).levels();
                emit(UiEvent::AudioLevels(AudioLevels { input: level(l.input), output: level(l.output) }));
            }
            _ = retry.tick(), if restarting && wanted(renegotiated_at) => {
                if restart_now().await {
                    renegotiated_at = Some(tokio::time::Instant::now());
                    state("renegotiated");
                }
                retry.reset();
            }
            ev = events.recv() => match ev {
                Ok(MediaEvent::State { state: MediaState::Closed }) => {
                    if let (Recover::Room { client, device, config }, false) =
                        (&recover, controls.leaving.load(std::sync::atomic::Ordering::SeqCst))
                    {
                        state("reconnecting");
                        if let Some(fresh) = rejoin(client, &sid, device(), config.clone()).await {
                            fresh.set_muted(controls.muted.load(std::sync::atomic::Ordering::SeqCst)).await;
                            fresh.set_hold(controls.held.load(std::sync::atomic::Ordering::SeqCst)).await;
                            events = fresh.subscribe();
                            *slot.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                            if controls.leaving.load(std::sync::atomic::Ordering::SeqCst) {
                                current(&slot).close().await;
                            }
                            continue;
                        }
                    }
                    state("closed");
                    return;
                }
                Ok(MediaEvent::State { state: s }) => {
                    restarting = s == MediaState::Reconnecting && matches!(recover, Recover::Peer { .. });
                    state(&format!("{s:?}").to_lowercase());
                }
                Ok(MediaEvent::RestartNeeded) => {
                    // Restart at once (the retry arm does it, if one is still wanted).
                    restarting = matches!(recover, Recover::Peer { .. });
                    retry.reset_immediately();
                }
                Ok(MediaEvent::Device { event }) => {
                    emit(UiEvent::AudioProblem { message: describe(&event) });
                }
                Ok(MediaEvent::Dtmf { .. }) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }
}

/// Join the call's room again with a fresh token from the gateway: a few tries, while the
/// call is still ours and still a LiveKit call.
async fn rejoin(
    client: &Client,
    sid: &CallSid,
    device: Box<dyn AudioDevice>,
    config: PeerConfig,
) -> Option<Arc<dyn MediaSession>> {
    let mut device = Some(device);
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let join = match client.media_join(sid).await {
            Ok(j) => j,
            Err(e) => {
                tracing::info!(error = %e, "no fresh join for the call's audio");
                // The call is over or no longer ours: nothing to rejoin.
                if e.status().is_some_and(|s| s.is_client_error()) {
                    return None;
                }
                continue;
            }
        };
        let MediaJoin::LiveKit { url, token, .. } = join else {
            return None;
        };
        match RoomSession::join(&url, &token, device.take()?, config.clone()).await {
            Ok(room) => return Some(Arc::new(room)),
            Err(e) => {
                tracing::warn!(error = %e, "rejoining the call's room failed");
                return None;
            }
        }
    }
    None
}

/// One ICE restart through the gateway; true when the far end accepted it.
async fn restart(session: &PeerSession, client: &Client, signal: &str) -> bool {
    let attempt = async {
        let offer = session.offer(true).await.map_err(|e| e.to_string())?;
        let answer = client.media_offer(signal, &offer).await.map_err(|e| e.to_string())?;
        session.accept_answer(&answer).await.map_err(|e| e.to_string())
    };
    match attempt.await {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(error = %e, "ICE restart failed; retrying");
            false
        }
    }
}

fn describe(event: &switchboard_media::device::DeviceEvent) -> String {
    use switchboard_media::device::{DeviceEvent, Direction};
    let what = |d: &Direction| match d {
        Direction::Input => "Microphone",
        Direction::Output => "Speaker",
    };
    match event {
        DeviceEvent::FellBack { direction, lost, now } => {
            format!("{} \"{lost}\" is gone; using \"{now}\"", what(direction))
        }
        DeviceEvent::Switched { direction, now } => format!("{} switched to \"{now}\"", what(direction)),
        DeviceEvent::Failed { direction, message } => format!("{} failed: {message}", what(direction)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Audio, AudioSetup, on_this_machine};
    use std::sync::Arc;
    use switchboard_media::device::write_wav;

    #[tokio::test]
    async fn the_microphone_file_is_decoded_once_and_again_when_it_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mic = dir.path().join("mic.wav");
        let audio = Audio::new(AudioSetup::Wav {
            mic: mic.clone(),
            speaker: dir.path().join("speaker.wav"),
        });
        let missing = audio.mic_samples(&mic).await.expect_err("no file yet");
        assert!(missing.to_string().contains("mic.wav"), "{missing}");

        write_wav(&mic, &vec![0.25; 4_800]).expect("write");
        let first = audio.mic_samples(&mic).await.expect("decoded");
        assert_eq!(first.len(), 4_800);
        assert!((first[0] - 0.25).abs() < 1e-3, "{}", first[0]);
        let again = audio.mic_samples(&mic).await.expect("kept");
        assert!(Arc::ptr_eq(&first, &again), "the same file was decoded twice");

        // Another recording in its place (another length, so the change shows even on a
        // file system whose clock is too coarse to tell the two writes apart).
        write_wav(&mic, &vec![-0.5; 9_600]).expect("rewrite");
        let changed = audio.mic_samples(&mic).await.expect("decoded again");
        assert_eq!(changed.len(), 9_600);
        assert!((changed[0] + 0.5).abs() < 1e-3, "{}", changed[0]);

        std::fs::write(&mic, b"RIFF nonsense").expect("break");
        let broken = audio.mic_samples(&mic).await.expect_err("not a WAV");
        assert!(broken.to_string().contains("mic.wav"), "{broken}");
    }

    #[test]
    fn a_server_on_this_machine_is_one_on_loopback() {
        assert!(on_this_machine("ws://127.0.0.1:7880"));
        assert!(on_this_machine("wss://localhost/rtc"));
        assert!(on_this_machine("ws://[::1]:7880"));
        assert!(!on_this_machine("wss://project.livekit.cloud"));
        assert!(!on_this_machine("ws://10.0.0.7:7880"));
    }
}
