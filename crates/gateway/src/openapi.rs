//! The OpenAPI 3.0 document served at `/openapi.json`. Schemas are derived from the core
//! types (schemars), so they cannot drift from what the handlers (de)serialise; the route
//! table below is checked against the router by a test.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};
use switchboard_core::api::*;
use switchboard_core::{Agent, NormalizedCallEvent, StreamEvent};
use switchboard_core::{MediaAnswer, MediaOffer};

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn s<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// One operation.
#[derive(Debug)]
pub struct Op {
    /// HTTP method, lowercase.
    pub method: &'static str,
    /// Path template with `{param}`s.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Needs a bearer token.
    pub auth: bool,
    /// Request body schema.
    pub body: Option<SchemaFn>,
    /// Success status.
    pub ok: u16,
    /// Success body schema.
    pub response: Option<SchemaFn>,
    /// Query parameters: (name, schema type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
}

macro_rules! op {
    ($m:literal $p:literal, $sum:literal, auth=$a:literal, body=$b:expr, $ok:literal => $r:expr $(, query=$q:expr)?) => {
        Op { method: $m, path: $p, summary: $sum, auth: $a, body: $b, ok: $ok, response: $r, query: op!(@q $($q)?) }
    };
    (@q) => { &[] };
    (@q $q:expr) => { $q };
}

