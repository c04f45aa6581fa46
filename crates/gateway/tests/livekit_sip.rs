//! A LiveKit SIP provider in the gateway, with every peer real: Redis, `livekit-server` and
//! `livekit-sip` (built by `cargo xtask setup` from the Go module proxy) on loopback,
//! Debian's baresip as the caller's phone, SIPp (Debian's sip-tester) as the phones that
//! are busy, never answer or take a transfer, and PyPI `livekit` (LiveKit's own client
//! SDK with its WebRTC) as the agent in the room. Nothing here stands in for LiveKit.
//!
//! Checked, inbound: adding the provider and a number over the API provisions the trunk
//! and the dispatch rule; baresip's call reaches livekit-sip, which puts the caller in a
//! room of its own; the server's own signed `participant_joined` webhook rings the call in
//! the queue with LiveKit's `sip.callID` and the parties; answering returns a token for
//! that room, with which the SDK joins: it hears the caller's 440 Hz and the caller hears
//! its 1 kHz; on hold the caller hears the gateway's music (660 Hz) and the two do not
//! hear each other, resume brings them back; ending removes the caller, baresip gets the
//! BYE, and the record completes with its duration. A second call is transferred by REFER
//! to another phone. Keys sent to a caller arrive at its phone as RFC 4733 events; a
//! supervisor listens hidden and silent (whisper and barge are refused on LiveKit calls).
//!
//! Outbound (`CreateSIPParticipant`): answered by a SIPp UAS, then ended (its BYE); a busy
//! phone (486) ends `failed` and one that never answers `missed`, the SIP code kept.
//!
//! Seed 000's two ids: Twilio's signed status callbacks (Twilio's cloud cannot run here:
//! the test posts what it would, signed as it signs) create the record with the carrier's
//! `CA…` id; the carrier's SIP leg, a SIPp UAC sending the `X-Twilio-CallSid` header Twilio
//! adds, reaches livekit-sip, and the server's `participant_joined` carries both that id
//! (`sip.twilio.callSid`) and LiveKit's own: one record, controlled through LiveKit. Without
//! the header the service-number fallback finds the call, the newest of two first.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;
#[allow(dead_code)]
mod twilio_cloud;

use std::time::Duration;

use serde_json::json;
use support::*;
use switchboard_client::Client;
use switchboard_core::api::{OutboundCallRequest, TransferTarget};
use switchboard_core::{
    AgentStatus, CallErrorCode, CallRecord, CallStatus, MediaJoin, MonitorMode, NumberId, VoicePlatform,
};
use switchboard_e2e::livekit::{Baresip, LiveKitStack, RoomPeer, Sipp, blocks_near, tone_wav_8k};
use switchboard_telephony::livekit::TRANSFER_UNCONFIRMED;
use switchboard_telephony::livekit::token::{self, ApiKey};
use switchboard_telephony::livekit::twirp::Twirp;
use switchboard_telephony::secret::Secret;

const NUMBER: &str = "+14155550177";
const CALLER: &str = "+16285550131";

/// A gateway on SQLite with a LiveKit provider `lk` on a real LiveKit stack.
struct World {
    _db: TestDb,
    seeded: switchboard_gateway::demo::Seeded,
    gw: TestGateway,
    http: reqwest::Client,
    admin: String,
    alice: Client,
    lk: LiveKitStack,
    api: Twirp,
    provider_id: serde_json::Value,
}

impl World {
    async fn start(extra: serde_json::Value) -> Self {
        let db = TestDb::sqlite().await;
        let (gw, seeded) = TestGateway::start(&db, 1).await;
        let seeded = seeded.into_iter().next().unwrap();
        let http = reqwest::Client::new();
        let admin = admin_token(&gw, &seeded).await;
        let alice = gw.client(&token(&*gw.store, &seeded, "alice").await);
        let lk = LiveKitStack::start(true, &[format!("{}/webhooks/livekit/lk", gw.base)]);
        gw.add_secret("LIVEKIT_SECRET", &lk.secret);
        let mut config = json!({ "url": lk.url, "api_key": lk.key, "api_secret": "secret:LIVEKIT_SECRET" });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let provider_id = add_provider(&http, &gw, &admin, "lk", "livekit", config).await;
        let api = Twirp::new(
            &lk.url,
            ApiKey {
                key: lk.key.clone(),
                secret: Secret::new(lk.secret.clone()),
            },
        );
        alice.set_status(AgentStatus::Available).await.unwrap();
        Self {
            _db: db,
            seeded,
            gw,
            http,
            admin,
            alice,
            lk,
            api,
            provider_id,
        }
    }

