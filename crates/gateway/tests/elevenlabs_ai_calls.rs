//! AI calls through ElevenLabs (seed 002): a lead handed to an ElevenLabs agent, and the
//! post-call webhook that brings the conversation back.
//!
//! ElevenLabs' cloud cannot run here. Its API is played by a stand-in built from the
//! documented formats (protocols §4; `POST /v1/convai/twilio/outbound-call` answering
//! `{success, message, conversation_id, callSid}`), and the vendor's own SDK (PyPI
//! `elevenlabs`, `tests/python/elevenlabs_oracle.py`) checks both sides of it: the SDK,
//! asked for the same call, sends the stand-in exactly the request the gateway sent, and
//! it reads the stand-in's answer as a success. Webhook signatures are checked against the
//! SDK's verifier in switchboard-telephony's `elevenlabs_oracle` test.
//!
//! Checked: the record exists before ElevenLabs is asked and carries `call_sid`,
//! `conversation_id` and Twilio's id; a refusal leaves it failed with the platform's
//! message; the post-call webhook finds the call by the echoed `call_sid`, then checks its
//! `conversation_id`, and stores turns, summary and outcome once however often it is
//! delivered; an unknown `call_sid` is a 400 with an audit event; a call without a
//! `conversation_id` is a 400 saying so; a forged signature is a 401; a number whose
//! provider has no AI agents refuses `ai_agent` with 422.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};
use support::*;
use switchboard_core::api::OutboundCallRequest;
use switchboard_core::{CallStatus, StreamEventKind, TranscriptRole};
use switchboard_telephony::elevenlabs;

const NUMBER: &str = "+15005550177";
const REFUSED: &str = "+15005550009";
const PROVIDER: &str = "ai-calls";

#[derive(Clone, Default)]
struct StandIn {
    /// (xi-api-key, body) of every outbound-call request.
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn outbound_call(State(s): State<StandIn>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    let key = headers
        .get("xi-api-key")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    s.calls.lock().unwrap().push((key, body.clone()));
    if body["to_number"] == REFUSED {
        return Json(json!({ "success": false, "message": "Twilio could not place the call: number unreachable" }));
    }
    let n = ulid::Ulid::new().0;
    Json(
        json!({ "success": true, "message": "Success", "conversation_id": format!("conv_{n:x}"),
                 "callSid": format!("CA{n:032x}") }),
    )
}

async fn agent(Path(id): Path<String>, headers: HeaderMap) -> (axum::http::StatusCode, Json<Value>) {
    if headers.get("xi-api-key").is_none() {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({ "detail": "missing api key" })),
        );
    }
    (
        axum::http::StatusCode::OK,
        Json(json!({ "agent_id": id, "name": "Ava" })),
    )
}

async fn stand_in() -> (StandIn, String) {
    let s = StandIn::default();
    let app = axum::Router::new()
        .route("/v1/convai/twilio/outbound-call", axum::routing::post(outbound_call))
        .route("/v1/convai/agents/{id}", axum::routing::get(agent))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (s, base)
}

fn post_call(call_sid: &str, conversation: &str) -> Value {
    let start = recent(0) / 1000;
    json!({ "type": "post_call_transcription", "event_timestamp": start + 40,
        "data": { "agent_id": "agent_7", "conversation_id": conversation, "status": "done",
            "transcript": [
                { "role": "agent", "message": "Hi, this is Ava from Switchboard. Is now a good time?", "time_in_call_secs": 0 },
                { "role": "user", "message": "Sure, go ahead.", "time_in_call_secs": 4 },
                { "role": "agent", "message": "Great, I will book the demo for Thursday.", "time_in_call_secs": 9 }
            ],
            "metadata": { "start_time_unix_secs": start, "call_duration_secs": 31 },
            "analysis": { "call_successful": "success", "transcript_summary": "The lead agreed to a demo on Thursday." },
            "conversation_initiation_client_data": { "dynamic_variables": { "call_sid": call_sid } } } })
}

/// Place a call as the agent; the record as the reply has it.
async fn place(
    client: &switchboard_client::Client,
    to: switchboard_core::E164,
    from: switchboard_core::NumberId,
    lead: Option<switchboard_core::LeadId>,
    ai_agent: Option<String>,
) -> switchboard_core::CallRecord {
    let req = OutboundCallRequest {
        to,
        from_number_id: from,
        lead_id: lead,
        ai_agent,
    };
    client.place_call(&req).await.unwrap().call
}