/// Every documented operation.
pub static ROUTES: &[Op] = &[
    op!("get" "/healthz", "Liveness and database reachability", auth=false, body=None, 200 => Some(s::<Health>)),
    op!("get" "/openapi.json", "This document", auth=false, body=None, 200 => None),
    op!("get" "/v1/queue", "Ringing and queued inbound calls, oldest first", auth=true, body=None, 200 => Some(s::<QueueResponse>)),
    op!("get" "/v1/settings", "The business's settings", auth=true, body=None, 200 => Some(s::<switchboard_core::api::BusinessSettings>)),
    op!("patch" "/v1/settings", "Change the business's settings (admin)", auth=true,
        body=Some(s::<switchboard_core::api::SettingsPatch>), 200 => Some(s::<switchboard_core::api::BusinessSettings>)),
    op!("patch" "/v1/queues/{id}", "Change a queue's name or answer-time target (admin); the floor's service level measures against it", auth=true,
        body=Some(s::<switchboard_core::api::QueuePatch>), 200 => Some(s::<switchboard_core::api::QueueInfo>)),
    op!("get" "/v1/floor", "The supervisor's floor: agents, live calls, queue figures for today (supervisor or admin)", auth=true, body=None, 200 => Some(s::<switchboard_core::floor::Floor>),
        query=&[("day_start", "integer", "where today starts, ms since the epoch (default: midnight UTC; at most 7 days back)")]),
    op!("get" "/v1/calls", "Call history, newest first, paged by call_sid", auth=true, body=None, 200 => Some(s::<CallList>),
        query=&[("status", "string", "only calls in this status"), ("limit", "integer", "page size 1-200 (50)"),
                ("before", "string", "call_sid: only older calls (next_before of the previous page)")]),
    op!("post" "/v1/calls", "Place an outbound call (stored before the provider is asked)", auth=true,
        body=Some(s::<OutboundCallRequest>), 201 => Some(s::<CallActionResponse>)),
    op!("get" "/v1/calls/{call_sid}", "A call with its lead and transcript", auth=true, body=None, 200 => Some(s::<CallDetail>)),
    op!("post" "/v1/calls/{call_sid}/answer", "Answer (claims the call for the caller)", auth=true, body=None, 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/hold", "Put on hold", auth=true, body=None, 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/resume", "Take off hold", auth=true, body=None, 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/end", "Hang up (or decline a ringing call)", auth=true, body=None, 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/transfer", "Transfer to a number (string) or an agent (integer)", auth=true,
        body=Some(s::<TransferRequest>), 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/media", "Join the call's audio: an SDP offer in, the far end's answer out (MediaJoin::Peer)", auth=true,
        body=Some(s::<MediaOffer>), 200 => Some(s::<MediaAnswer>)),
    op!("get" "/v1/calls/{call_sid}/media", "How the agent holding the call joins its audio again (a fresh LiveKit room token)", auth=true,
        body=None, 200 => Some(s::<switchboard_core::MediaJoin>)),
    op!("post" "/v1/calls/{call_sid}/monitor", "Monitor a call: listen, whisper or barge (supervisor or admin); the reply says how to join the audio", auth=true,
        body=Some(s::<switchboard_core::api::MonitorRequest>), 201 => Some(s::<CallActionResponse>)),
    op!("patch" "/v1/calls/{call_sid}/monitor", "Switch monitoring mode without leaving the audio", auth=true,
        body=Some(s::<switchboard_core::api::MonitorRequest>), 200 => Some(s::<CallActionResponse>)),
    op!("delete" "/v1/calls/{call_sid}/monitor", "Stop monitoring", auth=true, body=None, 200 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/consult", "Attended transfer: hold the caller and consult a number (string) or an agent (integer)", auth=true,
        body=Some(s::<switchboard_core::api::ConsultRequest>), 202 => Some(s::<CallActionResponse>)),
    op!("delete" "/v1/calls/{call_sid}/consult", "Cancel the consult: the target leaves, the agent has the caller back", auth=true,
        body=None, 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/consult/{step}", "accept (the consulted agent; the reply says how to join the audio), conference (all three) or complete (the caller goes to the target, the agent leaves)", auth=true,
        body=None, 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/dtmf", "Send DTMF digits", auth=true, body=Some(s::<DtmfRequest>), 202 => Some(s::<CallActionResponse>)),
    op!("post" "/v1/calls/{call_sid}/recording", "Start or stop recording", auth=true,
        body=Some(s::<RecordingRequest>), 202 => Some(s::<CallActionResponse>)),
    op!("put" "/v1/calls/{call_sid}/wrapup", "Save disposition and notes (an Idempotency-Key header makes retries safe)", auth=true,
        body=Some(s::<WrapUpRequest>), 200 => Some(s::<switchboard_core::CallRecord>)),
    op!("get" "/v1/numbers", "The business's phone numbers, with their providers' capabilities", auth=true, body=None, 200 => Some(s::<NumbersResponse>)),
    op!("post" "/v1/numbers", "Add a number, or bring back a removed one (admin)", auth=true,
        body=Some(s::<NewNumberRequest>), 201 => Some(s::<switchboard_core::PhoneNumber>)),
    op!("patch" "/v1/numbers/{id}", "Change a number: label, provider, inbound/outbound, default (admin)", auth=true,
        body=Some(s::<NumberPatch>), 200 => Some(s::<switchboard_core::PhoneNumber>)),
    op!("delete" "/v1/numbers/{id}", "Remove a number; its calls stay in the history (admin)", auth=true, body=None, 204 => None),
    op!("get" "/v1/providers", "The business's providers and the kinds this gateway runs (admin)", auth=true, body=None,
        200 => Some(s::<ProvidersResponse>)),
    op!("post" "/v1/providers", "Add a provider; credentials only as secret:NAME references (admin)", auth=true,
        body=Some(s::<NewProviderRequest>), 201 => Some(s::<ProviderInfo>)),
    op!("patch" "/v1/providers/{id}", "Replace a provider's config or enable/disable it; calls in progress keep their instance (admin)",
        auth=true, body=Some(s::<ProviderPatch>), 200 => Some(s::<ProviderInfo>)),
    op!("delete" "/v1/providers/{id}", "Remove a provider that carries no number (admin)", auth=true, body=None, 204 => None),
    op!("post" "/v1/providers/{id}/check", "Check the provider against its real service (admin)", auth=true, body=None,
        200 => Some(s::<ProviderCheck>)),
    op!("get" "/v1/leads", "Leads, optionally by exact phone", auth=true, body=None, 200 => Some(s::<LeadsResponse>),
        query=&[("phone", "string", "E.164 phone"), ("limit", "integer", "1-200 (50)")]),
    op!("get" "/v1/leads/{id}", "A lead and its calls", auth=true, body=None, 200 => Some(s::<LeadDetail>)),
    op!("get" "/v1/transcripts/{call_sid}", "A call's transcript", auth=true, body=None, 200 => Some(s::<TranscriptResponse>)),
    op!("get" "/v1/agents", "The business's agents", auth=true, body=None, 200 => Some(s::<AgentsResponse>)),
    op!("get" "/v1/agents/me", "The caller (who the token belongs to)", auth=true, body=None, 200 => Some(s::<Agent>)),
    op!("put" "/v1/agents/me/status", "Set the caller's status", auth=true, body=Some(s::<AgentStatusRequest>), 200 => Some(s::<Agent>)),
    op!("delete" "/v1/agents/me/token", "Sign out: revoke the token this request carries", auth=true, body=None, 204 => None),
    op!("post" "/v1/admin/businesses", "Create a business with its first admin and their token (admins of the operator's business)",
        auth=true, body=Some(s::<NewBusinessRequest>), 201 => Some(s::<NewBusinessResponse>)),
    op!("get" "/v1/admin/agents", "The business's agents (admin)", auth=true, body=None, 200 => Some(s::<AgentsResponse>)),
    op!("post" "/v1/admin/agents", "Create an agent (admin)", auth=true, body=Some(s::<NewAgentRequest>), 201 => Some(s::<Agent>)),
    op!("post" "/v1/admin/agents/{id}/tokens", "Issue a token for an agent; shown once (admin)", auth=true,
        body=Some(s::<NewTokenRequest>), 201 => Some(s::<IssuedToken>)),
    op!("get" "/v1/admin/tokens", "The business's tokens, never their values (admin)", auth=true, body=None, 200 => Some(s::<TokensResponse>)),
    op!("delete" "/v1/admin/tokens/{id}", "Revoke a token; it stops working at once (admin)", auth=true, body=None, 204 => None),
    op!("get" "/v1/events", "WebSocket: every change in order; each text message is a StreamEvent. Resume with since=<last id>",
        auth=true, body=None, 101 => Some(s::<StreamEvent>), query=&[("since", "integer", "resume after this event id (default: now)")]),
    op!("get" "/v1/events/cursor", "The business's newest event id: read it before a snapshot, then stream since it", auth=true,
        body=None, 200 => Some(s::<EventCursor>)),
    op!("post" "/webhooks/transcripts/{source}", "Transcript turns by call_sid; X-Switchboard-Signature: sha256=HMAC(body)",
        auth=false, body=Some(s::<TranscriptWebhook>), 200 => None),
    op!("post" "/webhooks/{kind}/{provider}", "A provider's webhook (the simulator's: a signed NormalizedCallEvent; Twilio's: its signed voice and status callbacks)",
        auth=false, body=Some(s::<NormalizedCallEvent>), 200 => None),
    op!("get" "/webhooks/{kind}/{provider}/stream", "WebSocket: a carrier's media stream (Twilio Media Streams, signed upgrade request)",
        auth=false, body=None, 101 => None),
];

/// Path parameters, typed so a schema-driven client generates calls that can succeed.
fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = match name {
                "call_sid" => json!({ "type": "string", "pattern": "^call_[0-9A-HJKMNP-TV-Z]{26}$" }),
                "id" => json!({ "type": "integer", "format": "int64", "minimum": 1 }),
                "step" => json!({ "type": "string", "enum": ["accept", "conference", "complete"] }),
                _ => json!({ "type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$" }),
            };
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect()
}