    /// Add a number to `lk`; returns once LiveKit's trunks carry it.
    async fn add_number(&self, e164: &str, inbound: bool, outbound: bool) -> NumberId {
        let n = add_number(
            &self.http,
            &self.gw,
            &self.admin,
            json!({ "e164": e164, "label": "LiveKit line", "provider_id": self.provider_id, "inbound": inbound, "outbound": outbound }),
        )
        .await;
        eventually(20, "LiveKit's trunks carry the number", || async {
            let name = "switchboard:lk";
            let ins = self.api.list_inbound_trunks().await.ok()?;
            let outs = self.api.list_outbound_trunks().await.ok()?;
            let carries = |numbers: &[String]| numbers.iter().any(|n| n == e164);
            let inbound_ok = !inbound || ins.iter().any(|t| t.name == name && carries(&t.numbers));
            let outbound_ok = !outbound || outs.iter().any(|t| t.name == name && carries(&t.numbers));
            (inbound_ok && outbound_ok).then_some(())
        })
        .await;
        serde_json::from_value(n["id"].clone()).unwrap()
    }

    fn keys(&self) -> [ApiKey; 1] {
        [ApiKey {
            key: self.lk.key.clone(),
            secret: Secret::new(self.lk.secret.clone()),
        }]
    }

    /// baresip calls `NUMBER` from `from` with a `hz` tone; the call rings in the queue.
    async fn ring(&self, from: &str, hz: f32) -> (Baresip, CallRecord) {
        let mic = tone_wav_8k(&self.lk.dir.path().join(format!("{from}.wav")), hz, 60);
        let mut phone = Baresip::dial(
            &format!("sip:{NUMBER}@127.0.0.1:{}", self.lk.sip_port.unwrap()),
            from,
            &mic,
        );
        phone.wait_for("180 Ringing", Duration::from_secs(30));
        let waiting = eventually(30, "the call in the queue", || async {
            self.alice
                .queue()
                .await
                .ok()?
                .calls
                .into_iter()
                .find(|q| q.call.from == from && q.call.to == NUMBER)
        })
        .await;
        (phone, waiting.call)
    }

