//! A Twilio provider added through the API, carrying calls end to end.
//!
//! Twilio's cloud cannot run here, so three stand-ins play its part, each from Twilio's
//! own documents:
//! - **REST**: Stoplight Prism serving Twilio's OpenAPI document validates every request
//!   the gateway sends (a 4xx from Prism fails the test). A thin proxy in front of it does
//!   what a mock cannot: gives each new call its own `CA…` id and refuses one number with
//!   Twilio's documented error body (21215), as Twilio would for a geo-blocked number.
//! - **Webhooks**: voice and status callbacks are form posts signed with X-Twilio-Signature
//!   (our signer, checked against npm `twilio` in `switchboard-telephony`'s oracle tests).
//! - **Media Streams**: the caller's side of the WebSocket, written from the documented
//!   frames (connected, start, media, stop), speaks a spoken WAV as μ-law and records what
//!   it receives.
//!
//! The agent's side is a media session driven the way the desktop drives it (client +
//! PeerSession) with a 1 kHz tone as its microphone. Checked: the inbound call reaches the
//! queue, the caller hears hold music until answered, then the agent's tone; the agent
//! hears the caller's speech (its loudness contour); hold silences both ways (music for
//! the caller); the agent's keys reach the caller as DTMF; end completes the call at
//! Twilio; a transfer to a number redirects the live call to `<Dial>`, one to another
//! agent plays the caller music until that agent answers and is heard; a caller who hangs
//! up unanswered is abandoned, whether a status callback says so or only the stream stops
//! (then Twilio's API is asked); outbound calls ring, answer and end from the callbacks, and
//! a refused one is failed with Twilio's code; forged callbacks change nothing.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;
mod twilio_cloud;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::*;
use switchboard_core::{CallSid, CallStatus, MediaJoin};
use switchboard_media::device::{WavDevice, WavSource, read_wav, resample};
use switchboard_media::session::MediaSession;
use switchboard_media::tone::{dominant_frequency, rms, sine};
use switchboard_telephony::twilio::bridge::detect_key;
use switchboard_telephony::twilio::signature;
use switchboard_telephony::twilio::stream::{ulaw_decode, ulaw_encode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use twilio_cloud::*;

const PROVIDER: &str = "twilio-main";

// ---------------------------------------------------------------------------------------
// The caller's side of a Media Stream.

struct Caller {
    /// What the caller heard (8 kHz), one 20 ms frame per frame the gateway sent.
    heard: Arc<Mutex<Vec<f32>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Caller {
    /// Open the stream the TwiML names, as Twilio does (signed upgrade, `connected`,
    /// `start` with our parameters), then speak `voice` (8 kHz, looped) in 20 ms frames.
    async fn connect(
        stream_url: &str,
        call_sid_param: &str,
        twilio_call: &str,
        voice: Arc<Vec<i16>>,
        token: &str,
    ) -> Self {
        let mut req = stream_url.into_client_request().unwrap();
        req.headers_mut().insert(
            "x-twilio-signature",
            signature::sign(token, stream_url, &[]).parse().unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("the gateway accepts the stream");
        let (mut tx, mut rx) = ws.split();
        let stream_sid = new_twilio_sid("MZ");
        tx.send(Message::text(
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
        ))
        .await
        .unwrap();
        let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
            "start": {"streamSid": stream_sid, "accountSid": ACCOUNT, "callSid": twilio_call, "tracks": ["inbound"],
                      "customParameters": {"call_sid": call_sid_param},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
        tx.send(Message::text(start.to_string())).await.unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let (h, call) = (heard.clone(), twilio_call.to_owned());
        let task = tokio::spawn(async move {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let (mut seq, mut at) = (2u64, 0usize);
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        let _ = tx.send(Message::text(json!({"event": "stop", "sequenceNumber": seq.to_string(), "streamSid": stream_sid,
                            "stop": {"accountSid": ACCOUNT, "callSid": call}}).to_string())).await;
                        let _ = tx.close().await;
                        return;
                    }
                    _ = tick.tick() => {
                        let frame: Vec<u8> = (0..160).map(|i| ulaw_encode(voice[(at + i) % voice.len()])).collect();
                        at += 160;
                        let media = json!({"event": "media", "sequenceNumber": seq.to_string(), "streamSid": stream_sid,
                            "media": {"track": "inbound", "chunk": (seq - 1).to_string(), "timestamp": ((seq - 2) * 20).to_string(),
                                      "payload": b64.encode(frame)}});
                        seq += 1;
                        if tx.send(Message::text(media.to_string())).await.is_err() {
                            return;
                        }
                    }
                    msg = rx.next() => {
                        let Some(Ok(Message::Text(t))) = msg else {
                            if matches!(msg, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { return; }
                            continue;
                        };
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["event"] == "media" {
                            let bytes = b64.decode(v["media"]["payload"].as_str().unwrap()).unwrap();
                            assert_eq!(v["streamSid"], json!(stream_sid.clone()));
                            h.lock().unwrap().extend(bytes.into_iter().map(|b| f32::from(ulaw_decode(b)) / 32_768.0));
                        }
                    }
                }
            }
        });
        Self {
            heard,
            stop: Some(stop),
            task,
        }
    }

    /// Samples heard so far (8 kHz): a position in the call's time line.
    fn position(&self) -> usize {
        self.heard.lock().unwrap().len()
    }

    /// Twilio ends the stream (the call hung up or moved on).
    async fn hang_up(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// What a caller heard between two positions.
fn caller_heard(log: &Arc<Mutex<Vec<f32>>>, from: usize, to: usize) -> Vec<f32> {
    let h = log.lock().unwrap();
    h[from.min(h.len())..to.min(h.len())].to_vec()
}

/// The dominant frequency of 8 kHz audio, per half second.
fn tones(samples: &[f32]) -> Vec<Option<f32>> {
    samples
        .chunks(4_000)
        .filter(|w| w.len() == 4_000)
        .map(|w| dominant_frequency(&resample(w, 8_000, 48_000)))
        .collect()
}

fn count_near(tones: &[Option<f32>], hz: f32) -> usize {
    tones
        .iter()
        .filter(|f| f.is_some_and(|f| (f - hz).abs() < 20.0))
        .count()
}

// ---------------------------------------------------------------------------------------

/// The voice webhook of a new inbound call; returns (our call_sid, stream URL).
async fn ring(http: &reqwest::Client, base: &str, twilio_call: &str, from: &str) -> (CallSid, String) {
    let url = format!("{base}/webhooks/twilio/{PROVIDER}");
    let params = voice_params(twilio_call, from);
    let (code, twiml) = twilio_post(http, &url, &params, SECRET).await;
    assert_eq!(code, 200, "{twiml}");
    // <Connect><Stream url="ws://…/stream"><Parameter name="call_sid" value="call_…"/></Stream></Connect>
    let attr = |name: &str, after: &str| {
        let rest = &twiml[twiml.find(after).unwrap_or_else(|| panic!("no {after} in {twiml}"))..];
        let at = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        rest[at..at + rest[at..].find('"').unwrap()].replace("&amp;", "&")
    };
    assert!(twiml.contains("<Connect><Stream"), "{twiml}");
    let stream_url = attr("url", "<Stream");
    let sid: CallSid = attr("value", "<Parameter name=\"call_sid\"").parse().unwrap();
    assert_eq!(
        stream_url,
        format!(
            "{}/webhooks/twilio/{PROVIDER}/stream",
            base.replacen("http://", "ws://", 1)
        )
    );
    (sid, stream_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_calls_end_to_end_against_its_own_documents() {
    let prism = switchboard_e2e::Prism::start();
    let (rest, api_base) = rest_stand_in(&prism).await;
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let seeded = &seeded[0];
    let http = reqwest::Client::new();
    let admin = admin_token(&gw, seeded).await;
    let client = gw.client(&token(&*gw.store, seeded, "alice").await);

    // The provider and its number, added while the gateway runs.
    let config = json!({ "account_sid": ACCOUNT, "auth_token": format!("secret:{SECRET_NAME}"), "api_base": api_base, "loopback_only": true });
    let provider_id = add_provider(&http, &gw, &admin, PROVIDER, "twilio", config).await;
    let (code, body) = api(
        &http,
        Method::POST,
        &format!("{}/v1/providers/{provider_id}/check", gw.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(code, 200, "the account check against Twilio's document: {body}");
    let number = add_number(
        &http,
        &gw,
        &admin,
        json!({
            "e164": NUMBER, "label": "Twilio main", "provider_id": provider_id, "inbound": true, "outbound": true
        }),
    )
    .await;
    assert_eq!(number["provider_capabilities"]["hold"], true, "{number}");

    // A forged voice webhook is refused and stores nothing.
    let forged = new_twilio_sid("CA");
    let (code, _) = twilio_post(
        &http,
        &format!("{}/webhooks/twilio/{PROVIDER}", gw.base),
        &status_params(&forged, "+16285550111", NUMBER, "inbound", "ringing", "0"),
        "not-the-token",
    )
    .await;
    assert_eq!(code, 401);

    // ---- Call A: inbound, answered with audio, held, resumed, keys, ended.
    let dir = tempfile::tempdir().unwrap();
    let speech_path = speech_wav(
        &dir.path().join("caller.wav"),
        "Hello, I am calling about my order. It has not arrived yet and I would like to know where it is.",
    );
    let speech = read_wav(&speech_path).unwrap();
    let voice8k: Vec<i16> = resample(&speech, 48_000, 8_000)
        .iter()
        .map(|s| (s * 32_767.0) as i16)
        .collect();
    let voice8k = Arc::new(voice8k);
    let call_a = new_twilio_sid("CA");
    let (sid, stream_url) = ring(&http, &gw.base, &call_a, "+16285550111").await;
    let caller = Caller::connect(&stream_url, sid.as_str(), &call_a, voice8k.clone(), SECRET).await;
    eventually(10, "the call in the queue", || async {
        client
            .queue()
            .await
            .ok()?
            .calls
            .iter()
            .any(|c| c.call.call_sid == sid)
            .then_some(())
    })
    .await;
    let queued = wait_status(&client, &sid, CallStatus::Ringing).await;
    assert_eq!(queued.vendor_call_id.as_deref(), Some(call_a.as_str()));
    // Waiting callers hear hold music (660 + 880 Hz).
    eventually(10, "a second of audio at the caller", || async {
        (caller.position() >= 8_000).then_some(())
    })
    .await;
    let waiting = tones(&caller_heard(&caller.heard, 0, 8_000));
    assert!(count_near(&waiting, 660.0) >= 1, "the waiting caller heard {waiting:?}");

    let answered = client.answer(&sid).await.unwrap();
    let MediaJoin::Peer { signal } = answered.media else {
        panic!("expected a peer, got {:?}", answered.media)
    };
    wait_status(&client, &sid, CallStatus::Answered).await;
    let agent_speaker = dir.path().join("agent-speaker.wav");
    let device =
        WavDevice::new(WavSource::Samples(Arc::new(sine(1_000.0, 0.3, 48_000))), true).recording_to(&agent_speaker);
    let agent_clock = device.clock();
    let agent = join_audio(&client, &signal, device).await;
    let (t_talk, p_talk) = (std::time::Instant::now(), caller.position());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (t_hold, p_hold) = (std::time::Instant::now(), caller.position());
    client.hold(&sid).await.unwrap();
    wait_status(&client, &sid, CallStatus::OnHold).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (t_resume, p_resume) = (std::time::Instant::now(), caller.position());
    client.resume(&sid).await.unwrap();
    wait_status(&client, &sid, CallStatus::Answered).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p_keys = caller.position();
    agent.send_dtmf("5").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let p_end = caller.position();
    client.end(&sid).await.unwrap();
    let ended = wait_status(&client, &sid, CallStatus::Completed).await;
    assert!(ended.error.is_none(), "{ended:?}");
    let caller_log = caller.heard.clone();
    caller.hang_up().await;
    agent.close().await;
    let ends = rest.requests(&format!("/Calls/{call_a}.json"));
    assert!(
        ends.iter().any(|f| f.contains(&("Status".into(), "completed".into()))),
        "end asked Twilio: {ends:?}"
    );

    // What the caller heard: the agent's tone while talking, music on hold, the tone again,
    // then the key.
    let talk = tones(&caller_heard(&caller_log, p_talk + 4_000, p_hold));
    let held = tones(&caller_heard(&caller_log, p_hold + 4_000, p_resume));
    let back = tones(&caller_heard(&caller_log, p_resume + 4_000, p_keys));
    println!("caller heard: talking {talk:?}, on hold {held:?}, resumed {back:?}");
    assert!(
        count_near(&talk, 1_000.0) >= talk.len() - 1 && !talk.is_empty(),
        "talking: {talk:?}"
    );
    assert!(
        count_near(&held, 660.0) >= held.len() - 1 && !held.is_empty(),
        "on hold: {held:?}"
    );
    assert!(
        count_near(&back, 1_000.0) >= back.len() - 1 && !back.is_empty(),
        "resumed: {back:?}"
    );
    let keys: Vec<char> = caller_heard(&caller_log, p_keys, p_end)
        .chunks(320)
        .filter_map(detect_key)
        .collect();
    assert!(keys.contains(&'5'), "the caller heard keys {keys:?}");

    // What the agent heard: the caller's speech (its loudness contour) while talking,
    // nothing on hold.
    let heard_by_agent = read_wav(&agent_speaker).unwrap();
    let t0 = agent_clock.lock().unwrap().unwrap();
    let at = |t: std::time::Instant| ((t - t0).as_secs_f64() * 48_000.0) as usize;
    let probe = &heard_by_agent[at(t_talk) + 24_000..at(t_hold)];
    let corr = best_correlation(&envelope(&speech), &envelope(probe));
    println!("speech envelope correlation at the agent: {corr:.2}");
    assert!(corr > 0.5, "the agent did not hear the caller's speech (r = {corr:.2})");
    let on_hold = rms(&heard_by_agent[at(t_hold) + 48_000..at(t_resume)]);
    assert!(on_hold < 0.01, "the agent heard the caller on hold (rms {on_hold})");

    // ---- Call B: inbound, answered, transferred to a number.
    let call_b = new_twilio_sid("CA");
    let (sid_b, stream_b) = ring(&http, &gw.base, &call_b, "+16285550112").await;
    let caller_b = Caller::connect(&stream_b, sid_b.as_str(), &call_b, voice8k.clone(), SECRET).await;
    wait_status(&client, &sid_b, CallStatus::Ringing).await;
    client.answer(&sid_b).await.unwrap();
    wait_status(&client, &sid_b, CallStatus::Answered).await;
    client
        .transfer(
            &sid_b,
            switchboard_core::api::TransferTarget::Number("+15005550199".parse().unwrap()),
        )
        .await
        .unwrap();
    wait_status(&client, &sid_b, CallStatus::Transferred).await;
    let redirect = rest.requests(&format!("/Calls/{call_b}.json"));
    let twiml = redirect
        .iter()
        .flatten()
        .find(|(k, _)| k == "Twiml")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        twiml.contains(&format!(
            "<Dial callerId=\"{NUMBER}\"><Number>+15005550199</Number></Dial>"
        )),
        "{twiml}"
    );
    caller_b.hang_up().await;
    let url = format!("{}/webhooks/twilio/{PROVIDER}", gw.base);
    let (code, body) = twilio_post(
        &http,
        &url,
        &status_params(&call_b, "+16285550112", NUMBER, "inbound", "completed", "3"),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    wait_status(&client, &sid_b, CallStatus::Completed).await;

    // ---- Call G: inbound, answered by Alice, transferred to Bob, who answers on his
    // desktop: the caller hears music meanwhile, then Bob's voice (a 1.5 kHz tone).
    let bob = gw.client(&token(&*gw.store, seeded, "bob").await);
    let call_g = new_twilio_sid("CA");
    let (sid_g, stream_g) = ring(&http, &gw.base, &call_g, "+16285550115").await;
    let caller_g = Caller::connect(&stream_g, sid_g.as_str(), &call_g, voice8k.clone(), SECRET).await;
    wait_status(&client, &sid_g, CallStatus::Ringing).await;
    let MediaJoin::Peer { signal } = client.answer(&sid_g).await.unwrap().media else {
        panic!("expected a peer")
    };
    wait_status(&client, &sid_g, CallStatus::Answered).await;
    let alice_g = join_audio(
        &client,
        &signal,
        WavDevice::new(WavSource::Samples(Arc::new(sine(1_000.0, 0.3, 48_000))), true),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bob_id = seeded.agent("bob");
    client
        .transfer(&sid_g, switchboard_core::api::TransferTarget::Agent(bob_id))
        .await
        .unwrap();
    let p_transfer = caller_g.position();
    let ringing = wait_status(&bob, &sid_g, CallStatus::Ringing).await;
    assert_eq!(ringing.agent_id, Some(bob_id));
    alice_g.close().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p_bob = caller_g.position();
    let MediaJoin::Peer { signal } = bob.answer(&sid_g).await.unwrap().media else {
        panic!("expected a peer")
    };
    wait_status(&bob, &sid_g, CallStatus::Answered).await;
    let bob_g = join_audio(
        &bob,
        &signal,
        WavDevice::new(WavSource::Samples(Arc::new(sine(1_500.0, 0.3, 48_000))), true),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p_end_g = caller_g.position();
    bob.end(&sid_g).await.unwrap();
    wait_status(&bob, &sid_g, CallStatus::Completed).await;
    let log_g = caller_g.heard.clone();
    caller_g.hang_up().await;
    bob_g.close().await;
    let waiting = tones(&caller_heard(&log_g, p_transfer + 4_000, p_bob));
    let with_bob = tones(&caller_heard(&log_g, p_bob + 8_000, p_end_g));
    println!("transferred caller heard: waiting {waiting:?}, with Bob {with_bob:?}");
    assert!(
        count_near(&waiting, 660.0) >= waiting.len().saturating_sub(1) && !waiting.is_empty(),
        "waiting for Bob: {waiting:?}"
    );
    assert!(
        count_near(&with_bob, 1_500.0) >= with_bob.len().saturating_sub(1) && !with_bob.is_empty(),
        "with Bob: {with_bob:?}"
    );

    // ---- Call C: the caller gives up before anyone answers, on a number without a
    // status callback: the stream stops, and Twilio's API says the call is over.
    let call_c = new_twilio_sid("CA");
    let (sid_c, stream_c) = ring(&http, &gw.base, &call_c, "+16285550113").await;
    let caller_c = Caller::connect(&stream_c, sid_c.as_str(), &call_c, voice8k.clone(), SECRET).await;
    wait_status(&client, &sid_c, CallStatus::Ringing).await;
    rest.hung_up.lock().unwrap().insert(call_c.clone());
    caller_c.hang_up().await;
    wait_status(&client, &sid_c, CallStatus::Abandoned).await;
    assert!(
        !rest
            .requests(&format!("GET /2010-04-01/Accounts/{ACCOUNT}/Calls/{call_c}.json"))
            .is_empty()
    );

    // ---- Call F: the same, told by Twilio's status callback.
    let call_f = new_twilio_sid("CA");
    let (sid_f, _) = ring(&http, &gw.base, &call_f, "+16285550114").await;
    wait_status(&client, &sid_f, CallStatus::Ringing).await;
    let (code, body) = twilio_post(
        &http,
        &url,
        &status_params(&call_f, "+16285550114", NUMBER, "inbound", "completed", "2"),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    wait_status(&client, &sid_f, CallStatus::Abandoned).await;

    // ---- Outbound D: from the Twilio number; rings, answers, ends by Twilio's callbacks.
    let number_id = number["id"].as_i64().unwrap();
    let placed = client
        .place_call(&switchboard_core::api::OutboundCallRequest {
            from_number_id: serde_json::from_value(json!(number_id)).unwrap(),
            to: "+15005550123".parse().unwrap(),
            lead_id: None,
            ai_agent: None,
        })
        .await
        .unwrap();
    let sid_d = placed.call.call_sid.clone();
    let created = rest.requests("/Calls.json");
    let form = created.last().unwrap();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!((get("From"), get("To")), (NUMBER.to_owned(), "+15005550123".to_owned()));
    let events: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "StatusCallbackEvent")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        events,
        ["initiated", "ringing", "answered", "completed"],
        "one key per value, as Twilio takes them"
    );
    assert!(
        get("Twiml").contains(&format!("<Parameter name=\"call_sid\" value=\"{sid_d}\"/>")),
        "{}",
        get("Twiml")
    );
    let callback = get("StatusCallback");
    assert_eq!(callback, format!("{url}?call_sid={sid_d}"));
    let call_d = eventually(10, "Twilio's id on the record", || async {
        client.call(&sid_d).await.ok()?.call.vendor_call_id
    })
    .await;
    outbound_progress(&http, &client, &sid_d, &callback, &call_d, "+15005550123").await;

    // ---- Outbound E: refused by Twilio; the record says why, with Twilio's code.
    let refused = client
        .place_call(&switchboard_core::api::OutboundCallRequest {
            from_number_id: serde_json::from_value(json!(number_id)).unwrap(),
            to: REFUSED.parse().unwrap(),
            lead_id: None,
            ai_agent: None,
        })
        .await
        .unwrap();
    assert_eq!(refused.call.status, CallStatus::Failed);
    let err = refused.call.error.clone().unwrap();
    assert_eq!(err.provider_code.as_deref(), Some("21215"), "{err:?}");
    assert!(
        err.provider_message.as_deref().unwrap_or("").contains("not authorized"),
        "{err:?}"
    );

    // Changed while running: a longer ring for outbound calls, used by the next call.
    let config = json!({ "account_sid": ACCOUNT, "auth_token": format!("secret:{SECRET_NAME}"), "api_base": api_base,
                         "loopback_only": true, "ring_timeout_secs": 45 });
    let (code, body) = api(
        &http,
        Method::PATCH,
        &format!("{}/v1/providers/{provider_id}", gw.base),
        &admin,
        Some(json!({ "config": config })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    provider_running_with(&http, &gw, &admin, PROVIDER, |c| c["ring_timeout_secs"] == 45).await;
    client
        .place_call(&switchboard_core::api::OutboundCallRequest {
            from_number_id: serde_json::from_value(json!(number_id)).unwrap(),
            to: "+15005550124".parse().unwrap(),
            lead_id: None,
            ai_agent: None,
        })
        .await
        .unwrap();
    let created = rest.requests("/Calls.json");
    let timeout = created
        .last()
        .unwrap()
        .iter()
        .find(|(k, _)| k == "Timeout")
        .map(|(_, v)| v.clone());
    assert_eq!(timeout.as_deref(), Some("45"));

    // Removed: numbers first, then the provider.
    let (code, _) = api(
        &http,
        Method::DELETE,
        &format!("{}/v1/numbers/{number_id}", gw.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(code, 204);
    let (code, _) = api(
        &http,
        Method::DELETE,
        &format!("{}/v1/providers/{provider_id}", gw.base),
        &admin,
        None,
    )
    .await;
    assert_eq!(code, 204);
    let refused_by_prism = rest.refused_by_prism.lock().unwrap().clone();
    assert!(
        refused_by_prism.is_empty(),
        "Twilio's document refused requests we sent: {refused_by_prism:#?}"
    );
}