/// The errors every operation may answer with, besides its own success status. All of
/// them carry the one error body.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Malformed request (syntax, a bad id, /v1/events without a WebSocket upgrade)",
    ),
    ("404", "No such thing in this business, or no such route"),
    ("405", "The path does not take this method"),
    ("408", "The request body did not arrive in time"),
    ("413", "The request body is over the route's limit"),
    ("422", "Well-formed but invalid input"),
    ("503", "The database cannot be reached; retry"),
];

/// Build the document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let error = serde_json::to_value(s::<ErrorBody>(&mut g)).unwrap_or_default();
    let mut paths = Map::new();
    for op in ROUTES {
        let mut params = path_params(op.path);
        params.extend(op.query.iter().map(|(n, t, d)| json!({ "name": n, "in": "query", "required": false, "description": d, "schema": { "type": t } })));
        let mut responses = Map::new();
        let ok = match op.response {
            Some(f) => {
                json!({ "description": "OK", "content": { "application/json": { "schema": f(&mut g) } } })
            }
            None if op.ok == 204 => json!({ "description": "Done" }),
            None => json!({ "description": "OK", "content": { "application/json": { "schema": {} } } }),
        };
        responses.insert(op.ok.to_string(), ok);
        let error_response =
            |what: &str| json!({ "description": what, "content": { "application/json": { "schema": error } } });
        for (status, what) in ERRORS {
            responses.insert((*status).into(), error_response(what));
        }
        if op.auth {
            responses.insert(
                "401".into(),
                error_response("No token, an unknown one (unauthorized), or one that expired or was revoked"),
            );
            responses.insert("403".into(), error_response("Not allowed for this role"));
        } else {
            responses.insert("401".into(), error_response("A webhook signature is missing or wrong"));
        }
        if ["/v1/calls", "/v1/admin", "/v1/providers", "/v1/numbers"]
            .iter()
            .any(|p| op.path.starts_with(p))
        {
            responses.insert(
                "409".into(),
                error_response("Not possible in the call's or the name's current state"),
            );
            responses.insert("502".into(), error_response("The provider refused"));
        }
        responses.insert("default".into(), error_response("Any other error"));
        let mut o = json!({ "summary": op.summary, "parameters": params, "responses": responses });
        if let Some(f) = op.body {
            o["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": f(&mut g) } } });
        }
        if op.auth {
            o["security"] = json!([{ "bearer": [] }]);
        }
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = o;
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Switchboard gateway", "version": env!("CARGO_PKG_VERSION"),
                  "description": "One API for calls whatever the provider. Times are milliseconds since the Unix epoch." },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}
