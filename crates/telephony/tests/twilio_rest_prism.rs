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
use switchboard_telephony::twilio::rest::{CallUpdate, NewCall, Rest, create_call_form};
use switchboard_telephony::twilio::twiml::{self, Response};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";

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
    let repeated = ["StatusCallbackEvent"];
    let prism_style: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| {
            let k = if repeated.contains(k) {
                format!("{k}[]")
            } else {
                (*k).to_owned()
            };
            (k, v.clone())
        })
        .collect();
    let resp = reqwest::Client::new()
        .post(rest.calls_url())
        .basic_auth(ACCOUNT, Some("auth-token"))
        .form(&prism_style)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 201, "Prism refused the create-call form: {body}");
    let placed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(placed["sid"].as_str().is_some_and(|s| s.starts_with("CA")), "{placed}");
    // Through the client itself, the only refusal is Prism's reading of the repeated key.
    match rest.create_call(&call).await {
        Err(ProviderError::Call(e)) => {
            let m = e.provider_message.unwrap_or_default();
            assert!(m.contains("StatusCallbackEvent") || m.contains("not valid"), "{m}");
        }
        other => panic!("expected Prism's array complaint, got {other:?}"),
    }
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
