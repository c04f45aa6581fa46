//! The provider's own behaviour, without a network: webhooks in, events and TwiML out.
use super::*;
use crate::registry::SystemClock;
use crate::secret::{NoSecrets, SecretSource};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";

/// A provider named `tw` behind `https://gw.example.com`, its API on a closed port.
fn provider_with(extra: serde_json::Value) -> (Twilio, tokio::sync::mpsc::Receiver<ProviderEvent>) {
    let (sink, rx) = tokio::sync::mpsc::channel(16);
    let ctx = ProviderContext {
        provider_id: switchboard_core::ProviderId::try_from(1).unwrap(),
        name: "tw".into(),
        numbers: vec![],
        lead_phones: vec![],
        sink,
        public_url: "https://gw.example.com/".into(),
        clock: Arc::new(SystemClock),
        secrets: Arc::new(NoSecrets),
        carry: Arc::default(),
    };
    let mut cfg =
        serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "tok", "api_base": "http://127.0.0.1:9/2010-04-01" });
    if let (Some(cfg), Some(extra)) = (cfg.as_object_mut(), extra.as_object()) {
        cfg.extend(extra.clone());
    }
    (Twilio::from_context(&cfg, &ctx).unwrap(), rx)
}

fn provider() -> (Twilio, tokio::sync::mpsc::Receiver<ProviderEvent>) {
    provider_with(serde_json::json!({}))
}

fn signed(url: &str, params: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let sig = signature::sign("tok", url, &owned);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&owned)
        .finish();
    (
        vec![
            ("x-twilio-signature".into(), sig),
            ("content-type".into(), "application/x-www-form-urlencoded".into()),
        ],
        body.into_bytes(),
    )
}

fn inbound(status: &str, source: Option<&str>) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("AccountSid", ACCOUNT.to_owned()),
        ("CallSid", CALL.to_owned()),
        ("CallStatus", status.to_owned()),
        ("Direction", "inbound".to_owned()),
        ("From", "+16285550111".to_owned()),
        ("To", "+15005550142".to_owned()),
    ];
    if let Some(s) = source {
        p.push(("CallbackSource", s.to_owned()));
    }
    p
}

