//! Monitoring and attended transfer with real audio through the gateway: the simulator's
//! caller is a mixer, the agents and the supervisor are WebRTC peers driven the way the
//! desktop drives them (client + PeerSession), each with a WAV microphone of its own tone
//! and a WAV speaker. Which tones each party's speaker (or the caller's recording) holds,
//! in each stretch of the call, says who hears whom.

#![allow(clippy::print_stdout)] // levels are reported as well as asserted

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use switchboard_client::Client;
use switchboard_core::api::TransferTarget;
use switchboard_core::{CallSid, CallStatus, ConsultStep, MediaJoin, MonitorMode};
use switchboard_gateway::{demo, store};
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::peer::PeerSession;
use switchboard_media::session::MediaSession;
use switchboard_media::tone::{sine, tone_level, tone_presence};

const RATE: usize = 48_000;
const CALLER: f32 = 440.0;
/// The hold music's lower note (switchboard_media::tone::hold_music).
const HOLD: f32 = 660.0;
/// A tone this loud in a stretch was heard; this quiet, not.
const HEARD: f32 = 0.02;
const NOT_HEARD: f32 = 0.005;

/// A party's microphone (a steady tone) and speaker (a recording with a known start).
struct Phone {
    speaker: PathBuf,
    clock: Arc<std::sync::Mutex<Option<Instant>>>,
    device: Option<WavDevice>,
}

impl Phone {
    fn new(dir: &Path, name: &str, hz: f32) -> Self {
        let speaker = dir.join(format!("{name}-speaker.wav"));
        let device = WavDevice::new(WavSource::Samples(Arc::new(sine(hz, 0.3, RATE))), true).recording_to(&speaker);
        Self {
            speaker,
            clock: device.clock(),
            device: Some(device),
        }
    }

    async fn join(&mut self, client: &Client, media: &MediaJoin) -> PeerSession {
        let MediaJoin::Peer { signal } = media else {
            panic!("expected a peer to join, got {media:?}")
        };
        join_audio(client, signal, self.device.take().expect("joins once")).await
    }

    fn heard(&self) -> Heard {
        let start = self.clock.lock().unwrap().expect("the device ran");
        Heard {
            samples: read_wav(&self.speaker).expect("speaker recording"),
            start,
        }
    }
}

/// A recording and when its first sample was played.
struct Heard {
    samples: Vec<f32>,
    start: Instant,
}

impl Heard {
    /// The sample at `t`.
    fn at(&self, t: Instant) -> usize {
        (t.saturating_duration_since(self.start).as_secs_f64() * RATE as f64) as usize
    }

    /// The samples [`Heard::level`] measures between `from` and `to`: leaving a second
    /// after `from` for the change to reach this party and half a second before `to`.
    fn settled(&self, from: Instant, to: Instant) -> &[f32] {
        let a = self.at(from + Duration::from_secs(1));
        let b = self.at(to - Duration::from_millis(500)).min(self.samples.len());
        assert!(
            a + RATE / 2 <= b,
            "the recording covers the stretch ({a}..{b} of {})",
            self.samples.len()
        );
        &self.samples[a..b]
    }

    /// The level of `hz` in the settled part of `from`..`to` ([`Heard::settled`]). Block by
    /// block ([`tone_presence`]), so a playout stretch mid-way does not cancel the tone.
    fn level(&self, hz: f32, from: Instant, to: Instant) -> f32 {
        tone_presence(self.settled(from, to), hz)
    }

    /// The blocks of [`Heard::level`]'s samples where `hz` is at `above` or more. Said when
    /// a tone is heard that should not be, to tell a switch that came late (blocks at the
    /// start) from a leak (blocks throughout).
    fn loud_blocks(&self, hz: f32, from: Instant, to: Instant, above: f32) -> Vec<(usize, f32)> {
        blocks(self.settled(from, to), hz)
            .filter(|(_, level)| *level >= above)
            .collect()
    }

    /// The 100 ms blocks between `from` and `to` that lack `hz`.
    fn quiet_blocks(&self, hz: f32, from: Instant, to: Instant) -> Vec<(usize, f32)> {
        let (a, b) = (self.at(from), self.at(to).min(self.samples.len()));
        assert!(a + RATE <= b, "the recording covers the stretch");
        blocks(&self.samples[a..b], hz)
            .filter(|(_, level)| *level < HEARD)
            .collect()
    }
}

