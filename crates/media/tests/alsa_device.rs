//! The cpal device path through real ALSA. The test writes its own ALSA configuration (a
//! temporary HOME with an .asoundrc): a capture PCM that reads a raw file the test wrote
//! (a 1 kHz tone) and a playback PCM that writes to a raw file, both behind `plug` so
//! ALSA converts from the engine's 48 kHz mono float. No sound card is needed.
//!
//! The headset that goes away mid-call is served by a PulseAudio daemon the test starts
//! (a sine source and a null sink, through ALSA's pulse plugin) and kills while streaming.
//!
//! ALSA reads `$HOME/.asoundrc` once per process, so the test runs its body in a child
//! process (this same test binary) with HOME pointing at the test's directory.

#![allow(clippy::print_stdout)] // figures are reported, not asserted

use std::time::Duration;

#[path = "support/pulse.rs"]
mod pulse;
use pulse::Pulse;

use switchboard_media::device::{
    AudioDevice, DeviceChoice, DeviceEvent, Direction, EngineIo, SystemAudio, list_devices,
};
use switchboard_media::tone::{dominant_frequency, sine, tone_blocks};

/// The test's ALSA devices: a file-backed microphone and speaker, also the default.
fn asoundrc(infile: &str, outfile: &str) -> String {
    format!(
        r#"
pcm.sb_mic {{
    type plug
    slave {{
        pcm {{ type file slave.pcm "null" infile "{infile}" file "/dev/null" format "raw" }}
        format S16_LE
        rate 48000
        channels 1
    }}
    hint {{ show on description "Switchboard test microphone" }}
}}
pcm.sb_speaker {{
    type plug
    slave {{
        pcm {{ type file slave.pcm "null" file "{outfile}" format "raw" }}
        format S16_LE
        rate 48000
        channels 1
    }}
    hint {{ show on description "Switchboard test speaker" }}
}}
pcm.!default {{
    type asym
    capture.pcm "sb_mic"
    playback.pcm "sb_speaker"
}}
"#
    )
}

/// The first run of `len` non-zero samples, where a run ends at 16 zeros in a row; zeros
/// inside a run (short underruns) are left out.
fn first_stretch(samples: &[f32], len: usize) -> Option<Vec<f32>> {
    let mut run = Vec::with_capacity(len);
    let mut zeros = 0;
    for &s in samples {
        if s == 0.0 {
            zeros += 1;
            if zeros == 16 {
                run.clear();
            }
            continue;
        }
        zeros = 0;
        run.push(s);
        if run.len() == len {
            return Some(run);
        }
    }
    None
}

/// Take at least `n` captured samples (bounded wait), following the device's replacement
/// rings as the engine does: the device thread reopens streams after an error the sound
/// system does not recover from by itself, and the old rings then go quiet.
async fn capture(device: &mut SystemAudio, io: &mut EngineIo, n: usize) -> Vec<f32> {
    let mut captured = Vec::new();
    let mut reopened = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while captured.len() < n && std::time::Instant::now() < deadline {
        if let Some(fresh) = device.replacement() {
            *io = fresh;
            reopened += 1;
        }
        while let Ok(s) = io.capture.pop() {
            captured.push(s);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "captured {} samples; streams reopened {reopened} times meanwhile",
        captured.len()
    );
    assert!(
        captured.len() >= n,
        "captured only {} samples (streams reopened {reopened} times)",
        captured.len()
    );
    captured
}

fn read_s16(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("raw output")
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

#[test]
fn cpal_streams_through_alsa_and_falls_back_to_the_default() {
    let home = tempfile::tempdir().expect("tempdir");
    let (infile, outfile) = (home.path().join("mic.raw"), home.path().join("speaker.raw"));
    let tone: Vec<u8> = sine(1000.0, 0.5, 48_000 * 10)
        .iter()
        .flat_map(|s| ((s * 32767.0) as i16).to_le_bytes())
        .collect();
    std::fs::write(&infile, tone).expect("write mic file");
    std::fs::write(
        home.path().join(".asoundrc"),
        asoundrc(&infile.display().to_string(), &outfile.display().to_string()),
    )
    .expect("write .asoundrc");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "alsa_child", "--nocapture"])
        .env("HOME", home.path())
        .status()
        .expect("run the child");
    assert!(status.success(), "the ALSA part failed (see its output above)");
}

/// A call whose headset goes away: the far end hears the headset, then the default device.
#[test]
fn a_call_goes_on_when_its_headset_goes_away() {
    let home = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "call_child", "--nocapture"])
        .env("HOME", home.path())
        .status()
        .expect("run the child");
    assert!(status.success(), "the call failed (see its output above)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by cpal_streams_through_alsa_and_falls_back_to_the_default with its own HOME"]