async fn deliver(http: &reqwest::Client, base: &str, body: &Value, secret: &str) -> (u16, String) {
    let raw = body.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let header = elevenlabs::sign(secret, now, raw.as_bytes());
    let resp = http
        .post(format!("{base}/webhooks/elevenlabs/{PROVIDER}"))
        .header("content-type", "application/json")
        .header("ElevenLabs-Signature", header)
        .body(raw)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_handed_to_an_elevenlabs_agent_comes_back_with_its_conversation() {
    let (platform, api_base) = stand_in().await;
    let db = TestDb::sqlite().await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let seeded = &seeded[0];
    let http = reqwest::Client::new();
    let admin = admin_token(&gw, seeded).await;
    let client = gw.client(&token(&*gw.store, seeded, "alice").await);
    let url = |p: &str| format!("{}{p}", gw.base);

    let config = json!({ "api_key": format!("secret:{SECRET_NAME}"), "webhook_secret": format!("secret:{SECRET_NAME}"),
        "api_base": api_base, "agents": { "ava": "agent_7" }, "phone_numbers": { NUMBER: "phnum_1" } });
    let provider_id = add_provider(&http, &gw, &admin, PROVIDER, "elevenlabs", config).await;
    let (code, body) = api(
        &http,
        Method::POST,
        &url(&format!("/v1/providers/{provider_id}/check")),
        &admin,
        None,
    )
    .await;
    assert_eq!((code, body["ok"].clone()), (200, json!(true)), "{body}");
    let number = add_number(
        &http,
        &gw,
        &admin,
        json!({
            "e164": NUMBER, "label": "AI outbound", "provider_id": provider_id, "inbound": false, "outbound": true
        }),
    )
    .await;
    assert_eq!(number["provider_capabilities"]["ai_agents"], true, "{number}");
    let number_id = serde_json::from_value(number["id"].clone()).unwrap();
    let lead = client.leads(None).await.unwrap().leads[0].clone();

    // ai_agent on a number whose provider has none: refused before anything is stored.
    let before = client.calls(&Default::default()).await.unwrap().calls.len();
    let req = OutboundCallRequest {
        to: lead.phone.parse().unwrap(),
        from_number_id: seeded.numbers[0],
        lead_id: Some(lead.id),
        ai_agent: Some("ava".into()),
    };
    let err = client.place_call(&req).await.unwrap_err();
    assert!(err.to_string().contains("AI agents"), "{err}");
    assert_eq!(client.calls(&Default::default()).await.unwrap().calls.len(), before);

    // Hand the lead to Ava.
    let placed = place(
        &client,
        lead.phone.parse().unwrap(),
        number_id,
        Some(lead.id),
        Some("ava".into()),
    )
    .await;
    let sid = placed.call_sid.clone();
    let conversation = placed.conversation_id.clone().expect("conversation_id stored");
    assert_eq!(placed.voice_platform.as_ref().map(|p| p.as_str()), Some("elevenlabs"));
    assert!(
        placed.vendor_call_id.as_deref().unwrap().starts_with("CA"),
        "{placed:?}"
    );
    let (key, ours) = platform.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(key, SECRET);
    assert_eq!(
        ours["conversation_initiation_client_data"]["dynamic_variables"]["call_sid"],
        sid.as_str()
    );

    // The SDK, asked for the same call, sends the same request and accepts the answer.
    let mut sdk = switchboard_e2e::PyOracle::start("elevenlabs_oracle.py");
    let theirs_answer = sdk.ask(
        &json!({ "op": "outbound", "base_url": api_base, "api_key": SECRET, "agent_id": "agent_7",
        "phone_number_id": "phnum_1", "to_number": lead.phone, "call_sid": sid.as_str() }),
    );
    assert_eq!(theirs_answer["ok"], true, "{theirs_answer}");
    assert!(
        theirs_answer["conversation_id"].as_str().unwrap().starts_with("conv_"),
        "{theirs_answer}"
    );
    let (their_key, theirs) = platform.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(their_key, SECRET);
    assert_eq!(ours, theirs, "our request differs from the SDK's");

    // A refusal is kept, with the platform's words.
    let refused = place(&client, REFUSED.parse().unwrap(), number_id, None, Some("ava".into())).await;
    assert_eq!(refused.status, CallStatus::Failed);
    assert!(
        refused
            .error
            .as_ref()
            .unwrap()
            .provider_message
            .as_deref()
            .unwrap()
            .contains("number unreachable"),
        "{refused:?}"
    );
    // An agent name nobody configured fails the same way, naming the ones there are.
    let unknown = place(
        &client,
        lead.phone.parse().unwrap(),
        number_id,
        None,
        Some("bob".into()),
    )
    .await;
    assert_eq!(unknown.status, CallStatus::Failed);
    assert!(unknown.error.as_ref().unwrap().message.contains("ava"), "{unknown:?}");

    // The post-call webhook, delivered twice: stored once.
    let report = post_call(sid.as_str(), &conversation);
    for _ in 0..2 {
        let (code, body) = deliver(&http, &gw.base, &report, SECRET).await;
        assert_eq!(code, 200, "{body}");
    }
    let detail = client.call(&sid).await.unwrap();
    assert_eq!(detail.call.status, CallStatus::Completed);
    assert_eq!(detail.call.duration_secs, Some(31));
    let turns: Vec<(TranscriptRole, String)> = detail.transcript.iter().map(|t| (t.role, t.content.clone())).collect();
    assert_eq!(turns.len(), 4, "{turns:?}");
    assert_eq!(
        turns[0],
        (
            TranscriptRole::Ai,
            "Hi, this is Ava from Switchboard. Is now a good time?".into()
        )
    );
    assert_eq!(turns[1], (TranscriptRole::Caller, "Sure, go ahead.".into()));
    assert_eq!(
        turns[3],
        (
            TranscriptRole::System,
            "Summary: The lead agreed to a demo on Thursday.".into()
        )
    );
    // The lead's history shows the call and its conversation.
    let lead_detail = client.lead(lead.id).await.unwrap();
    assert!(lead_detail.calls.iter().any(|c| c.call_sid == sid), "{lead_detail:?}");

    // Refusals: forged, unknown call, a call with no conversation yet, another conversation.
    let (code, _) = deliver(&http, &gw.base, &report, "not-the-secret").await;
    assert_eq!(code, 401);
    let cursor = gw.store.last_event_id(seeded.business).await.unwrap();
    let ghost = "call_01J0000000000000000000000Z";
    let (code, body) = deliver(&http, &gw.base, &post_call(ghost, "conv_ghost"), SECRET).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(ghost), "{body}");
    let audit = gw.store.events_since(seeded.business, cursor, 50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == StreamEventKind::WebhookRejected && e.data["call_sid"] == ghost),
        "no audit event for the unknown call: {audit:?}"
    );
    let human = place(&client, lead.phone.parse().unwrap(), seeded.numbers[0], None, None).await;
    let (code, body) = deliver(&http, &gw.base, &post_call(human.call_sid.as_str(), "conv_x"), SECRET).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("no conversation_id yet"), "{body}");
    let (code, body) = deliver(&http, &gw.base, &post_call(sid.as_str(), "conv_other"), SECRET).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains(&conversation), "{body}");
    assert_eq!(
        client.call(&sid).await.unwrap().transcript.len(),
        4,
        "a refused report stored nothing"
    );

    // Changed while running: a second agent, usable at once.
    let config = json!({ "api_key": format!("secret:{SECRET_NAME}"), "webhook_secret": format!("secret:{SECRET_NAME}"),
        "api_base": api_base, "agents": { "ava": "agent_7", "max": "agent_9" }, "phone_numbers": { NUMBER: "phnum_1" } });
    let (code, body) = api(
        &http,
        Method::PATCH,
        &url(&format!("/v1/providers/{provider_id}")),
        &admin,
        Some(json!({ "config": config })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    provider_running_with(&http, &gw, &admin, PROVIDER, |c| c["agents"]["max"] == "agent_9").await;
    let max = place(
        &client,
        lead.phone.parse().unwrap(),
        number_id,
        Some(lead.id),
        Some("max".into()),
    )
    .await;
    assert_ne!(max.status, CallStatus::Failed, "{max:?}");
    assert_eq!(platform.calls.lock().unwrap().last().unwrap().1["agent_id"], "agent_9");

    // Removed: not while a number uses it; then gone.
    let delete = |path: String| {
        let (http, admin) = (&http, &admin);
        async move { api(http, Method::DELETE, &path, admin, None).await.0 }
    };
    assert_eq!(delete(url(&format!("/v1/providers/{provider_id}"))).await, 409);
    assert_eq!(delete(url(&format!("/v1/numbers/{}", number["id"]))).await, 204);
    assert_eq!(delete(url(&format!("/v1/providers/{provider_id}"))).await, 204);
    let (_, list) = api(&http, Method::GET, &url("/v1/providers"), &admin, None).await;
    assert!(!list.to_string().contains(PROVIDER), "{list}");
}