/// `samples` in 100 ms blocks: where each starts (ms into `samples`) and `hz`'s level in it.
fn blocks(samples: &[f32], hz: f32) -> impl Iterator<Item = (usize, f32)> + '_ {
    samples
        .chunks_exact(RATE / 10)
        .enumerate()
        .map(move |(i, block)| (i * 100, tone_level(block, hz)))
}

/// One stretch of the call and what each listener must (and must not) hear in it.
struct Stretch<'a> {
    name: &'a str,
    from: Instant,
    to: Instant,
}

impl<'a> Stretch<'a> {
    fn new(name: &'a str, from: Instant, to: Instant) -> Self {
        Self { name, from, to }
    }
}

fn expect(who: &str, heard: &Heard, s: &Stretch<'_>, hz: f32, audible: bool) {
    let level = heard.level(hz, s.from, s.to);
    println!("{:>10} | {who:>6} hears {hz:>6} Hz at {level:.4}", s.name);
    if audible {
        assert!(
            level > HEARD,
            "{}: {who} should hear {hz} Hz (level {level:.4})",
            s.name
        );
    } else {
        assert!(
            level < NOT_HEARD,
            "{}: {who} should not hear {hz} Hz (level {level:.4}; 100 ms blocks at 0.01 or more, ms into the stretch: {:?})",
            s.name,
            heard.loud_blocks(hz, s.from, s.to, 0.01)
        );
    }
}

struct Call {
    _db: TestDb,
    _dir: tempfile::TempDir,
    _gw: TestGateway,
    recordings: PathBuf,
    sid: CallSid,
    clients: std::collections::HashMap<&'static str, Client>,
}

