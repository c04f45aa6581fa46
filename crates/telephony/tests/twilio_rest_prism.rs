//! Our Twilio REST client against Stoplight Prism serving Twilio's own OpenAPI document
//! (`twilio_api_v2010.json` from npm `@twilio/cli-core` 9.0.0), with request validation
//! on: Prism answers 4xx to any request the document does not allow, so every call below
//! succeeding means every request we send is one Twilio's API accepts in form. Prism is a
//! stand-in for Twilio's cloud, which cannot run here; the document is Twilio's.
//!
//! One gap in the stand-in: Prism 5.14 reads an array in a form body only in `qs` bracket
//! style (`StatusCallbackEvent[]=…`), while Twilio's API and SDKs repeat the plain key
//! once per value (`StatusCallbackEvent=initiated&StatusCallbackEvent=ringing`), which is
//! what we send. The create-call form is therefore checked in two steps: it repeats the
//! key, and the same form with repeated keys written in Prism's style validates.
//!
//! `cargo xtask setup` installs Prism (npm, tests/node) and fetches the document.

#![allow(clippy::unwrap_used)]

use switchboard_telephony::ProviderError;
use switchboard_telephony::secret::Secret;
use switchboard_telephony::twilio::rest::{
    CallUpdate, NewCall, NewParticipant, ParticipantUpdate, Rest, add_participant_form, create_call_form,
};
use switchboard_telephony::twilio::twiml::{self, Response};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";
const CONFERENCE: &str = "CF0123456789abcdef0123456789abcdef";

/// A form with its repeated keys written the way Prism reads arrays (`Key[]=`).
fn prism_style(form: &[(&'static str, String)]) -> Vec<(String, String)> {
    let repeated = |k: &str| form.iter().filter(|(n, _)| *n == k).count() > 1;
    form.iter()
        .map(|(k, v)| (if repeated(k) { format!("{k}[]") } else { (*k).to_owned() }, v.clone()))
        .collect()
}

/// Sent through the client itself, the only refusal is Prism's reading of the repeated `key`.
fn prism_reads_no_repeated_key<T: std::fmt::Debug>(result: Result<T, ProviderError>, key: &str) {
    match result {
        Err(ProviderError::Call(e)) => {
            let m = e.provider_message.unwrap_or_default();
            assert!(m.contains(key) || m.contains("not valid"), "{m}");
        }
        other => panic!("expected Prism's array complaint about {key}, got {other:?}"),
    }
}

#[tokio::test]
async fn every_request_we_send_validates_against_twilios_openapi_document() {
    let prism = switchboard_e2e::Prism::start();
    let base = prism.base.clone();
    let rest = Rest::new(&base, ACCOUNT, Secret::new("auth-token")).unwrap();
    let hold = Response::new()
        .verb(twiml::say("Please hold."))
        .verb(twiml::play("https://gw.example.com/hold.mp3", 0))
        .render();
    let call = NewCall {
        to: "+14155550199",
        from: "+14155550100",
        twiml: &hold,
        status_callback: "https://gw.example.com/webhooks/twilio/main?call_sid=call_01",
        timeout_secs: 30,
    };
    let form = create_call_form(&call);
    let events: Vec<&str> = form
        .iter()
        .filter(|(k, _)| *k == "StatusCallbackEvent")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        events,
        ["initiated", "ringing", "answered", "completed"],
        "one parameter per event"
    );
    let resp = reqwest::Client::new()
        .post(rest.calls_url())
        .basic_auth(ACCOUNT, Some("auth-token"))
        .form(&prism_style(&form))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 201, "Prism refused the create-call form: {body}");
    let placed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(placed["sid"].as_str().is_some_and(|s| s.starts_with("CA")), "{placed}");
    prism_reads_no_repeated_key(rest.create_call(&call).await, "StatusCallbackEvent");
    let transfer = Response::new()
        .verb(twiml::dial(Some("+14155550100"), twiml::number("+14155550777")))
        .render();
    for update in [CallUpdate::Twiml(&transfer), CallUpdate::Complete, CallUpdate::Cancel] {
        rest.update_call(CALL, &update)
            .await
            .unwrap_or_else(|e| panic!("{update:?}: {e}"));
    }
    rest.start_recording(CALL, "https://gw.example.com/webhooks/twilio/main?call_sid=call_01")
        .await
        .unwrap();
    rest.stop_recording(CALL).await.unwrap();
    rest.check_account().await.unwrap();

    // Conference mode: an agent's phone added by the conference's friendly name (our
    // call_sid), then the caller held, resumed and played keys, and the agent's leg removed.
    let agent = NewParticipant {
        from: "+14155550100",
        to: "client:alice",
        label: "agent",
        start_on_enter: true,
        end_on_exit: false,
        timeout_secs: 30,
        conference_status_callback: "https://gw.example.com/webhooks/twilio/main?call_sid=call_01&caller=CA1",
    };
    let form = add_participant_form(&agent);
    let events: Vec<&str> = form
        .iter()
        .filter(|(k, _)| *k == "ConferenceStatusCallbackEvent")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(events, ["start", "end", "join", "leave"], "one parameter per event");
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/Accounts/{ACCOUNT}/Conferences/call_01J0000000000000000000000Z/Participants.json"
        ))
        .basic_auth(ACCOUNT, Some("auth-token"))
        .form(&prism_style(&form))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 201, "Prism refused the add-participant form: {body}");
    let added: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        added["call_sid"].as_str().is_some_and(|s| s.starts_with("CA")),
        "{added}"
    );
    prism_reads_no_repeated_key(
        rest.add_participant("call_01J0000000000000000000000Z", &agent).await,
        "ConferenceStatusCallbackEvent",
    );
    for update in [
        ParticipantUpdate::Hold(Some("https://gw.example.com/hold.mp3")),
        ParticipantUpdate::Hold(None),
        ParticipantUpdate::Unhold,
        ParticipantUpdate::Announce("https://gw.example.com/webhooks/twilio/main?call_sid=call_01&digits=1%23"),
    ] {
        rest.update_participant(CONFERENCE, CALL, &update)
            .await
            .unwrap_or_else(|e| panic!("{update:?}: {e}"));
    }
    rest.remove_participant(CONFERENCE, CALL).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_carrier_is_a_clear_network_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rest = Rest::new(
        &format!("http://127.0.0.1:{port}/2010-04-01"),
        ACCOUNT,
        Secret::new("t"),
    )
    .unwrap();
    match rest.check_account().await {
        Err(ProviderError::Call(e)) => {
            assert_eq!(e.code, switchboard_core::CallErrorCode::Network);
            assert!(!e.message.contains('t') || e.message.contains("reached"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}
