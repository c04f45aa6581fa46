//! A Twilio provider in conference mode: agents talk on their own phones, each call is a
//! Twilio conference named by our `call_sid`, hold is Twilio's participant hold.
//!
//! Twilio's cloud cannot run here; as in `twilio_call_flow.rs` it is played from its own
//! documents: Stoplight Prism serving Twilio's OpenAPI document validates every REST
//! request (a 4xx fails the test) behind a proxy that gives each new call and participant
//! its own `CA…` id, and the conference's callbacks are signed form posts with the fields
//! Twilio's conference status callback carries (`ConferenceSid`, `FriendlyName`,
//! `StatusCallbackEvent`, `CallSid`, `SequenceNumber`, …) sent to the URL our TwiML named.
//!
//! Checked: the inbound caller waits in its conference; answering rings the answering
//! agent's phone into it (From the business number) and the call is answered when that
//! phone joins; hold and resume are participant updates with the configured music; keys are
//! an announcement Twilio fetches as `<Play digits>`; a transfer to another agent holds the
//! caller, removes the first agent's leg (whose leaving does not end the call) and rings
//! the next agent's phone, which takes the caller off hold as it joins; that agent hanging
//! up ends the call at Twilio; an agent with no phone configured is told so; an outbound
//! call seats the customer and rings the agent into the same conference. A configuration
//! change in the middle of the call changes none of this.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;
mod twilio_cloud;

use reqwest::Method;
use serde_json::json;
use support::*;
use switchboard_core::api::{OutboundCallRequest, TransferTarget};
use switchboard_core::{AgentRole, CallSid, CallStatus, MediaJoin};
use twilio_cloud::*;

const PROVIDER: &str = "twilio-desk";
const HOLD_MUSIC: &str = "https://music.example.com/hold.mp3";
const ALICE_PHONE: &str = "+15005550101";
const BOB_PHONE: &str = "client:bob";

/// The value of attribute `name` of the first `element` in `xml`.
fn attr(xml: &str, element: &str, name: &str) -> String {
    let rest = &xml[xml
        .find(&format!("<{element}"))
        .unwrap_or_else(|| panic!("no {element} in {xml}"))..];
    let rest = &rest[..rest.find('>').unwrap()];
    let at = rest
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {rest}"))
        + name.len()
        + 3;
    rest[at..at + rest[at..].find('"').unwrap()].replace("&amp;", "&")
}

/// One conference status callback, as Twilio posts it.
fn conference_event<'a>(
    conference: &'a str,
    name: &'a str,
    event: &'a str,
    leg: &'a str,
    seq: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT),
        ("CallSid", leg),
        ("Coaching", "false"),
        ("ConferenceSid", conference),
        ("FriendlyName", name),
        ("Hold", "false"),
        ("Muted", "false"),
        ("SequenceNumber", seq),
        ("StatusCallbackEvent", event),
    ]
}