fn deliver(t: &Twilio, params: &[(&'static str, String)]) -> (Vec<ProviderEvent>, WebhookReply) {
    let url = "https://gw.example.com/webhooks/twilio/tw";
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (headers, body) = signed(url, &borrowed);
    let req = WebhookRequest {
        url,
        headers: &headers,
        body: &body,
        peer: None,
    };
    let events = t.parse_webhook(&req).unwrap();
    let sid: CallSid = "call_01J0000000000000000000000Z".parse().unwrap();
    let reply = t.webhook_response(&req, Some(&sid));
    (events, reply)
}

fn status_of(events: &[ProviderEvent]) -> Option<CallStatus> {
    match &events[0] {
        ProviderEvent::Call(ev) => ev.status,
        _ => None,
    }
}

#[tokio::test]
async fn the_voice_webhook_puts_the_caller_on_the_bridge_and_callbacks_get_an_empty_answer() {
    let (t, _rx) = provider();
    let (events, reply) = deliver(&t, &inbound("ringing", None));
    assert_eq!(status_of(&events), Some(CallStatus::Ringing));
    assert_eq!(reply.content_type, "text/xml");
    assert!(
        reply.body.contains("<Connect><Stream url=\"wss://gw.example.com/webhooks/twilio/tw/stream\"><Parameter name=\"call_sid\" value=\"call_01J0000000000000000000000Z\"/>"),
        "{}",
        reply.body
    );
    let (_, reply) = deliver(&t, &inbound("in-progress", Some("call-progress-events")));
    assert!(reply.body.ends_with("<Response/>"), "{}", reply.body);
}

#[tokio::test]
async fn an_inbound_call_nobody_took_is_abandoned_and_one_an_agent_took_is_completed() {
    let (t, mut rx) = provider();
    deliver(&t, &inbound("ringing", None));
    let (events, _) = deliver(&t, &inbound("completed", Some("call-progress-events")));
    assert_eq!(status_of(&events), Some(CallStatus::Abandoned));

    let (t, mut rx2) = provider();
    deliver(&t, &inbound("ringing", None));
    let call = CallRef {
        call_sid: "call_01J0000000000000000000000Z".parse().unwrap(),
        vendor_call_id: Some(CALL.into()),
        direction: Direction::Inbound,
        from: "+16285550111".into(),
        to: "+15005550142".into(),
        agent: Some("alice".into()),
    };
    t.answer(&call).await.unwrap();
    match rx2.recv().await.unwrap() {
        ProviderEvent::Call(ev) => assert_eq!(ev.status, Some(CallStatus::Answered)),
        other => panic!("{other:?}"),
    }
    let (events, _) = deliver(&t, &inbound("completed", Some("call-progress-events")));
    assert_eq!(status_of(&events), Some(CallStatus::Completed));
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_forged_or_unsigned_callback_is_refused() {
    let (t, _rx) = provider();
    let url = "https://gw.example.com/webhooks/twilio/tw";
    let (mut headers, body) = signed(url, &[("CallSid", CALL), ("CallStatus", "ringing")]);
    headers[0].1 = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let req = WebhookRequest {
        url,
        headers: &headers,
        body: &body,
        peer: None,
    };
    assert_eq!(t.parse_webhook(&req).unwrap_err(), WebhookError::BadSignature);
    let bare = WebhookRequest {
        url,
        headers: &[],
        body: &body,
        peer: None,
    };
    assert_eq!(t.parse_webhook(&bare).unwrap_err(), WebhookError::BadSignature);
}

#[test]
fn memory_of_calls_is_bounded() {
    let mut calls = HashMap::new();
    for i in 0..(MAX_KNOWN as i64 + 10) {
        known(&mut calls, &format!("CA{i:032x}"), i);
    }
    assert!(calls.len() <= MAX_KNOWN, "{} calls remembered", calls.len());
    assert!(
        calls.contains_key(&format!("CA{:032x}", MAX_KNOWN + 9)),
        "the newest call is kept"
    );
}

/// Why `cfg` is refused.
fn refusal(cfg: &serde_json::Value) -> String {
    let secrets: Arc<dyn SecretSource> = Arc::new(NoSecrets);
    TwilioConfig::parse(cfg, &secrets).unwrap_err().to_string()
}

#[test]
fn configs_are_checked_and_credentials_must_be_references() {
    let secrets: Arc<dyn SecretSource> = Arc::new(NoSecrets);
    let literal = serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "abc123" });
    let err = TwilioConfig::check_stored(&literal, &secrets).unwrap_err().to_string();
    assert!(err.contains("auth_token") && !err.contains("abc123"), "{err}");
    let bad_sid = serde_json::json!({ "account_sid": "AC12", "auth_token": "x" });
    assert!(refusal(&bad_sid).contains("account_sid"));
    let signalwire = serde_json::json!({ "account_sid": "b7c0…project", "auth_token": "x", "flavor": "signalwire" });
    assert!(refusal(&signalwire).contains("api_base"));
    let media = serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "x", "media": "conference" });
    assert!(refusal(&media).contains("agent_phones"));
    let phones = serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "x", "media": "conference",
                                     "agent_phones": { "alice": "+14155550100", "bob": "client:bob", "carol": "sip:carol@pbx.example.com" } });
    TwilioConfig::parse(&phones, &secrets).unwrap();
    for bad in ["4155550100", "client:", "sip:a b", "+1415555"] {
        let cfg = serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "x", "media": "conference",
                                      "agent_phones": { "alice": bad } });
        let err = refusal(&cfg);
        assert!(err.contains("agent_phones.alice"), "{bad}: {err}");
    }
    let music = serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "x", "hold_music_url": "ftp://x" });
    assert!(refusal(&music).contains("hold_music_url"));
    let unknown = serde_json::json!({ "account_sid": ACCOUNT, "auth_token": "x", "media": "webrtc" });
    assert!(refusal(&unknown).contains("media"));
}

fn conferencing() -> (Twilio, tokio::sync::mpsc::Receiver<ProviderEvent>) {
    provider_with(serde_json::json!({ "media": "conference", "agent_phones": { "alice": "+14155550100" } }))
}