/// A gateway whose simulator's caller says `CALLER`, and one inbound call waiting.
async fn ring_in(dir: tempfile::TempDir, logins: &[&'static str]) -> Call {
    let db = TestDb::sqlite().await;
    let recordings = dir.path().join("recordings");
    let store = store::connect(db.url()).await.expect("store");
    let mut sim = quiet_sim();
    sim["media"] = serde_json::json!({ "recordings_dir": recordings, "loopback_only": true, "caller_tone_hz": CALLER });
    let seeded = demo::seed_business(&*store, "Floor Co", "sim-floor", sim, 710, 5)
        .await
        .expect("seed");
    let gw = TestGateway::with_store(store.clone()).await;
    let mut clients = std::collections::HashMap::new();
    for login in logins {
        clients.insert(*login, gw.client(&token(&*store, &seeded, login).await));
    }
    let (code, body) = post_webhook(
        &reqwest::Client::new(),
        &gw.base,
        "sim-floor",
        &inbound("SIM-FLOOR-1", "f1", 1_000, CallStatus::Ringing, "+14155550710"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let alice = &clients["alice"];
    let sid = eventually(10, "the call in the queue", || async {
        alice
            .queue()
            .await
            .ok()?
            .calls
            .into_iter()
            .next()
            .map(|c| c.call.call_sid)
    })
    .await;
    Call {
        _db: db,
        _dir: dir,
        _gw: gw,
        recordings,
        sid,
        clients,
    }
}

impl Call {
    async fn wait(&self, want: CallStatus) {
        let c = &self.clients["alice"];
        eventually(10, &format!("call {want}"), || async {
            (c.call(&self.sid).await.ok()?.call.status == want).then_some(())
        })
        .await;
    }

    /// The caller's recording once the call is over; its first sample was mixed when the
    /// first desktop joined (`mixed_from`).
    async fn caller_heard(&self, mixed_from: Instant) -> Heard {
        let path = self.recordings.join(format!("{}.wav", self.sid));
        let samples = eventually(10, "the caller's finished recording", || async {
            read_wav(&path).ok().filter(|s| s.len() > RATE * 5)
        })
        .await;
        Heard {
            samples,
            start: mixed_from,
        }
    }
}

async fn talk(secs: u64) -> Instant {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_listens_whispers_barges_and_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut alice_phone, mut sam_phone) = (
        Phone::new(dir.path(), "alice", 700.0),
        Phone::new(dir.path(), "sam", 1_000.0),
    );
    let call = ring_in(dir, &["alice", "sam"]).await;
    let (alice, sam, sid) = (&call.clients["alice"], &call.clients["sam"], call.sid.clone());

    let answered = alice.answer(&sid).await.expect("answer");
    let mixed_from = Instant::now();
    let alice_audio = alice_phone.join(alice, &answered.media).await;
    call.wait(CallStatus::Answered).await;
    let t0 = talk(2).await;

    let listening = sam.monitor(&sid, MonitorMode::Listen).await.expect("listen");
    assert_eq!(listening.call.monitors.len(), 1);
    let sam_audio = sam_phone.join(sam, &listening.media).await;
    let t_listen = Instant::now();
    let t1 = talk(4).await;
    let switched = sam.switch_monitor(&sid, MonitorMode::Whisper).await.expect("whisper");
    assert_eq!(switched.media, MediaJoin::None, "a switch keeps the session");
    let t2 = talk(4).await;
    sam.switch_monitor(&sid, MonitorMode::Barge).await.expect("barge");
    let t3 = talk(4).await;
    let left = sam.stop_monitor(&sid).await.expect("leave");
    assert!(left.call.monitors.is_empty());
    let t4 = talk(4).await;
    assert_eq!(
        alice.call(&sid).await.expect("call").call.status,
        CallStatus::Answered,
        "the call goes on after the supervisor leaves"
    );
    alice.end(&sid).await.expect("end");
    call.wait(CallStatus::Completed).await;
    sam_audio.close().await;
    alice_audio.close().await;

    let (caller, alice_ear, sam_ear) = (
        call.caller_heard(mixed_from).await,
        alice_phone.heard(),
        sam_phone.heard(),
    );
    let before = Stretch::new("before", mixed_from, t0);
    let listen = Stretch::new("listen", t_listen, t1);
    let whisper = Stretch::new("whisper", t1, t2);
    let barge = Stretch::new("barge", t2, t3);
    let after = Stretch::new("after", t3, t4);
    expect("caller", &caller, &before, 700.0, true);
    expect("alice", &alice_ear, &before, CALLER, true);
    // Listen: sam hears caller and agent; nobody hears sam.
    expect("sam", &sam_ear, &listen, CALLER, true);
    expect("sam", &sam_ear, &listen, 700.0, true);
    expect("alice", &alice_ear, &listen, 1_000.0, false);
    expect("caller", &caller, &listen, 1_000.0, false);
    // Whisper: alice hears sam, the caller does not.
    expect("sam", &sam_ear, &whisper, CALLER, true);
    expect("alice", &alice_ear, &whisper, 1_000.0, true);
    expect("alice", &alice_ear, &whisper, CALLER, true);
    expect("caller", &caller, &whisper, 1_000.0, false);
    expect("caller", &caller, &whisper, 700.0, true);
    // Barge: everyone hears everyone.
    expect("alice", &alice_ear, &barge, 1_000.0, true);
    expect("caller", &caller, &barge, 1_000.0, true);
    expect("caller", &caller, &barge, 700.0, true);
    expect("sam", &sam_ear, &barge, CALLER, true);
    // The switches keep sam's session: he hears the caller in every 100 ms across both.
    // A switch that rebuilt his session or dropped his mix would cost 100 ms blocks at the
    // switch, or a run of them. One lone block away from both switches is a scheduling
    // hiccup of this 2-core machine with the binary's other audio tests running beside
    // it (seen once in a full suite; none in 17 runs since, 8 of them of the whole
    // binary): printed, not failed.
    let from = t_listen + Duration::from_secs(1);
    let gaps = sam_ear.quiet_blocks(CALLER, from, t3 - Duration::from_millis(500));
    let switches = [t1, t2].map(|t| t.duration_since(from).as_millis() as usize);
    let near_a_switch = |at: usize| switches.iter().any(|s| at + 100 + 300 > *s && at < s + 300);
    let in_a_run = |at: usize| gaps.iter().any(|(other, _)| other.abs_diff(at) == 100);
    let lost: Vec<_> = gaps
        .iter()
        .filter(|(at, _)| near_a_switch(*at) || in_a_run(*at))
        .collect();
    println!(
        "sam's quiet 100 ms blocks (ms from a second into the listen, level), switches at {switches:?} ms: {gaps:?}"
    );
    assert!(
        lost.is_empty(),
        "sam lost the caller at a switch ({switches:?} ms) or for more than 100 ms at once; quiet blocks (ms, level): {gaps:?}"
    );
    // After leaving: caller and agent go on, without sam.
    expect("caller", &caller, &after, 1_000.0, false);
    expect("alice", &alice_ear, &after, 1_000.0, false);
    expect("caller", &caller, &after, 700.0, true);
    expect("alice", &alice_ear, &after, CALLER, true);
}

/// Start a consult with bob and let him join; returns his audio and when it connected.
async fn consult_bob(call: &Call, bob_phone: &mut Phone) -> (PeerSession, Instant) {
    let (alice, bob, sid) = (&call.clients["alice"], &call.clients["bob"], &call.sid);
    let bob_id = bob.me().await.expect("me").id;
    let started = alice
        .consult(sid, TransferTarget::Agent(bob_id))
        .await
        .expect("consult");
    assert_eq!(
        started.call.consult.as_ref().map(|c| c.to.clone()),
        Some(format!("agent:{bob_id}"))
    );
    // Not before bob picks up.
    let early = alice
        .consult_step(sid, ConsultStep::Complete)
        .await
        .expect_err("still ringing");
    assert!(early.to_string().contains("not picked up"), "{early}");
    let no = alice
        .consult_step(sid, ConsultStep::Accept)
        .await
        .expect_err("alice cannot accept");
    assert!(no.to_string().contains("another agent"), "{no}");
    let accepted = bob.consult_step(sid, ConsultStep::Accept).await.expect("accept");
    let audio = bob_phone.join(bob, &accepted.media).await;
    call.wait(CallStatus::OnHold).await;
    (audio, Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attended_transfer_consults_confers_and_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut alice_phone, mut bob_phone) = (
        Phone::new(dir.path(), "alice", 700.0),
        Phone::new(dir.path(), "bob", 1_000.0),
    );
    let call = ring_in(dir, &["alice", "bob"]).await;
    let (alice, bob, sid) = (&call.clients["alice"], &call.clients["bob"], call.sid.clone());
    let answered = alice.answer(&sid).await.expect("answer");
    let mixed_from = Instant::now();
    let alice_audio = alice_phone.join(alice, &answered.media).await;
    call.wait(CallStatus::Answered).await;
    let t0 = talk(2).await;

    let (bob_audio, t_consult) = consult_bob(&call, &mut bob_phone).await;
    let t1 = talk(4).await;
    let bob_complete = bob
        .consult_step(&sid, ConsultStep::Complete)
        .await
        .expect_err("bob cannot complete");
    assert!(bob_complete.to_string().contains("another agent"), "{bob_complete}");
    alice
        .consult_step(&sid, ConsultStep::Conference)
        .await
        .expect("conference");
    call.wait(CallStatus::Answered).await;
    let t2 = talk(4).await;
    let done = alice.consult_step(&sid, ConsultStep::Complete).await.expect("complete");
    let bob_id = bob.me().await.expect("me").id;
    assert_eq!(done.call.agent_id, Some(bob_id), "the call is bob's now");
    assert!(done.call.consult.is_none());
    let t3 = talk(4).await;
    // alice is free: the call is not hers to act on any more.
    let gone = alice.hold(&sid).await.expect_err("not alice's call");
    assert!(gone.to_string().contains("another agent"), "{gone}");
    bob.end(&sid).await.expect("bob ends");
    call.wait(CallStatus::Completed).await;
    bob_audio.close().await;
    alice_audio.close().await;

    let (caller, alice_ear, bob_ear) = (
        call.caller_heard(mixed_from).await,
        alice_phone.heard(),
        bob_phone.heard(),
    );
    let before = Stretch::new("before", mixed_from, t0);
    let consult = Stretch::new("consult", t_consult, t1);
    let three = Stretch::new("three-way", t1, t2);
    let after = Stretch::new("completed", t2, t3);
    expect("caller", &caller, &before, 700.0, true);
    // The consult: the caller hears hold music and neither agent; the agents hear each
    // other and not the caller.
    expect("caller", &caller, &consult, HOLD, true);
    expect("caller", &caller, &consult, 700.0, false);
    expect("caller", &caller, &consult, 1_000.0, false);
    expect("alice", &alice_ear, &consult, 1_000.0, true);
    expect("alice", &alice_ear, &consult, CALLER, false);
    expect("bob", &bob_ear, &consult, 700.0, true);
    expect("bob", &bob_ear, &consult, CALLER, false);
    // The three-way: everyone.
    expect("caller", &caller, &three, 700.0, true);
    expect("caller", &caller, &three, 1_000.0, true);
    expect("alice", &alice_ear, &three, CALLER, true);
    expect("bob", &bob_ear, &three, CALLER, true);
    // Completed: caller and bob; alice is gone.
    expect("caller", &caller, &after, 1_000.0, true);
    expect("caller", &caller, &after, 700.0, false);
    expect("bob", &bob_ear, &after, CALLER, true);
    expect("bob", &bob_ear, &after, 700.0, false);

    // The trail of the call says what happened, in order.
    let trail: Vec<String> = bob
        .call(&sid)
        .await
        .expect("detail")
        .history
        .into_iter()
        .map(|h| h.what)
        .collect();
    let consults: Vec<&String> = trail
        .iter()
        .filter(|w| w.contains("consult") || w.contains("conference"))
        .collect();
    assert_eq!(consults.len(), 4, "{trail:?}");
    assert!(consults[0].starts_with("consult started with agent:"), "{trail:?}");
    assert!(consults[3].starts_with("transferred to agent:"), "{trail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_consult_gives_the_caller_back_and_a_number_can_be_consulted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut alice_phone, mut bob_phone) = (
        Phone::new(dir.path(), "alice", 700.0),
        Phone::new(dir.path(), "bob", 1_000.0),
    );
    let call = ring_in(dir, &["alice", "bob"]).await;
    let (alice, sid) = (&call.clients["alice"], call.sid.clone());
    let answered = alice.answer(&sid).await.expect("answer");
    let mixed_from = Instant::now();
    let alice_audio = alice_phone.join(alice, &answered.media).await;
    call.wait(CallStatus::Answered).await;
    let (bob_audio, t_consult) = consult_bob(&call, &mut bob_phone).await;
    let t1 = talk(3).await;
    alice.consult_step(&sid, ConsultStep::Cancel).await.expect("cancel");
    call.wait(CallStatus::Answered).await;
    let t2 = talk(4).await;

    // An outside number: it rings, then speaks its own tone to alice only.
    let outside = switchboard_telephony::simulator::media::OUTSIDE_PARTY_HZ;
    let number = TransferTarget::Number("+14155550199".parse().expect("number"));
    alice.consult(&sid, number).await.expect("consult a number");
    call.wait(CallStatus::OnHold).await;
    let t3 = Instant::now();
    let t4 = talk(4).await;
    alice
        .consult_step(&sid, ConsultStep::Cancel)
        .await
        .expect("cancel the number");
    call.wait(CallStatus::Answered).await;
    let t5 = talk(3).await;
    alice.end(&sid).await.expect("end");
    call.wait(CallStatus::Completed).await;
    bob_audio.close().await;
    alice_audio.close().await;

    let (caller, alice_ear, bob_ear) = (
        call.caller_heard(mixed_from).await,
        alice_phone.heard(),
        bob_phone.heard(),
    );
    let consult = Stretch::new("consult", t_consult, t1);
    let back = Stretch::new("cancelled", t1, t2);
    let number = Stretch::new("number", t3, t4);
    let back_again = Stretch::new("back", t4, t5);
    expect("alice", &alice_ear, &consult, 1_000.0, true);
    expect("caller", &caller, &back, 700.0, true);
    expect("caller", &caller, &back, 1_000.0, false);
    expect("alice", &alice_ear, &back, CALLER, true);
    expect("alice", &alice_ear, &back, 1_000.0, false);
    // bob's leg was hung up: nothing more reached his speaker after the cancel.
    expect("bob", &bob_ear, &back, 700.0, false);
    expect("alice", &alice_ear, &number, outside, true);
    expect("caller", &caller, &number, outside, false);
    expect("caller", &caller, &number, HOLD, true);
    expect("caller", &caller, &back_again, 700.0, true);
    expect("alice", &alice_ear, &back_again, outside, false);
}
