//! FreePBX webhook mode: `POST /webhooks/pbx/{name}` with a JSON body the PBX's dialplan
//! sends (FreePBX has no webhook format of its own; the README gives the dialplan lines,
//! `CURL()` calls in the contexts the calls pass through). Accepted only from an address
//! in `webhookAllow` (403 otherwise) and with `X-Switchboard-Secret` equal to
//! `webhookSecret` (401 otherwise); both are checked before the body is read.
//!
//! The body:
//!
//! ```json
//! { "event": "ringing | queued | answered | hold | unhold | transferred | hangup | recording",
//!   "linkedid": "1700000000.12", "direction": "inbound | outbound",
//!   "from": "+16285550131", "to": "+14155550177", "timestamp": 1700000000.25,
//!   "disposition": "ANSWERED | NO ANSWER | BUSY | FAILED | CONGESTION",
//!   "cause": "17", "causeTxt": "User busy", "duration": 42, "recordingUrl": "https://…" }
//! ```
//!
//! `linkedid` is the vendor call id, as on the manager interface, so both modes can run
//! side by side on one PBX and land on the same records.

use serde::Deserialize;
use switchboard_core::{CallError, CallErrorCode, CallStatus, Direction, NormalizedCallEvent, TelephonyVendor};

use super::causes;
use super::config::AsteriskConfig;
use crate::{WebhookError, WebhookRequest};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-switchboard-secret";

/// Refuse a request from outside the allow-list (403) or without the secret (401).
pub fn verify(cfg: &AsteriskConfig, secret: Option<&str>, req: &WebhookRequest<'_>) -> Result<(), WebhookError> {
    let (Some(secret), false) = (secret, cfg.webhook_allow.is_empty()) else {
        return Err(WebhookError::Forbidden(
            "this provider takes no webhooks: configure webhookSecret and webhookAllow".into(),
        ));
    };
    match req.peer {
        Some(ip) if cfg.webhook_allows(ip) => {}
        Some(ip) => {
            return Err(WebhookError::Forbidden(format!(
                "{ip} is not in this provider's webhookAllow list"
            )));
        }
        None => return Err(WebhookError::Forbidden("the sender's address is unknown".into())),
    }
    let given = req.header(SECRET_HEADER).unwrap_or_default();
    if !given.is_empty() && crate::signature::constant_time_eq(given.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    event: String,
    linkedid: String,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    disposition: Option<String>,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    cause_txt: Option<String>,
    #[serde(default)]
    duration: Option<i64>,
    #[serde(default)]
    recording_url: Option<String>,
}

/// A verified body into a call event.
pub fn parse(body: &[u8], now_ms: i64) -> Result<NormalizedCallEvent, WebhookError> {
    let b: Body =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(format!("PBX webhook body: {e}")))?;
    let linkedid = b.linkedid.trim();
    if linkedid.is_empty() || linkedid.len() > 150 {
        return Err(WebhookError::Malformed("linkedid must be the call's Linkedid".into()));
    }
    let direction = match b.direction.as_deref() {
        None | Some("inbound") => Direction::Inbound,
        Some("outbound") => Direction::Outbound,
        Some(d) => {
            return Err(WebhookError::Malformed(format!(
                "direction {d:?} is not inbound or outbound"
            )));
        }
    };
    let at = b
        .timestamp
        .filter(|t| t.is_finite() && *t > 0.0)
        .map_or(now_ms, |t| (t * 1000.0) as i64);
    let (status, error) = match b.event.as_str() {
        "ringing" => (Some(CallStatus::Ringing), None),
        "queued" => (Some(CallStatus::Queued), None),
        "answered" | "unhold" => (Some(CallStatus::Answered), None),
        "hold" => (Some(CallStatus::OnHold), None),
        "transferred" => (Some(CallStatus::Transferred), None),
        "recording" if b.recording_url.is_some() => (None, None),
        "hangup" => hangup(
            direction,
            b.disposition.as_deref(),
            b.cause.as_deref(),
            b.cause_txt.as_deref(),
        ),
        e => {
            return Err(WebhookError::Malformed(format!(
                "event {e:?} is not one of ringing, queued, answered, hold, unhold, transferred, hangup, recording (with recordingUrl)"
            )));
        }
    };
    if let Some(u) = &b.recording_url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(WebhookError::Malformed("recordingUrl must be an http(s) URL".into()));
        }
    }
    let mut ev = NormalizedCallEvent::new(format!("pbx-{linkedid}-{}-{at}", b.event), at);
    ev.telephony_vendor = Some(TelephonyVendor::Asterisk);
    ev.vendor_call_id = Some(linkedid.to_owned());
    ev.direction = Some(direction);
    ev.from = b.from;
    ev.to = b.to;
    ev.status = status;
    ev.error = error;
    ev.duration_secs = b.duration.filter(|d| *d >= 0);
    ev.recording_url = b.recording_url;
    Ok(ev)
}

/// How a call ended, from the CDR disposition and the hangup cause.
fn hangup(
    direction: Direction,
    disposition: Option<&str>,
    cause: Option<&str>,
    cause_txt: Option<&str>,
) -> (Option<CallStatus>, Option<CallError>) {
    let by_cause = causes::hangup_error(cause, cause_txt);
    match disposition.map(|d| d.trim().to_ascii_uppercase()).as_deref() {
        Some("ANSWERED") => (Some(CallStatus::Completed), None),
        Some("BUSY") => (
            Some(CallStatus::Failed),
            by_cause.or_else(|| Some(CallError::new(CallErrorCode::Busy, "the line was busy"))),
        ),
        Some("NO ANSWER") | None if direction == Direction::Inbound && by_cause.is_none() => {
            (Some(CallStatus::Abandoned), None)
        }
        Some("NO ANSWER") => (
            Some(CallStatus::Missed),
            by_cause.or_else(|| Some(CallError::new(CallErrorCode::NoAnswer, "nobody answered"))),
        ),
        _ => match by_cause {
            Some(e) => (Some(CallStatus::Failed), Some(e)),
            None => (Some(CallStatus::Completed), None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangups_by_disposition_and_cause() {
        let ev = parse(br#"{"event":"hangup","linkedid":"1.1","disposition":"BUSY","cause":"17","causeTxt":"User busy","direction":"outbound"}"#, 5).unwrap();
        assert_eq!(ev.status, Some(CallStatus::Failed));
        assert_eq!(ev.error.unwrap().provider_code.as_deref(), Some("17"));
        let ev = parse(br#"{"event":"hangup","linkedid":"1.1","disposition":"NO ANSWER"}"#, 5).unwrap();
        assert_eq!(ev.status, Some(CallStatus::Abandoned));
        let ev = parse(
            br#"{"event":"hangup","linkedid":"1.1","disposition":"ANSWERED","duration":42,"timestamp":1700000000.5}"#,
            5,
        )
        .unwrap();
        assert_eq!(
            (ev.status, ev.duration_secs, ev.occurred_at),
            (Some(CallStatus::Completed), Some(42), 1_700_000_000_500)
        );
        assert!(parse(br#"{"event":"exploded","linkedid":"1.1"}"#, 5).is_err());
        assert!(parse(br#"{"event":"ringing","linkedid":"1.1","extra":1}"#, 5).is_err());
        assert!(parse(b"not json", 5).is_err());
    }
}
