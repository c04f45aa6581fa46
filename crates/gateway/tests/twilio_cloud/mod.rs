//! Twilio's cloud played from its own documents, for the Twilio tests: the REST API as
//! Stoplight Prism serving Twilio's OpenAPI document behind a thin proxy, and signed
//! callbacks. Stand-ins, because Twilio's cloud cannot run here.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use switchboard_telephony::twilio::signature;

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
/// The business's Twilio number.
pub const NUMBER: &str = "+15005550142";
/// A number the REST stand-in refuses, as Twilio does without geo permission.
pub const REFUSED: &str = "+15005550009";

pub fn new_twilio_sid(prefix: &str) -> String {
    format!("{prefix}{}", &format!("{:032x}", ulid::Ulid::new().0)[..32])
}

// ---------------------------------------------------------------------------------------
// The REST stand-in: Prism validates, the proxy gives ids and refusals.

pub type Form = Vec<(String, String)>;

#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    prism_root: String,
    /// Every request: ("METHOD /path", form fields).
    pub seen: Arc<Mutex<Vec<(String, Form)>>>,
    /// Requests Prism refused (our request broke Twilio's document).
    pub refused_by_prism: Arc<Mutex<Vec<String>>>,
    /// Calls whose caller hung up: Twilio's API reads them `completed`.
    pub hung_up: Arc<Mutex<std::collections::HashSet<String>>>,
    /// The call of each participant added to a conference, in order.
    pub participants: Arc<Mutex<Vec<String>>>,
}

pub async fn rest_proxy(State(r): State<Rest>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let what = format!("{method} {}", uri.path());
    r.seen.lock().unwrap().push((what.clone(), form.clone()));
    // Prism 5.14 reads a repeated form key only in bracket style (`Key[]=`), while Twilio
    // takes the key repeated, which is what we send (asserted below): Prism gets the same
    // form with repeated keys bracketed. See switchboard-telephony's twilio_rest_prism test.
    let repeated = |k: &str| form.iter().filter(|(n, _)| n == k).count() > 1;
    let for_prism: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form.iter()
                .map(|(k, v)| (if repeated(k) { format!("{k}[]") } else { k.clone() }, v)),
        )
        .finish();
    let mut req = r
        .http
        .request(
            method.clone(),
            format!("{}{}", r.prism_root, uri.path_and_query().unwrap()),
        )
        .body(if form.is_empty() {
            body.to_vec()
        } else {
            for_prism.into_bytes()
        });
    for h in ["content-type", "authorization"] {
        if let Some(v) = headers.get(h) {
            req = req.header(h, v.to_str().unwrap());
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    if !status.is_success() {
        r.refused_by_prism
            .lock()
            .unwrap()
            .push(format!("{what} -> {status}: {text}"));
        return (StatusCode::from_u16(status.as_u16()).unwrap(), text).into_response();
    }
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut doc: Value = serde_json::from_str(&text).unwrap_or(json!({}));
    if method == Method::POST && uri.path().ends_with("/Calls.json") {
        if field("To").as_deref() == Some(REFUSED) {
            // Twilio's documented error body (protocols §2.6).
            let body = json!({ "code": 21215, "status": 400,
                "message": format!("Account not authorized to call {REFUSED}. Perhaps you need to enable some international permissions"),
                "more_info": "https://www.twilio.com/docs/errors/21215" });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        doc["sid"] = json!(new_twilio_sid("CA"));
        doc["status"] = json!("queued");
        return (StatusCode::CREATED, axum::Json(doc)).into_response();
    }
    if method == Method::POST && uri.path().ends_with("/Participants.json") {
        // Twilio rings the participant on a call of its own.
        let sid = new_twilio_sid("CA");
        r.participants.lock().unwrap().push(sid.clone());
        doc["call_sid"] = json!(sid);
        return (StatusCode::CREATED, axum::Json(doc)).into_response();
    }
    if method == Method::POST && uri.path().contains("/Calls/CA") && uri.path().matches('/').count() == 5 {
        let sid = uri
            .path()
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".json")
            .to_owned();
        doc["sid"] = json!(sid);
        doc["status"] = json!(match field("Status").as_deref() {
            Some("completed") => "completed",
            Some("canceled") => "canceled",
            _ => "in-progress",
        });
        return (StatusCode::OK, axum::Json(doc)).into_response();
    }
    (StatusCode::from_u16(status.as_u16()).unwrap(), axum::Json(doc)).into_response()
}

/// Start the proxy on a loopback port; its base URL stands for `https://api.twilio.com/2010-04-01`.
pub async fn rest_stand_in(prism: &switchboard_e2e::Prism) -> (Rest, String) {
    let rest = Rest {
        http: reqwest::Client::new(),
        prism_root: prism.base.trim_end_matches("/2010-04-01").to_owned(),
        seen: Arc::default(),
        refused_by_prism: Arc::default(),
        hung_up: Arc::default(),
        participants: Arc::default(),
    };
    let app = axum::Router::new().fallback(rest_proxy).with_state(rest.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/2010-04-01", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rest, base)
}

impl Rest {
    pub fn requests(&self, what: &str) -> Vec<Vec<(String, String)>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w.contains(what))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Signed callbacks.

pub async fn twilio_post(http: &reqwest::Client, url: &str, params: &[(&str, &str)], token: &str) -> (u16, String) {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let sig = signature::sign(token, url, &owned);
    let resp = http
        .post(url)
        .header("x-twilio-signature", sig)
        .form(&owned)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The voice webhook of a new inbound call from `from` to the business's `NUMBER` (no
/// `CallbackSource`: that is what tells it from a status callback).
pub fn voice_params<'a>(call: &'a str, from: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call),
        ("CallStatus", "ringing"),
        ("Called", NUMBER),
        ("Caller", from),
        ("Direction", "inbound"),
        ("From", from),
        ("To", NUMBER),
    ]
}