async fn alsa_child() {
    let home = std::path::PathBuf::from(std::env::var("HOME").expect("HOME"));
    assert!(home.join(".asoundrc").exists(), "run through the parent test");
    // A headset behind a sound server, added before ALSA first reads its configuration.
    let mut headset = Pulse::start(&home, "headset", 600);
    let mut rc = std::fs::OpenOptions::new()
        .append(true)
        .open(home.join(".asoundrc"))
        .expect("open .asoundrc");
    std::io::Write::write_all(
        &mut rc,
        headset.alsa_pcm("sb_headset", "Switchboard test headset").as_bytes(),
    )
    .expect("add the headset");
    drop(rc);
    let outfile = home.join("speaker.raw");
    let list = tokio::task::spawn_blocking(list_devices)
        .await
        .expect("join")
        .expect("enumerate");
    println!("ALSA devices: inputs {:?} outputs {:?}", list.inputs, list.outputs);
    assert!(
        list.inputs.iter().any(|n| n == "Switchboard test microphone"),
        "{list:?}"
    );
    assert!(list.outputs.iter().any(|n| n == "Switchboard test speaker"), "{list:?}");

    // A remembered choice that no longer exists falls back to the default, with an event.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let choice = DeviceChoice {
        input: Some("USB headset that was unplugged".into()),
        output: Some("Switchboard test speaker".into()),
    };
    let choice_file = home.join("devices.json");
    choice.save(&choice_file).expect("save choice");
    assert_eq!(DeviceChoice::load(&choice_file), choice, "the choice is remembered");
    let mut device = SystemAudio::new(DeviceChoice::load(&choice_file), Some(tx));
    let mut io = device.start().expect("start ALSA streams");
    let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event")
        .expect("open");
    match event {
        DeviceEvent::FellBack {
            direction: Direction::Input,
            lost,
            now,
        } => {
            assert_eq!(lost, "USB headset that was unplugged");
            assert!(!now.is_empty());
        }
        other => panic!("expected a fallback, got {other:?}"),
    }

    // Capture: the tone in the file arrives in the engine's ring.
    let mut captured = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let speaker = sine(440.0, 0.5, 48_000);
    let mut played = 0;
    // The device thread may reopen the streams (with fresh rings) when ALSA reports an
    // error it does not recover from by itself; the engine follows `replacement()`, and
    // so does this loop.
    let mut reopened = 0;
    while captured.len() < 9600 && std::time::Instant::now() < deadline {
        if let Some(fresh) = device.replacement() {
            io = fresh;
            reopened += 1;
            played = 0;
        }
        while let Ok(s) = io.capture.pop() {
            captured.push(s);
        }
        // Playback: keep the speaker ring fed with a 440 Hz tone.
        while played < speaker.len() && io.playback.push(speaker[played]).is_ok() {
            played += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while played < speaker.len() && std::time::Instant::now() < deadline {
        if io.playback.push(speaker[played]).is_ok() {
            played += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    device.stop();
    let mut later = Vec::new();
    while let Ok(e) = rx.try_recv() {
        later.push(e);
    }
    println!("streams reopened {reopened} times; device events meanwhile: {later:?}");
    assert!(
        captured.len() >= 9600,
        "captured only {} samples (streams reopened {reopened} times, events {later:?})",
        captured.len()
    );
    let f = dominant_frequency(&captured[captured.len() - 4800..]).expect("tone");
    assert!((f - 1000.0).abs() < 15.0, "captured {f} Hz");
    let out = read_s16(&outfile);
    assert!(out.len() >= 9600, "played only {} samples to the file", out.len());
    // What ALSA's `file` plugin writes over the `null` PCM is only partly the stream: the
    // null PCM consumes as fast as it is fed, so the engine's ring underruns (our callback
    // fills exact zeros) and, after longer underruns, the plugin writes stale buffer areas
    // again. The first long stretch of sound is a faithful copy, so measure that one, with
    // the underrun zeros inside it left out.
    let faithful = first_stretch(&out, 4800).unwrap_or_else(|| {
        panic!(
            "no stretch of 4800 samples of sound in the speaker file ({} samples)",
            out.len()
        )
    });
    let f = dominant_frequency(&faithful).expect("a tone in the speaker file");
    assert!((f - 440.0).abs() < 15.0, "speaker file holds {f} Hz");

    // The headset in use goes away mid-call (its sound server dies): both directions fall
    // back to the default, with an event each, and capture goes on from the default.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let on_headset = DeviceChoice {
        input: Some("Switchboard test headset".into()),
        output: Some("Switchboard test headset".into()),
    };
    let mut device = SystemAudio::new(on_headset, Some(tx));
    let mut io = device.start().expect("open the headset");
    let heard = capture(&mut device, &mut io, 9600).await;
    let f = dominant_frequency(&heard[heard.len() - 4800..]).expect("headset tone");
    assert!((f - 600.0).abs() < 15.0, "the headset microphone gave {f} Hz");
    assert!(rx.try_recv().is_err(), "no device event while the headset works");
    // The sound server delivers small periods, so nothing overflowed the 200 ms ring.
    let (overruns, _) = io.counters.snapshot();
    assert_eq!(
        overruns, 0,
        "captured samples dropped at the ring: periods too long for it"
    );

    headset.kill();
    let mut fell_back = Vec::new();
    while fell_back.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no fallback within 10 s of the headset going away (so far {fell_back:?})"))
            .expect("events open");
        match event {
            DeviceEvent::FellBack { direction, lost, now } => {
                assert_eq!(lost, "Switchboard test headset");
                assert_ne!(now, lost);
                fell_back.push(direction);
            }
            other => panic!("expected a fallback, got {other:?}"),
        }
    }
    fell_back.sort_by_key(|d| *d == Direction::Output);
    assert_eq!(fell_back, [Direction::Input, Direction::Output]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut io = loop {
        if let Some(fresh) = device.replacement() {
            break fresh;
        }
        if std::time::Instant::now() > deadline {
            let mut later = Vec::new();
            while let Ok(e) = rx.try_recv() {
                later.push(e);
            }
            panic!("no replacement rings after the fallback; later events: {later:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let heard = capture(&mut device, &mut io, 9600).await;
    let f = dominant_frequency(&heard[heard.len() - 4800..]).expect("default microphone tone");
    assert!(
        (f - 1000.0).abs() < 15.0,
        "after the fallback the microphone gave {f} Hz"
    );
    device.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_call_goes_on_when_its_headset_goes_away with its own HOME"]
async fn call_child() {
    use switchboard_media::device::{WavDevice, WavSource, read_wav};
    use switchboard_media::peer::{PeerConfig, PeerSession};
    use switchboard_media::pipeline::PipelineConfig;
    use switchboard_media::session::{MediaSession, MediaState};

    let home = std::path::PathBuf::from(std::env::var("HOME").expect("HOME"));
    // Both devices are sound servers, so both are paced like real hardware.
    let mut headset = Pulse::start(&home, "headset", 600);
    let builtin = Pulse::start(&home, "builtin", 440);
    std::fs::write(
        home.join(".asoundrc"),
        headset.alsa_pcm("sb_headset", "Switchboard test headset") + &builtin.alsa_pcm("!default", "Built-in audio"),
    )
    .expect("write .asoundrc");

    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let choice = DeviceChoice {
        input: Some("Switchboard test headset".into()),
        output: Some("Switchboard test headset".into()),
    };
    let agent = PeerSession::new(
        Box::new(SystemAudio::new(choice, Some(tx))),
        PeerConfig {
            loopback_only: true,
            ..PeerConfig::default()
        },
    )
    .await
    .expect("agent session");
    let heard_file = home.join("far-end.wav");
    let far = PeerSession::new(
        Box::new(WavDevice::new(WavSource::Silence, false).recording_to(&heard_file)),
        PeerConfig {
            loopback_only: true,
            pipeline: PipelineConfig {
                voice_processing: false,
                ..PipelineConfig::default()
            },
            ..PeerConfig::default()
        },
    )
    .await
    .expect("far session");
    let offer = agent.offer(false).await.expect("offer");
    let answer = far.answer(&offer).await.expect("answer");
    agent.accept_answer(&answer).await.expect("accept");

    // The far end hears the call for a second, continuously: its speaker meter above
    // -25 dBFS (the tones arrive at -5 to -15; concealment fading out reads about -33, and
    // the meter goes stale within 250 ms when nothing arrives).
    let heard_for = |secs: f32| {
        let far = far.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            let mut since = None;
            loop {
                let now = tokio::time::Instant::now();
                if far.state() == MediaState::Connected && far.levels().output.rms_dbfs > -25.0 {
                    if (now - *since.get_or_insert(now)).as_secs_f32() >= secs {
                        return;
                    }
                } else {
                    since = None;
                }
                assert!(now < deadline, "the far end did not hear {secs} s of the call");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    heard_for(1.0).await;

    headset.kill();
    let mut fell_back = Vec::new();
    while fell_back.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(DeviceEvent::FellBack { direction, lost, .. })) if lost == "Switchboard test headset" => {
                fell_back.push(direction)
            }
            other => panic!("expected the headset's two fallbacks, got {other:?} after {fell_back:?}"),
        }
    }
    heard_for(1.0).await;
    assert!(
        events.try_recv().is_err(),
        "nothing more to say once on the default device"
    );
    agent.close().await;
    far.close().await;

    let heard = read_wav(&heard_file).expect("the far end's recording");
    let blocks = tone_blocks(&heard, &[600, 440]);
    println!("the far end heard 100 ms blocks: {blocks:?}");
    let last_headset = blocks
        .iter()
        .rposition(|t| *t == 600)
        .expect("the far end heard the headset");
    let first_default = blocks
        .iter()
        .position(|t| *t == 440)
        .expect("the far end heard the default device");
    assert!(last_headset < first_default, "{blocks:?}");
    assert!(
        blocks.iter().filter(|t| **t == 440).count() >= 8,
        "at least 0.8 s of the default device: {blocks:?}"
    );
}