fn deliver_to(
    t: &Twilio,
    url: &str,
    params: &[(&str, &str)],
) -> Result<(Vec<ProviderEvent>, WebhookReply), WebhookError> {
    let (headers, body) = signed(url, params);
    let req = WebhookRequest {
        url,
        headers: &headers,
        body: &body,
        peer: None,
    };
    let events = t.parse_webhook(&req)?;
    Ok((events, t.webhook_response(&req, None)))
}

#[tokio::test]
async fn in_conference_mode_the_caller_waits_in_its_conference_and_the_agents_phone_joining_answers() {
    let (t, _rx) = conferencing();
    let (_, reply) = deliver(&t, &inbound("ringing", None));
    let sid = "call_01J0000000000000000000000Z";
    assert!(
        reply.body.contains(&format!(
            "<Dial><Conference beep=\"false\" startConferenceOnEnter=\"false\" endConferenceOnExit=\"true\" \
             statusCallback=\"https://gw.example.com/webhooks/twilio/tw?call_sid={sid}&amp;caller={CALL}\" \
             statusCallbackMethod=\"POST\" statusCallbackEvent=\"start end join leave\">{sid}</Conference></Dial>"
        )),
        "{}",
        reply.body
    );
    assert_eq!(
        t.media_join(&CallRef {
            call_sid: sid.parse().unwrap(),
            vendor_call_id: Some(CALL.into()),
            direction: Direction::Inbound,
            from: String::new(),
            to: String::new(),
            agent: None,
        }),
        MediaJoin::None
    );

    let url = format!("https://gw.example.com/webhooks/twilio/tw?call_sid={sid}&caller={CALL}");
    let conference = "CF0123456789abcdef0123456789abcdef";
    let agent_leg = "CAffff456789abcdef0123456789abcdef";
    let event = |ev: &'static str, leg: &'static str, seq: &'static str| {
        vec![
            ("AccountSid", ACCOUNT),
            ("ConferenceSid", conference),
            ("FriendlyName", sid),
            ("StatusCallbackEvent", ev),
            ("CallSid", leg),
            ("SequenceNumber", seq),
        ]
    };
    // The caller entering changes nothing; the agent's phone entering answers the call.
    let (events, reply) = deliver_to(&t, &url, &event("participant-join", CALL, "1")).unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert!(reply.body.ends_with("<Response/>"), "{}", reply.body);
    let (events, _) = deliver_to(&t, &url, &event("participant-join", agent_leg, "2")).unwrap();
    assert_eq!(status_of(&events), Some(CallStatus::Answered));
    let ProviderEvent::Call(ev) = &events[0] else { panic!() };
    assert_eq!(ev.call_sid.as_ref().map(CallSid::as_str), Some(sid));
    assert_eq!(ev.vendor_call_id.as_deref(), Some(CALL));
    assert_eq!(
        t.calls().get(CALL).and_then(|k| k.conference.clone()).as_deref(),
        Some(conference)
    );

    // Bad ids are refused; a conference that is not ours is ignored.
    let mut bad = event("participant-join", agent_leg, "3");
    bad[1].1 = "CF12";
    assert!(matches!(deliver_to(&t, &url, &bad), Err(WebhookError::Malformed(_))));
    let other = deliver_to(
        &t,
        "https://gw.example.com/webhooks/twilio/tw",
        &event("participant-join", agent_leg, "4"),
    )
    .unwrap();
    assert!(other.0.is_empty());

    // Keys are fetched as an announcement of <Play digits>.
    let (events, reply) = deliver_to(
        &t,
        &format!("https://gw.example.com/webhooks/twilio/tw?call_sid={sid}&digits=1%23"),
        &[("CallSid", CALL)],
    )
    .unwrap();
    assert!(events.is_empty());
    assert!(
        reply.body.ends_with("<Response><Play digits=\"1#\"/></Response>"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn in_conference_mode_an_agent_without_a_phone_is_told_so_before_anyone_is_dialled() {
    let (t, _rx) = conferencing();
    let call = OutboundCall {
        call_sid: "call_01J0000000000000000000000Z".parse().unwrap(),
        from: "+15005550142".parse().unwrap(),
        to: "+15005550123".parse().unwrap(),
        ai_agent: None,
        agent: Some("mallory".into()),
    };
    // The API base is a closed port: reaching it would be a network error instead.
    let err = t.initiate(&call).await.unwrap_err().to_string();
    assert!(err.contains("mallory has no phone"), "{err}");
}
