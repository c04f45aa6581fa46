//! Two instances of the real desktop app, each in a real window of its own (Xvfb) and
//! driven through WebDriver, against the real gateway with the demo simulator: agent
//! alice answers a call; supervisor sam watches the floor on his board, then listens,
//! whispers, barges and leaves. Each app has WAV files as its sound devices: alice's
//! microphone says 700 Hz, sam's 1,000 Hz; the demo caller's phrase holds 440 Hz.
//!
//! Checked: the board shows alice on the call; alice's console shows nothing while sam
//! only listens (the demo business does not announce listening), "coaching" while he
//! whispers, "joined" while he barges, nothing after he leaves; and what each one heard:
//! sam hears caller and agent throughout; alice hears sam only while he whispers or
//! barges; the caller only while he barges.
//!
//! sam's app runs on a session bus of its own (the app is single-instance per session, and
//! a second launch would hand over to alice's), so he signs in for the session only.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/desks.rs"]
mod desks;
#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::time::{Duration, Instant};

use desks::{RATE, began, expect, level};
use switchboard_e2e::meter_above;
use switchboard_media::device::read_wav;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_listens_whispers_and_barges_from_the_board() {
    // Every wait inside is bounded too; this only turns a stuck driver into a failure.
    tokio::time::timeout(Duration::from_secs(420), board())
        .await
        .expect("finished within 7 minutes");
}

async fn board() {
    switchboard_e2e::require_keyring();
    let desks = desks::open(("alice", 700.0), ("sam", 1_000.0)).await;
    let (a, s) = (&desks.first.window.ui, &desks.second.window.ui);
    let (alice_ear, sam_ear) = (&desks.first.ear, &desks.second.ear);
    // Agents have no supervisor tab; the status and the gateway link are two things.
    assert_eq!(a.count("#nav-supervisor").await, 0, "agents never see the board");
    a.until_text("#connection", "the gateway link", |t| t.contains("Gateway connected"))
        .await;

    // alice takes a call.
    a.choose("#status-select", "available").await;
    a.until_count("#queue .queue-item", 1).await;
    a.click("#btn-answer").await;
    a.until_text("#call-status", "Connected", |t| t == "Connected").await;
    a.until_text("#audio-state", "Audio connected", |t| t == "Audio connected")
        .await;

    // sam's board: alice is on a call, and the call is listed.
    s.click("#nav-supervisor").await;
    s.until_count("#board .call-row.connected", 1).await;
    s.until_text("#agent-tile-alice", "alice on a call", |t| {
        t.contains("Alice") && !t.contains("No call")
    })
    .await;
    s.until_count("#board .queue-card", 1).await;
    s.shot("supervisor-01-board").await;

    // Listen.
    s.click("#board .call-row.connected button[id^='btn-listen-']").await;
    s.el("#monitor-panel").await;
    s.until_attr("#sup-meter-speaker", "data-dbfs", "sam hears the call", |v| {
        meter_above(v, -40.0)
    })
    .await;
    let t_listen = Instant::now();
    s.shot("supervisor-02-listening").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        a.count("#supervisor-indicator").await,
        0,
        "covert listening shows nothing to alice"
    );
    a.shot("supervisor-03-agent-while-listened").await;

    // Whisper: alice is told.
    s.click("#board .call-row.connected button[id^='btn-whisper-']").await;
    let t_whisper = Instant::now();
    a.until_attr("#supervisor-indicator", "data-mode", "whisper shown", |m| {
        m == "whisper"
    })
    .await;
    let shown = a.text("#supervisor-indicator").await;
    assert!(shown.contains("Sam Lindqvist"), "{shown}");
    a.shot("supervisor-04-agent-sees-whisper").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Barge.
    s.click("#board .call-row.connected button[id^='btn-barge-']").await;
    let t_barge = Instant::now();
    a.until_attr("#supervisor-indicator", "data-mode", "barge shown", |m| m == "barge")
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Leave: the call goes on without him.
    s.click("#board .call-row.connected button[id^='btn-leave-']").await;
    let t_leave = Instant::now();
    s.gone("#monitor-panel").await;
    let sam_stopped = Instant::now();
    a.gone("#supervisor-indicator").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t_end = Instant::now();
    assert_eq!(a.text("#call-status").await, "Connected", "the call goes on");
    a.click("#btn-end").await;
    a.until_text("#call-status", "Completed", |t| t == "Completed").await;
    let call_stopped = Instant::now();

    // What each heard. The recordings are complete once the call ended and the apps
    // closed their audio; the caller's is the demo simulator's, beside its data.
    let caller = desks::caller_heard(desks.dir.path()).await;
    let alice_heard = gw::eventually(15, "alice's speaker", || async {
        read_wav(alice_ear).ok().filter(|s| s.len() > RATE * 20)
    })
    .await;
    let sam_heard = read_wav(sam_ear).unwrap();
    let (caller_start, alice_start, sam_start) = (
        began(&caller, call_stopped),
        began(&alice_heard, call_stopped),
        began(&sam_heard, sam_stopped),
    );
    let stretches = [
        ("listen", t_listen, t_whisper),
        ("whisper", t_whisper, t_barge),
        ("barge", t_barge, t_leave),
        ("after", t_leave, t_end),
    ];
    for (name, from, to) in stretches {
        let sam_on = name != "after";
        let alice_hears_sam = matches!(name, "whisper" | "barge");
        let caller_hears_sam = name == "barge";
        expect(
            name,
            "alice",
            level(&alice_heard, alice_start, 1_000.0, from, to),
            1_000.0,
            alice_hears_sam,
        );
        expect(
            name,
            "caller",
            level(&caller, caller_start, 1_000.0, from, to),
            1_000.0,
            caller_hears_sam,
        );
        expect(
            name,
            "caller",
            level(&caller, caller_start, 700.0, from, to),
            700.0,
            true,
        );
        expect(
            name,
            "alice",
            level(&alice_heard, alice_start, 440.0, from, to),
            440.0,
            true,
        );
        if sam_on {
            expect(name, "sam", level(&sam_heard, sam_start, 700.0, from, to), 700.0, true);
            expect(name, "sam", level(&sam_heard, sam_start, 440.0, from, to), 440.0, true);
        }
    }
}