fn field(form: &[(String, String)], k: &str) -> Option<String> {
    form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conference_calls_ring_the_agents_own_phone() {
    let prism = switchboard_e2e::Prism::start();
    let (rest, api_base) = rest_stand_in(&prism).await;
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let seeded = &seeded[0];
    let http = reqwest::Client::new();
    let admin = admin_token(&gw, seeded).await;
    let alice = gw.client(&token(&*gw.store, seeded, "alice").await);
    let bob = gw.client(&token(&*gw.store, seeded, "bob").await);

    let config = json!({ "account_sid": ACCOUNT, "auth_token": format!("secret:{SECRET_NAME}"), "api_base": api_base,
                         "media": "conference", "hold_music_url": HOLD_MUSIC,
                         "agent_phones": { "alice": ALICE_PHONE, "bob": BOB_PHONE } });
    let provider_id = add_provider(&http, &gw, &admin, PROVIDER, "twilio", config).await;
    let number = add_number(
        &http,
        &gw,
        &admin,
        json!({ "e164": NUMBER, "label": "Twilio desk phones", "provider_id": provider_id, "inbound": true, "outbound": true }),
    )
    .await;
    let webhook = format!("{}/webhooks/twilio/{PROVIDER}", gw.base);

    // ---- An inbound call waits in its conference.
    let caller = new_twilio_sid("CA");
    let from = "+16285550131";
    let voice = voice_params(&caller, from);
    let (code, twiml) = twilio_post(&http, &webhook, &voice, SECRET).await;
    assert_eq!(code, 200, "{twiml}");
    assert_eq!(attr(&twiml, "Conference", "startConferenceOnEnter"), "false", "{twiml}");
    assert_eq!(attr(&twiml, "Conference", "endConferenceOnExit"), "true", "{twiml}");
    assert_eq!(attr(&twiml, "Conference", "waitUrl"), HOLD_MUSIC);
    let close = twiml.find("</Conference>").unwrap();
    let name = twiml[twiml[..close].rfind('>').unwrap() + 1..close].to_owned();
    let sid: CallSid = name.parse().unwrap();
    let callback = attr(&twiml, "Conference", "statusCallback");
    assert_eq!(callback, format!("{webhook}?call_sid={sid}&caller={caller}"));
    let conference = new_twilio_sid("CF");
    for (event, seq) in [("conference-start", "0"), ("participant-join", "1")] {
        let (code, body) = twilio_post(
            &http,
            &callback,
            &conference_event(&conference, &name, event, &caller, seq),
            SECRET,
        )
        .await;
        assert_eq!(code, 200, "{body}");
    }
    let queued = wait_status(&alice, &sid, CallStatus::Ringing).await;
    assert_eq!(queued.vendor_call_id.as_deref(), Some(caller.as_str()));

    // ---- An agent with no phone here is told so, and the call keeps waiting.
    let carol_id = gw
        .store
        .create_agent(seeded.business, "carol", "Carol Reyes", AgentRole::Agent)
        .await
        .unwrap();
    let carol = gw.client(
        &switchboard_gateway::demo::issue_token(&*gw.store, carol_id)
            .await
            .unwrap(),
    );
    let err = carol.answer(&sid).await.expect_err("carol has no phone");
    assert!(err.to_string().contains("agent_phones"), "{err}");
    assert!(rest.requests("/Participants.json").is_empty());

    // ---- Alice answers: her phone rings into the conference; answered when it joins.
    let answered = alice.answer(&sid).await.unwrap();
    assert_eq!(answered.media, MediaJoin::None, "the audio is on her phone");
    let added = rest.requests(&format!("/Conferences/{name}/Participants.json"));
    let ring = added.last().unwrap();
    assert_eq!(field(ring, "To").as_deref(), Some(ALICE_PHONE));
    assert_eq!(field(ring, "From").as_deref(), Some(NUMBER));
    assert_eq!(field(ring, "StartConferenceOnEnter").as_deref(), Some("true"));
    assert_eq!(field(ring, "EndConferenceOnExit").as_deref(), Some("false"));
    let alice_leg = rest.participants.lock().unwrap().last().unwrap().clone();
    assert_eq!(alice.call(&sid).await.unwrap().call.status, CallStatus::Ringing);
    let (code, body) = twilio_post(
        &http,
        &callback,
        &conference_event(&conference, &name, "participant-join", &alice_leg, "2"),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    wait_status(&alice, &sid, CallStatus::Answered).await;

    // ---- The provider's config changes mid-call: from now on callbacks reach the new
    // instance while the call's actions stay with the one it started on; both must know
    // the call (its conference, its agent's leg).
    let changed = json!({ "account_sid": ACCOUNT, "auth_token": format!("secret:{SECRET_NAME}"), "api_base": api_base,
                          "media": "conference", "hold_music_url": HOLD_MUSIC, "ring_timeout_secs": 25,
                          "agent_phones": { "alice": ALICE_PHONE, "bob": BOB_PHONE } });
    let (code, body) = api(
        &http,
        Method::PATCH,
        &format!("{}/v1/providers/{provider_id}", gw.base),
        &admin,
        Some(json!({ "config": changed })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    provider_running_with(&http, &gw, &admin, PROVIDER, |c| c["ring_timeout_secs"] == 25).await;

    // ---- Hold and resume: Twilio's participant hold on the caller, with our music.
    let caller_participant = format!("/Conferences/{conference}/Participants/{caller}.json");
    alice.hold(&sid).await.unwrap();
    wait_status(&alice, &sid, CallStatus::OnHold).await;
    let held = rest.requests(&caller_participant);
    assert_eq!(field(held.last().unwrap(), "Hold").as_deref(), Some("true"));
    assert_eq!(field(held.last().unwrap(), "HoldUrl").as_deref(), Some(HOLD_MUSIC));
    alice.resume(&sid).await.unwrap();
    wait_status(&alice, &sid, CallStatus::Answered).await;
    assert_eq!(
        field(rest.requests(&caller_participant).last().unwrap(), "Hold").as_deref(),
        Some("false")
    );

    // ---- Keys: an announcement to the caller, which Twilio fetches as <Play digits>.
    alice.dtmf(&sid, "4#").await.unwrap();
    let announce = eventually(10, "the announcement", || async {
        rest.requests(&caller_participant)
            .iter()
            .find_map(|f| field(f, "AnnounceUrl"))
    })
    .await;
    let (code, play) = twilio_post(
        &http,
        &announce,
        &[
            ("AccountSid", ACCOUNT),
            ("CallSid", caller.as_str()),
            ("ConferenceSid", conference.as_str()),
        ],
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{play}");
    assert!(play.ends_with("<Response><Play digits=\"4#\"/></Response>"), "{play}");

    // ---- Transfer to Bob: the caller on hold, Alice's leg removed, the call rings Bob.
    let bob_id = seeded.agent("bob");
    alice.transfer(&sid, TransferTarget::Agent(bob_id)).await.unwrap();
    let ringing = wait_status(&bob, &sid, CallStatus::Ringing).await;
    assert_eq!(ringing.agent_id, Some(bob_id));
    let removed = rest.requests(&format!(
        "DELETE /2010-04-01/Accounts/{ACCOUNT}/Conferences/{conference}/Participants/{alice_leg}.json"
    ));
    assert_eq!(removed.len(), 1, "Alice's leg is hung up");
    assert_eq!(
        field(rest.requests(&caller_participant).last().unwrap(), "Hold").as_deref(),
        Some("true"),
        "the caller waits on hold"
    );
    // Her leg leaving is the transfer, not the end of the call.
    let (code, body) = twilio_post(
        &http,
        &callback,
        &conference_event(&conference, &name, "participant-leave", &alice_leg, "3"),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    bob.answer(&sid).await.unwrap();
    let ring = rest.requests(&format!("/Conferences/{name}/Participants.json"));
    assert_eq!(field(ring.last().unwrap(), "To").as_deref(), Some(BOB_PHONE));
    let bob_leg = rest.participants.lock().unwrap().last().unwrap().clone();
    assert_eq!(bob.call(&sid).await.unwrap().call.status, CallStatus::Ringing);
    let (code, body) = twilio_post(
        &http,
        &callback,
        &conference_event(&conference, &name, "participant-join", &bob_leg, "4"),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    wait_status(&bob, &sid, CallStatus::Answered).await;
    eventually(10, "the caller off hold", || async {
        let last = rest.requests(&caller_participant).last().cloned()?;
        (field(&last, "Hold").as_deref() == Some("false")).then_some(())
    })
    .await;

    // ---- Bob hangs up his phone: the call is ended at Twilio.
    let (code, body) = twilio_post(
        &http,
        &callback,
        &conference_event(&conference, &name, "participant-leave", &bob_leg, "5"),
        SECRET,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let ended = wait_status(&bob, &sid, CallStatus::Completed).await;
    assert!(ended.error.is_none(), "{ended:?}");
    let ends = rest.requests(&format!("/Calls/{caller}.json"));
    assert!(
        ends.iter().any(|f| field(f, "Status").as_deref() == Some("completed")),
        "the caller's call was ended: {ends:?}"
    );

    // ---- Outbound: the customer is seated in the conference, Alice's phone rung into it.
    let placed = alice
        .place_call(&OutboundCallRequest {
            from_number_id: serde_json::from_value(number["id"].clone()).unwrap(),
            to: "+15005550123".parse().unwrap(),
            lead_id: None,
            ai_agent: None,
        })
        .await
        .unwrap();
    let out = placed.call.call_sid.clone();
    let created = rest.requests("/Calls.json");
    let form = created.last().unwrap();
    let seat = field(form, "Twiml").unwrap();
    assert!(seat.contains(&format!(">{out}</Conference>")), "{seat}");
    assert_eq!(attr(&seat, "Conference", "startConferenceOnEnter"), "true");
    let customer = eventually(10, "Twilio's id on the record", || async {
        alice.call(&out).await.ok()?.call.vendor_call_id
    })
    .await;
    let ring = rest.requests(&format!("/Conferences/{out}/Participants.json"));
    let ring = ring.last().unwrap();
    assert_eq!(field(ring, "To").as_deref(), Some(ALICE_PHONE));
    assert_eq!(
        field(ring, "ConferenceStatusCallback"),
        Some(format!("{webhook}?call_sid={out}&caller={customer}"))
    );
    let out_callback = format!("{webhook}?call_sid={out}");
    outbound_progress(&http, &alice, &out, &out_callback, &customer, "+15005550123").await;

    // An outbound call by an agent with no phone is refused before anyone is dialled.
    let calls_before = rest.requests("/Calls.json").len();
    let refused = carol
        .place_call(&OutboundCallRequest {
            from_number_id: serde_json::from_value(number["id"].clone()).unwrap(),
            to: "+15005550124".parse().unwrap(),
            lead_id: None,
            ai_agent: None,
        })
        .await
        .unwrap();
    assert_eq!(refused.call.status, CallStatus::Failed);
    assert!(
        refused.call.error.as_ref().unwrap().message.contains("agent_phones"),
        "{:?}",
        refused.call.error
    );
    assert_eq!(rest.requests("/Calls.json").len(), calls_before);

    let refused_by_prism = rest.refused_by_prism.lock().unwrap().clone();
    assert!(
        refused_by_prism.is_empty(),
        "Twilio's document refused requests we sent: {refused_by_prism:#?}"
    );
    let (code, _) = api(
        &http,
        Method::DELETE,
        &format!("{}/v1/numbers/{}", gw.base, number["id"]),
        &admin,
        None,
    )
    .await;
    assert_eq!(code, 204);
}
