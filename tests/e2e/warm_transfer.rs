//! An attended (warm) transfer between two instances of the real desktop app, each in a
//! real window of its own (Xvfb), driven through WebDriver, against the real gateway with
//! the demo simulator. alice's microphone says 700 Hz, bob's 1,000 Hz (WAV devices).
//!
//! alice answers a call and consults bob: bob's console offers the consult and he picks it
//! up; alice cancels and is back with the caller; she consults him again, brings the caller
//! in (three-way), then completes: the call is bob's, alice's softphone is free. Checked in
//! the windows and in what each party heard: during a consult the caller hears the hold
//! music and neither agent, alice and bob hear each other; after the cancel the caller
//! hears alice again; after the completion the caller hears bob and not alice.
//!
//! bob's app runs on a session bus of its own (the app is single-instance per session).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/desks.rs"]
mod desks;
#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::time::{Duration, Instant};

use desks::{began, expect, level};
use switchboard_media::device::read_wav;

/// The hold music's lower note (switchboard_media::tone::hold_music).
const HOLD: f32 = 660.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_consults_a_colleague_then_transfers_the_caller() {
    tokio::time::timeout(Duration::from_secs(420), warm_transfer())
        .await
        .expect("finished within 7 minutes");
}

async fn warm_transfer() {
    switchboard_e2e::require_keyring();
    let desks = desks::open(("alice", 700.0), ("bob", 1_000.0)).await;
    let (a, b) = (&desks.first.window.ui, &desks.second.window.ui);
    let (alice_ear, bob_ear) = (&desks.first.ear, &desks.second.ear);

    a.choose("#status-select", "available").await;
    a.until_count("#queue .queue-item", 1).await;
    a.click("#btn-answer").await;
    a.until_text("#call-status", "Connected", |t| t == "Connected").await;
    a.until_text("#audio-state", "Audio connected", |t| t == "Audio connected")
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Consult bob; he picks up from the offer on his console.
    let consult = async |n: &str| {
        a.click("#btn-consult").await;
        a.until_count("#consult-agent option[value^='agent:']", 2).await;
        let mut value = None;
        for o in
            a.c.find_all(fantoccini::Locator::Css("#consult-agent option"))
                .await
                .unwrap()
        {
            if o.text().await.unwrap().starts_with("Bob") {
                value = o.attr("value").await.unwrap();
            }
        }
        a.choose("#consult-agent", &value.expect("bob is listed")).await;
        a.click("#btn-consult-go").await;
        a.until_attr("#consult-bar", "data-state", "ringing", |s| s == "ringing")
            .await;
        b.el("#consult-offer").await;
        b.shot(&format!("warm-{n}-bob-offered")).await;
        let t_bob = Instant::now();
        b.click("#btn-consult-accept").await;
        b.until_text("#audio-state", "bob's audio", |t| t == "Audio connected")
            .await;
        a.until_attr("#consult-bar", "data-state", "talking", |s| s == "talking")
            .await;
        a.until_text("#call-status", "On hold", |t| t == "On hold").await;
        t_bob
    };
    let t_bob = consult("01").await;
    a.shot("warm-02-alice-consulting").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Cancel: back to the caller, bob's console is free.
    a.click("#btn-consult-cancel").await;
    let t_cancel = Instant::now();
    a.until_text("#call-status", "Connected", |t| t == "Connected").await;
    b.gone("#consult-bar").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Again, then the three-way, then the handover.
    let t_again = Instant::now();
    consult("03").await;
    a.click("#btn-consult-conference").await;
    a.until_attr("#consult-bar", "data-state", "conference", |s| s == "conference")
        .await;
    let t_conference = Instant::now();
    a.shot("warm-04-three-way").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    a.click("#btn-consult-complete").await;
    let t_complete = Instant::now();
    b.until_text("#call-status", "the call is bob's", |t| t == "Connected")
        .await;
    a.gone("#consult-bar").await;
    a.until_text("#softphone", "alice is free", |t| t.contains("No active call"))
        .await;
    let alice_stopped = Instant::now();
    b.shot("warm-05-bob-has-the-call").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t_end = Instant::now();
    b.click("#btn-end").await;
    b.until_text("#call-status", "Completed", |t| t == "Completed").await;
    let call_stopped = Instant::now();

    let caller = desks::caller_heard(desks.dir.path()).await;
    let alice_heard = read_wav(alice_ear).unwrap();
    let bob_heard = read_wav(bob_ear).unwrap();
    let (caller_start, alice_start, bob_start) = (
        began(&caller, call_stopped),
        began(&alice_heard, alice_stopped),
        began(&bob_heard, call_stopped),
    );
    // bob's first consult: his speaker file is rewritten when he joins the second time.
    let first = ("consult", t_bob, t_cancel);
    let back = ("back", t_cancel, t_again);
    let three = ("three-way", t_conference, t_complete);
    let after = ("completed", t_complete, t_end);
    let on = |s: &[f32], start, hz, (_, f, t): (&str, Instant, Instant)| level(s, start, hz, f, t);
    expect(first.0, "caller", on(&caller, caller_start, HOLD, first), HOLD, true);
    expect(first.0, "caller", on(&caller, caller_start, 700.0, first), 700.0, false);
    expect(
        first.0,
        "caller",
        on(&caller, caller_start, 1_000.0, first),
        1_000.0,
        false,
    );
    expect(
        first.0,
        "alice",
        on(&alice_heard, alice_start, 1_000.0, first),
        1_000.0,
        true,
    );
    expect(back.0, "caller", on(&caller, caller_start, 700.0, back), 700.0, true);
    expect(
        back.0,
        "caller",
        on(&caller, caller_start, 1_000.0, back),
        1_000.0,
        false,
    );
    expect(
        back.0,
        "alice",
        on(&alice_heard, alice_start, 1_000.0, back),
        1_000.0,
        false,
    );
    expect(three.0, "caller", on(&caller, caller_start, 700.0, three), 700.0, true);
    expect(
        three.0,
        "caller",
        on(&caller, caller_start, 1_000.0, three),
        1_000.0,
        true,
    );
    expect(
        after.0,
        "caller",
        on(&caller, caller_start, 1_000.0, after),
        1_000.0,
        true,
    );
    expect(after.0, "caller", on(&caller, caller_start, 700.0, after), 700.0, false);
    // bob's speaker holds his second session (from the second consult on to the end).
    expect(three.0, "bob", on(&bob_heard, bob_start, 700.0, three), 700.0, true);
    expect(after.0, "bob", on(&bob_heard, bob_start, 700.0, after), 700.0, false);
}