/// A status callback for `call` (parameters as Twilio sends them, protocols §2.2).
pub fn status_params<'a>(
    call: &'a str,
    from: &'a str,
    to: &'a str,
    direction: &'a str,
    status: &'a str,
    seq: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call),
        ("CallStatus", status),
        ("CallbackSource", "call-progress-events"),
        ("Called", to),
        ("Caller", from),
        ("Direction", direction),
        ("From", from),
        ("SequenceNumber", seq),
        ("To", to),
    ]
}

// ---------------------------------------------------------------------------------------
// Waiting on the gateway.

/// Wait until the call has status `want`; its record then.
pub async fn wait_status(
    client: &switchboard_client::Client,
    sid: &switchboard_core::CallSid,
    want: switchboard_core::CallStatus,
) -> switchboard_core::CallRecord {
    crate::support::eventually(15, &format!("call {sid} {want}"), || async {
        let d = client.call(sid).await.ok()?;
        (d.call.status == want).then_some(d.call)
    })
    .await
}

/// Twilio reporting an outbound call from `NUMBER` to `to` ringing, answered and completed
/// on `callback`; the call follows each step.
pub async fn outbound_progress(
    http: &reqwest::Client,
    client: &switchboard_client::Client,
    sid: &switchboard_core::CallSid,
    callback: &str,
    twilio_call: &str,
    to: &str,
) {
    use switchboard_core::CallStatus;
    for (status, seq, want) in [
        ("ringing", "1", CallStatus::Ringing),
        ("in-progress", "2", CallStatus::Answered),
        ("completed", "3", CallStatus::Completed),
    ] {
        let params = status_params(twilio_call, NUMBER, to, "outbound-api", status, seq);
        let (code, body) = twilio_post(http, callback, &params, crate::support::SECRET).await;
        assert_eq!(code, 200, "{body}");
        wait_status(client, sid, want).await;
    }
}
