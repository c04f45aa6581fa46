//! A LiveKit SIP provider in the gateway, with every peer real: Redis, `livekit-server` and
//! `livekit-sip` (built by `cargo xtask setup` from the Go module proxy) on loopback, and
//! Debian's baresip as the caller's phone. Nothing here stands in for LiveKit.
//!
//! Checked: adding the provider and a number over the API provisions the trunk and the
//! dispatch rule on the server; baresip's call to that number reaches livekit-sip, which
//! puts the caller in a room of its own; the server's own signed `participant_joined`
//! webhook makes the call ring in the gateway's queue with LiveKit's `sip.callID` and the
//! parties; answering returns a token for that room; ending removes the caller from the
//! room, baresip's call ends, and the server's `participant_left` webhook completes the
//! record.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use switchboard_core::{CallStatus, MediaJoin, VoicePlatform};
use switchboard_e2e::livekit::{Baresip, LiveKitStack, tone_wav_8k};
use switchboard_telephony::livekit::token::{self, ApiKey};
use switchboard_telephony::livekit::twirp::Twirp;
use switchboard_telephony::secret::Secret;

const NUMBER: &str = "+14155550177";
const CALLER: &str = "+16285550131";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_caller_rings_through_livekit_and_the_agent_ends_the_call() {
    tokio::time::timeout(Duration::from_secs(180), flow())
        .await
        .expect("finished within 3 minutes");
}

async fn flow() {
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let seeded = &seeded[0];
    let http = reqwest::Client::new();
    let admin = admin_token(&gw, seeded).await;
    let alice = gw.client(&token(&*gw.store, seeded, "alice").await);

    let lk = LiveKitStack::start(true, &[format!("{}/webhooks/livekit/lk", gw.base)]);
    gw.add_secret("LIVEKIT_SECRET", &lk.secret);
    let config = json!({ "url": lk.url, "api_key": lk.key, "api_secret": "secret:LIVEKIT_SECRET" });
    let provider_id = add_provider(&http, &gw, &admin, "lk", "livekit", config).await;
    add_number(
        &http,
        &gw,
        &admin,
        json!({ "e164": NUMBER, "label": "LiveKit line", "provider_id": provider_id, "inbound": true, "outbound": false }),
    )
    .await;

    // The number reaches the server's inbound trunk (the provider is rebuilt with it).
    let api = Twirp::new(
        &lk.url,
        ApiKey {
            key: lk.key.clone(),
            secret: Secret::new(lk.secret.clone()),
        },
    );
    eventually(20, "the trunk carries the number", || async {
        let trunks = api.list_inbound_trunks().await.ok()?;
        trunks
            .iter()
            .any(|t| t.name == "switchboard:lk" && t.numbers.iter().any(|n| n == NUMBER))
            .then_some(())
    })
    .await;

    // baresip calls the number at livekit-sip.
    let mic = tone_wav_8k(&lk.dir.path().join("caller.wav"), 440.0, 60);
    let mut phone = Baresip::dial(
        &format!("sip:{NUMBER}@127.0.0.1:{}", lk.sip_port.unwrap()),
        CALLER,
        &mic,
    );
    phone.wait_for("180 Ringing", Duration::from_secs(30));

    // The server's webhook puts the call in the queue, with LiveKit's id.
    let waiting = eventually(30, "the call in the queue", || async {
        alice
            .queue()
            .await
            .ok()?
            .calls
            .into_iter()
            .find(|q| q.call.from == CALLER && q.call.to == NUMBER)
    })
    .await;
    let call = waiting.call;
    assert_eq!(call.status, CallStatus::Ringing);
    assert_eq!(call.voice_platform, Some(VoicePlatform::LiveKit));
    let scl = call.voice_platform_call_id.clone().unwrap();
    assert!(scl.starts_with("SCL_"), "{scl}");

    // Answering hands alice a token for the caller's room.
    alice
        .set_status(switchboard_core::AgentStatus::Available)
        .await
        .unwrap();
    let answered = alice.answer(&call.call_sid).await.unwrap();
    let MediaJoin::LiveKit { url, token: jwt, room } = answered.media else {
        panic!("answer gave {:?}", answered.media)
    };
    assert_eq!(url, lk.url);
    assert!(room.starts_with("call-"), "{room}");
    let keys = [ApiKey {
        key: lk.key.clone(),
        secret: Secret::new(lk.secret.clone()),
    }];
    let claims = token::verify(&jwt, &keys, token::now()).unwrap();
    let grant = claims.video.unwrap();
    assert_eq!(grant.room.as_deref(), Some(room.as_str()));
    assert!(grant.room_join);
    let people = api.list_participants(&room).await.unwrap();
    assert!(
        people
            .iter()
            .any(|p| p.attributes.get("sip.callID").map(String::as_str) == Some(scl.as_str())),
        "the caller is in the room the token is for: {people:?}"
    );

    // Ending removes the caller from the room; the phone's call ends; the record completes.
    alice.end(&call.call_sid).await.unwrap();
    phone.wait_for("closed", Duration::from_secs(30));
    let ended = eventually(30, "the call completed", || async {
        let d = alice.call(&call.call_sid).await.ok()?;
        d.call.status.is_terminal().then_some(d.call)
    })
    .await;
    assert_eq!(ended.status, CallStatus::Completed, "{ended:?}");
    assert_eq!(ended.voice_platform_call_id.as_deref(), Some(scl.as_str()));
    assert!(
        api.list_participants(&room).await.map_or(true, |p| p.is_empty()),
        "the room is empty"
    );
    println!("baresip:\n{}", phone.log());
}