    async fn wait_call(
        &self,
        sid: &switchboard_core::CallSid,
        what: &str,
        f: impl Fn(&CallRecord) -> bool,
    ) -> CallRecord {
        eventually(40, what, || async {
            let d = self.alice.call(sid).await.ok()?;
            f(&d.call).then_some(d.call)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_is_answered_in_the_room_ended_and_another_transferred() {
    tokio::time::timeout(Duration::from_secs(240), inbound())
        .await
        .expect("finished within 4 minutes");
}

async fn inbound() {
    // The phone a transferred caller is sent to.
    let mut second = Sipp::uas("uas");
    let w =
        World::start(json!({ "transfer_domain": format!("127.0.0.1:{}", second.port), "loopback_only": true })).await;
    w.add_number(NUMBER, true, false).await;

    // ---- A caller speaking 440 Hz rings, with LiveKit's id.
    let (mut phone, call) = w.ring(CALLER, 440.0).await;
    assert_eq!(call.status, CallStatus::Ringing);
    assert_eq!(call.voice_platform, Some(VoicePlatform::LiveKit));
    let scl = call.voice_platform_call_id.clone().unwrap();
    assert!(scl.starts_with("SCL_"), "{scl}");

    // Answering hands alice a token for the caller's room, and only that room.
    let answered = w.alice.answer(&call.call_sid).await.unwrap();
    let MediaJoin::LiveKit { url, token: jwt, room } = answered.media else {
        panic!("answer gave {:?}", answered.media)
    };
    assert_eq!(url, w.lk.url);
    let grant = token::verify(&jwt, &w.keys(), token::now()).unwrap().video.unwrap();
    assert_eq!(grant.room.as_deref(), Some(room.as_str()));
    assert!(grant.room_join && grant.can_publish == Some(true) && grant.can_subscribe == Some(true));

    // LiveKit's own client joins with it, speaking 1 kHz: the SIP service answers the
    // caller once someone listens, and each side hears the other.
    let mut agent = RoomPeer::join(&url, &jwt, 1000);
    assert!(agent.saw("sip"), "the caller is in the room: {}", agent.joined);
    let heard = agent.until_hears(440.0, 1.0, 8, Duration::from_secs(30));
    println!("agent heard (Hz per 100 ms): {}", heard["dominant"]);
    let talking = w
        .wait_call(&call.call_sid, "answered", |c| c.status == CallStatus::Answered)
        .await;
    assert!(talking.answered_at.is_some());
    // Long enough to have a duration, and for the caller to hear the agent.
    let more = agent.listen(1.5);
    assert!(blocks_near(&more["dominant"], 440.0) >= 12, "{more}");

    // Hold: the gateway joins the room with music only the caller may hear, and the two
    // stop hearing each other; resume brings the caller back to the agent.
    w.alice.hold(&call.call_sid).await.unwrap();
    w.wait_call(&call.call_sid, "on hold", |c| c.status == CallStatus::OnHold)
        .await;
    // (What was on its way when the hold began plays out first.)
    let _ = agent.listen(0.5);
    let held = agent.listen(2.0);
    println!("agent on hold (Hz per 100 ms): {}", held["dominant"]);
    assert_eq!(
        blocks_near(&held["dominant"], 440.0),
        0,
        "the agent still hears the caller: {held}"
    );
    assert_eq!(
        blocks_near(&held["dominant"], 660.0),
        0,
        "the hold music is the caller's: {held}"
    );
    w.alice.resume(&call.call_sid).await.unwrap();
    agent.until_hears(440.0, 1.0, 8, Duration::from_secs(20));
    // The provider reports the resume as an event the gateway ingests: on a loaded machine
    // the status can follow the audio by a moment.
    w.wait_call(&call.call_sid, "answered again", |c| c.status == CallStatus::Answered)
        .await;

    // A string with something that is not a key is refused before anything is sent
    // (keys that arrive: keys_reach_the_callers_phone_and_a_supervisor_listens).
    assert!(w.alice.dtmf(&call.call_sid, "12x").await.is_err());

    // Ending removes the caller: the phone gets a BYE (not the 486 of an unanswered call).
    w.alice.end(&call.call_sid).await.unwrap();
    phone.wait_for("session closed", Duration::from_secs(30));
    let ended = w
        .wait_call(&call.call_sid, "completed", |c| c.status.is_terminal())
        .await;
    assert_eq!(ended.status, CallStatus::Completed, "{ended:?}");
    assert_eq!(ended.voice_platform_call_id.as_deref(), Some(scl.as_str()));
    assert!(ended.duration_secs.is_some_and(|d| d >= 2), "{ended:?}");
    let log = phone.log();
    assert!(!log.contains("486 Busy"), "an answered call ends with BYE:\n{log}");
    // What the caller's phone played: the agent's tone.
    let caller_heard = switchboard_media::device::read_wav(&phone.heard().expect("baresip recorded the call")).unwrap();
    let blocks = switchboard_media::tone::tone_blocks(&caller_heard, &[1000, 660]);
    let agent_blocks = blocks.iter().filter(|&&t| t == 1000).count();
    let music_blocks = blocks.iter().filter(|&&t| t == 660).count();
    println!(
        "caller heard the agent's 1 kHz in {agent_blocks} and hold music in {music_blocks} of {} blocks of 100 ms",
        caller_heard.len() / 4800
    );
    assert!(agent_blocks >= 15, "the caller hears the agent");
    assert!(music_blocks >= 12, "the caller hears music on hold");

    agent.leave();

    // ---- A second caller, answered, is transferred to a number: livekit-sip REFERs the
    // caller's phone to it at the transfer domain, and the phone calls the other one.
    let (phone2, call2) = w.ring("+16285550132", 550.0).await;
    let answered = w.alice.answer(&call2.call_sid).await.unwrap();
    let MediaJoin::LiveKit { url, token: jwt, .. } = answered.media else {
        panic!("answer gave {:?}", answered.media)
    };
    let mut agent = RoomPeer::join(&url, &jwt, 1000);
    w.wait_call(&call2.call_sid, "answered", |c| c.status == CallStatus::Answered)
        .await;
    // The SIP leg is up once the agent hears the caller (LiveKit transfers only those).
    agent.until_hears(550.0, 0.5, 3, Duration::from_secs(30));
    let transferred = w
        .alice
        .transfer(&call2.call_sid, TransferTarget::Number("+15550001234".parse().unwrap()))
        .await;
    if let Err(e) = &transferred {
        assert!(
            e.to_string().contains(TRANSFER_UNCONFIRMED),
            "transfer: {e:?}\n--- caller's phone:\n{}\n--- livekit-sip:\n{}",
            phone2.log(),
            w.lk.log("sip.err")
        );
    }
    // Either way the REFER reached the caller's phone, which calls the number itself.
    let invite = second.wait_for("INVITE sip:+15550001234@127.0.0.1", Duration::from_secs(30));
    assert!(
        invite.contains("From: <sip:+16285550132@"),
        "the caller's own phone calls: {invite}"
    );
    match transferred {
        Ok(_) => {
            let moved = w
                .wait_call(&call2.call_sid, "transferred", |c| {
                    matches!(c.status, CallStatus::Transferred | CallStatus::Completed)
                })
                .await;
            println!("after the transfer: {:?}", moved.status);
        }
        // livekit-sip 1.0 sometimes loses the phone's quick 202 (its SIP stack's race, see
        // TRANSFER_UNCONFIRMED; seen here about once in 15 runs on a loaded machine, with
        // the 202 on the wire). The gateway then says so rather than guess: the call stays
        // the agent's, answered, and ending it completes it.
        Err(e) => {
            println!("LiveKit lost the phone's answer to the REFER: {e}");
            let kept = w.alice.call(&call2.call_sid).await.unwrap().call;
            assert_eq!(kept.status, CallStatus::Answered, "{kept:?}");
            w.alice.end(&call2.call_sid).await.unwrap();
            w.wait_call(&call2.call_sid, "completed", |c| c.status == CallStatus::Completed)
                .await;
        }
    }
    agent.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_are_answered_busy_or_unanswered_with_the_sip_code_kept() {
    tokio::time::timeout(Duration::from_secs(240), outbound())
        .await
        .expect("finished within 4 minutes");
}

async fn outbound() {
    let mut phone = Sipp::uas("uas");
    let w = World::start(json!({ "outbound_address": format!("127.0.0.1:{}", phone.port), "ring_seconds": 5 })).await;
    let from = w.add_number(NUMBER, false, true).await;
    let place = |to: &'static str| {
        let alice = &w.alice;
        async move {
            alice
                .place_call(&OutboundCallRequest {
                    to: to.parse().unwrap(),
                    from_number_id: from,
                    lead_id: None,
                    ai_agent: None,
                })
                .await
                .unwrap()
                .call
        }
    };
    // The provider's outbound trunk sends calls to `port`.
    let retarget = |port: u16| {
        let w = &w;
        async move {
            let address = format!("127.0.0.1:{port}");
            let config = json!({ "url": w.lk.url, "api_key": w.lk.key, "api_secret": "secret:LIVEKIT_SECRET",
                                 "outbound_address": address, "ring_seconds": 5 });
            let (code, body) = api(
                &w.http,
                reqwest::Method::PATCH,
                &format!("{}/v1/providers/{}", w.gw.base, w.provider_id),
                &w.admin,
                Some(json!({ "config": config })),
            )
            .await;
            assert_eq!(code, 200, "{body}");
            eventually(20, "the outbound trunk follows", || async {
                let trunks = w.api.list_outbound_trunks().await.ok()?;
                trunks.iter().any(|t| t.address == address).then_some(())
            })
            .await;
        }
    };

    // Answered: the record follows, and ending hangs up with a BYE.
    let call = place("+16285550140").await;
    assert!(
        matches!(call.status, CallStatus::Queued | CallStatus::Ringing),
        "{call:?}"
    );
    phone.wait_for("INVITE sip:+16285550140@", Duration::from_secs(30));
    let up = w
        .wait_call(&call.call_sid, "answered", |c| c.status == CallStatus::Answered)
        .await;
    assert!(
        up.voice_platform_call_id
            .as_deref()
            .is_some_and(|s| s.starts_with("SCL_")),
        "{up:?}"
    );
    w.alice.end(&call.call_sid).await.unwrap();
    phone.wait_for("BYE sip:", Duration::from_secs(30));
    let done = w
        .wait_call(&call.call_sid, "completed", |c| c.status.is_terminal())
        .await;
    assert_eq!(done.status, CallStatus::Completed, "{done:?}");

    // Busy: 486 from the phone, the call failed as busy with the code.
    let busy = Sipp::uas("uas_busy.xml");
    retarget(busy.port).await;
    let call = place("+16285550141").await;
    // The room's "left" may come before the dialler's result with the reason: wait for both.
    let failed = w
        .wait_call(&call.call_sid, "failed with its reason", |c| {
            c.status.is_terminal() && c.error.is_some()
        })
        .await;
    assert_eq!(failed.status, CallStatus::Failed, "{failed:?}");
    let err = failed.error.clone().unwrap();
    assert_eq!(err.code, CallErrorCode::Busy, "{err:?}");
    assert_eq!(err.provider_code.as_deref(), Some("486"), "{err:?}");
    assert!(busy.messages().contains("SIP/2.0 486 Busy Here"));

    // Nobody answers within ring_seconds: LiveKit cancels, the call is missed.
    let mut silent = Sipp::uas("uas_no_answer.xml");
    retarget(silent.port).await;
    let call = place("+16285550142").await;
    silent.wait_for("SIP/2.0 180 Ringing", Duration::from_secs(30));
    let missed = w
        .wait_call(&call.call_sid, "missed with its reason", |c| {
            c.status.is_terminal() && c.error.is_some()
        })
        .await;
    assert_eq!(missed.status, CallStatus::Missed, "{missed:?}");
    let err = missed.error.clone().unwrap();
    assert_eq!(err.code, CallErrorCode::NoAnswer, "{err:?}");
    println!("no answer: {err:?}");
    silent.wait_for("CANCEL sip:", Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carriers_call_and_its_livekit_room_are_one_record() {
    tokio::time::timeout(Duration::from_secs(240), dual_ids())
        .await
        .expect("finished within 4 minutes");
}

async fn dual_ids() {
    use twilio_cloud::{ACCOUNT, new_twilio_sid, status_params, twilio_post};
    const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
    let w = World::start(json!({})).await;
    w.add_number(NUMBER, true, false).await;
    // The carrier: a Twilio provider whose status callbacks report the number's calls
    // (its REST API is not used here: a closed loopback port).
    w.gw.add_secret("TWILIO_TOKEN", TWILIO_TOKEN);
    let closed = format!("http://127.0.0.1:{}/2010-04-01", switchboard_e2e::free_port());
    add_provider(
        &w.http,
        &w.gw,
        &w.admin,
        "tw",
        "twilio",
        json!({ "account_sid": ACCOUNT, "auth_token": "secret:TWILIO_TOKEN", "api_base": closed }),
    )
    .await;
    let callback = format!("{}/webhooks/twilio/tw", w.gw.base);
    let ringing = |carrier_id: String, from: &'static str| {
        let (http, callback, alice) = (&w.http, &callback, &w.alice);
        async move {
            let (code, body) = twilio_post(
                http,
                callback,
                &status_params(&carrier_id, from, NUMBER, "inbound", "ringing", "0"),
                TWILIO_TOKEN,
            )
            .await;
            assert_eq!(code, 200, "{body}");
            eventually(10, "the carrier's call recorded", || async {
                alice
                    .queue()
                    .await
                    .ok()?
                    .calls
                    .into_iter()
                    .find(|q| q.call.vendor_call_id.as_deref() == Some(carrier_id.as_str()))
                    .map(|q| q.call)
            })
            .await
        }
    };
    let sip_leg = |from: &str, header: String| {
        Sipp::uac(
            "uac_carrier.xml",
            &format!("127.0.0.1:{}", w.lk.sip_port.unwrap()),
            &[("caller", from), ("called", NUMBER), ("carrier_header", &header)],
        )
    };
    let joined = |sid: switchboard_core::CallSid| {
        let w = &w;
        async move {
            w.wait_call(&sid, "LiveKit's id joined to the carrier's record", |c| {
                c.voice_platform_call_id.is_some()
            })
            .await
        }
    };

    // ---- With the header: joined by the carrier's id.
    let ca1 = new_twilio_sid("CA");
    let rec = ringing(ca1.clone(), "+16285550161").await;
    assert_eq!(rec.voice_platform_call_id, None);
    let mut leg1 = sip_leg("+16285550161", format!("X-Twilio-CallSid: {ca1}"));
    let one = joined(rec.call_sid.clone()).await;
    assert!(
        one.voice_platform_call_id.as_deref().unwrap().starts_with("SCL_"),
        "{one:?}"
    );
    assert_eq!(one.vendor_call_id.as_deref(), Some(ca1.as_str()));
    assert_eq!(one.voice_platform, Some(VoicePlatform::LiveKit));
    // One record, not two, and LiveKit controls it: answering gives a room token.
    let same_caller: Vec<_> = w
        .alice
        .queue()
        .await
        .unwrap()
        .calls
        .into_iter()
        .filter(|q| q.call.from == "+16285550161")
        .collect();
    assert_eq!(same_caller.len(), 1, "{same_caller:?}");
    let answered = w.alice.answer(&one.call_sid).await.unwrap();
    assert!(
        matches!(answered.media, MediaJoin::LiveKit { .. }),
        "{:?}",
        answered.media
    );
    w.alice.end(&one.call_sid).await.unwrap();
    // Ended through LiveKit: the carrier's leg is turned away by livekit-sip.
    leg1.wait_for("SIP/2.0 486", Duration::from_secs(20));
    // Twilio's completed callback lands on the same record.
    let (code, _) = twilio_post(
        &w.http,
        &callback,
        &status_params(&ca1, "+16285550161", NUMBER, "inbound", "completed", "3"),
        TWILIO_TOKEN,
    )
    .await;
    assert_eq!(code, 200);
    let done = w
        .wait_call(&one.call_sid, "completed", |c| c.status.is_terminal())
        .await;
    assert_eq!(done.vendor_call_id.as_deref(), Some(ca1.as_str()));
    w.alice.set_status(AgentStatus::Available).await.unwrap();

    // ---- Without the header, two calls to the number overlap: the first SIP leg joins
    // the newer carrier call, the second the older.
    let older = ringing(new_twilio_sid("CA"), "+16285550171").await;
    let newer = ringing(new_twilio_sid("CA"), "+16285550172").await;
    assert!(newer.created_at >= older.created_at);
    let _leg2 = sip_leg("+16285550172", "X-Carrier-Note: none".into());
    let got = joined(newer.call_sid.clone()).await;
    let older_now = w.alice.call(&older.call_sid).await.unwrap().call;
    assert_eq!(older_now.voice_platform_call_id, None, "the newer call won");
    let _leg3 = sip_leg("+16285550171", "X-Carrier-Note: none".into());
    let got_older = joined(older.call_sid.clone()).await;
    assert_ne!(got.voice_platform_call_id, got_older.voice_platform_call_id);
    let phantoms = w
        .alice
        .queue()
        .await
        .unwrap()
        .calls
        .into_iter()
        .filter(|q| q.call.vendor_call_id.is_none())
        .count();
    assert_eq!(phantoms, 0, "no SIP leg made a record of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_reach_the_callers_phone_and_a_supervisor_listens() {
    tokio::time::timeout(Duration::from_secs(180), keys())
        .await
        .expect("finished within 3 minutes");
}

/// The RFC 4733 events in RTP packets: (event, RTP timestamp) of each packet of payload
/// type `pt`, and how many packets of other types (the call's audio) came.
fn telephone_events(packets: &[Vec<u8>], pt: u8) -> (Vec<(u8, u32)>, usize) {
    let mut events = vec![];
    let mut audio = 0;
    for p in packets.iter().filter(|p| p.len() >= 12 && p[0] >> 6 == 2) {
        let header = 12 + 4 * usize::from(p[0] & 0x0f);
        if p[1] & 0x7f == pt && p.len() >= header + 4 {
            events.push((p[header], u32::from_be_bytes([p[4], p[5], p[6], p[7]])));
        } else {
            audio += 1;
        }
    }
    (events, audio)
}

async fn keys() {
    let w = World::start(json!({ "loopback_only": true })).await;
    w.add_number(NUMBER, true, false).await;
    // The caller's phone: SIPp for the signalling, its audio port a socket of the test's.
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = rtp.local_addr().unwrap().port().to_string();
    let caller = "+16285550190";
    let mut phone = Sipp::uac(
        "uac_answered.xml",
        &format!("127.0.0.1:{}", w.lk.sip_port.unwrap()),
        &[("caller", caller), ("called", NUMBER), ("rtp_port", &port)],
    );
    let call = eventually(30, "the call in the queue", || async {
        w.alice
            .queue()
            .await
            .ok()?
            .calls
            .into_iter()
            .find(|q| q.call.from == caller)
            .map(|q| q.call)
    })
    .await;
    let answered = w.alice.answer(&call.call_sid).await.unwrap();
    let MediaJoin::LiveKit { url, token: jwt, .. } = answered.media else {
        panic!("answer gave {:?}", answered.media)
    };
    let mut agent = RoomPeer::join(&url, &jwt, 1000);
    phone.wait_for("SIP/2.0 200 OK", Duration::from_secs(30));

    let collector = tokio::spawn(async move {
        let mut packets = vec![];
        let mut buf = [0u8; 2048];
        let until = tokio::time::Instant::now() + Duration::from_secs(12);
        while let Ok(Ok(n)) = tokio::time::timeout_at(until, rtp.recv(&mut buf)).await {
            packets.push(buf[..n].to_vec());
        }
        packets
    });
    w.alice.dtmf(&call.call_sid, "159#").await.unwrap();
    let packets = collector.await.unwrap();
    let (events, audio) = telephone_events(&packets, 101);
    // One key is several packets with one timestamp; in order of the timestamps.
    let mut keys: Vec<(u32, u8)> = events.iter().map(|&(e, ts)| (ts, e)).collect();
    keys.sort_unstable();
    keys.dedup();
    let keys: Vec<u8> = keys.into_iter().map(|(_, e)| e).collect();
    println!("the phone got {audio} audio packets and telephone-events {keys:?}");
    assert!(audio > 100, "the phone hears the call");
    assert_eq!(keys, vec![1, 5, 9, 11], "1, 5, 9 and # (11) as RFC 4733 events");

    // A supervisor listens: a hidden, listen-only participant who hears the agent.
    let sam = w.gw.client(&token(&*w.gw.store, &w.seeded, "sam").await);
    let watching = sam.monitor(&call.call_sid, MonitorMode::Listen).await.unwrap();
    let MediaJoin::LiveKit { url, token: jwt, room } = watching.media else {
        panic!("monitor gave {:?}", watching.media)
    };
    let mut supervisor = RoomPeer::join(&url, &jwt, 0);
    supervisor.until_hears(1_000.0, 1.0, 8, Duration::from_secs(20));
    let people = w.api.list_participants(&room).await.unwrap();
    let sup = people
        .iter()
        .find(|p| p.identity == "supervisor-sam")
        .expect("in the room");
    let perm = sup.permission.clone().unwrap();
    assert!(perm.hidden && !perm.can_publish, "{perm:?}");
    let err = sam
        .switch_monitor(&call.call_sid, MonitorMode::Whisper)
        .await
        .unwrap_err();
    println!("whisper on LiveKit: {err}");
    sam.stop_monitor(&call.call_sid).await.unwrap();
    eventually(10, "the supervisor left the room", || async {
        let people = w.api.list_participants(&room).await.ok()?;
        (!people.iter().any(|p| p.identity == "supervisor-sam")).then_some(())
    })
    .await;

    w.alice.end(&call.call_sid).await.unwrap();
    phone.wait_for("BYE sip:", Duration::from_secs(20));
    agent.leave();
}
