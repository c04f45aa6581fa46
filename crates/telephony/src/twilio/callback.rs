//! Twilio's voice and status callbacks (form-encoded) normalised to
//! [`NormalizedCallEvent`]s. Pure: the caller has verified the signature already.
//!
//! - `CallSid` is the vendor call id; a child leg (`ParentCallSid`, from a `<Dial>`) is
//!   reported on its parent, without a status of its own, so one conversation stays one
//!   call.
//! - Events are ordered by `SequenceNumber` (and `Timestamp`); the event id is the call and
//!   its sequence number, so a retried callback is recognised as the same event.
//! - Twilio's `in-progress` means *Twilio* answered. For an inbound call that is our hold
//!   TwiML, not an agent: the call keeps waiting in the queue, and the provider reports
//!   `answered` itself when it connects the agent. For an outbound call it is the far end
//!   picking up.
//! - `busy`, `no-answer` and `failed` become `failed` with a [`CallError`] from
//!   `SipResponseCode` (486 -> busy, ...) or Twilio's status, Twilio's codes kept.

use switchboard_core::{
    CallError, CallErrorCode, CallSid, CallStatus, Direction, NormalizedCallEvent, TelephonyVendor,
};

use crate::WebhookError;

/// The largest form a callback may have (Twilio's carry some 30 fields).
const MAX_FIELDS: usize = 200;

/// Is this a Twilio call SID (`CA` + 32 hex digits)?
pub fn is_call_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("CA") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A callback's fields.
#[derive(Debug, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Decode a form body.
    pub fn parse(body: &[u8]) -> Result<Self, WebhookError> {
        let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().take(MAX_FIELDS + 1).collect();
        if fields.len() > MAX_FIELDS {
            return Err(WebhookError::Malformed(format!("more than {MAX_FIELDS} fields")));
        }
        Ok(Self(fields))
    }

    /// A field (the first, if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A field that must be there and not empty.
    pub fn required(&self, name: &str) -> Result<&str, WebhookError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| WebhookError::Malformed(format!("{name} is missing")))
    }
}

/// Normalise one callback. `our_sid` is the `call_sid` we put in the callback URL of calls
/// we placed; `now` dates callbacks without a `Timestamp`.
pub fn normalize(
    form: &Form,
    vendor: &TelephonyVendor,
    our_sid: Option<CallSid>,
    now: i64,
) -> Result<NormalizedCallEvent, WebhookError> {
    let call = form.required("CallSid")?;
    if !is_call_sid(call) {
        return Err(WebhookError::Malformed("CallSid is not a Twilio call SID".into()));
    }
    let parent = form.get("ParentCallSid").filter(|p| !p.is_empty());
    if let Some(p) = parent {
        if !is_call_sid(p) {
            return Err(WebhookError::Malformed("ParentCallSid is not a Twilio call SID".into()));
        }
    }
    let sequence = match form.get("SequenceNumber") {
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|n| (0..1_000_000).contains(n))
                .ok_or_else(|| WebhookError::Malformed("SequenceNumber is not a small number".into()))?,
        ),
        None => None,
    };
    let occurred_at = match form.get("Timestamp") {
        Some(t) => rfc2822_ms(t).ok_or_else(|| WebhookError::Malformed("Timestamp is not an RFC 2822 date".into()))?,
        None => now,
    };
    // A recording status callback names the recording and not the call's status.
    let twilio_status = match form.get("CallStatus").filter(|s| !s.is_empty()) {
        Some(s) => s,
        None if form.get("RecordingSid").is_some() => return recording_only(form, vendor, call, our_sid, occurred_at),
        None => return Err(WebhookError::Malformed("CallStatus is missing".into())),
    };
    let direction = match form.get("Direction") {
        Some("inbound") => Some(Direction::Inbound),
        Some(d) if d.starts_with("outbound") => Some(Direction::Outbound),
        Some(d) if d.starts_with("trunking") => None,
        Some(other) => return Err(WebhookError::Malformed(format!("unknown Direction {other:?}"))),
        None => None,
    };
    // A recording callback names the recording; its id keeps it apart from the status
    // events of the same call.
    let recording = form.get("RecordingUrl").filter(|u| !u.is_empty());
    let event_id = match (form.get("RecordingSid"), sequence) {
        (Some(rec), _) => format!("{call}:rec:{rec}:{}", form.get("RecordingStatus").unwrap_or("")),
        (None, Some(seq)) => format!("{call}:{seq}"),
        (None, None) => format!("{call}:{twilio_status}"),
    };
    let mut ev = NormalizedCallEvent {
        call_sid: our_sid,
        telephony_vendor: Some(vendor.clone()),
        vendor_call_id: Some(parent.unwrap_or(call).to_owned()),
        sequence,
        recording_url: recording.map(str::to_owned),
        ..NormalizedCallEvent::new(event_id, occurred_at)
    };
    if parent.is_some() {
        // A child leg: data on the parent call only.
        return Ok(ev);
    }
    ev.direction = direction;
    ev.from = form.get("From").filter(|v| !v.is_empty()).map(str::to_owned);
    ev.to = form.get("To").filter(|v| !v.is_empty()).map(str::to_owned);
    let inbound = direction == Some(Direction::Inbound);
    ev.status = match twilio_status {
        "queued" | "initiated" if inbound => Some(CallStatus::Ringing),
        "queued" | "initiated" => None,
        "ringing" => Some(CallStatus::Ringing),
        // Twilio answered with our hold TwiML: the caller still waits for an agent.
        "in-progress" if inbound => None,
        "in-progress" | "answered" => Some(CallStatus::Answered),
        "completed" | "canceled" => Some(CallStatus::Completed),
        "busy" | "no-answer" | "failed" => Some(CallStatus::Failed),
        other => return Err(WebhookError::Malformed(format!("unknown CallStatus {other:?}"))),
    };
    if ev.status == Some(CallStatus::Failed) {
        ev.error = Some(call_error(twilio_status, form));
    }
    if matches!(ev.status, Some(CallStatus::Completed | CallStatus::Failed)) {
        ev.duration_secs = form
            .get("CallDuration")
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|d| (0..7 * 24 * 3600).contains(d));
    }
    Ok(ev)
}

/// A recording status callback: the recording's URL once it is `completed`, nothing
/// otherwise (in progress, absent: the call's record has nothing to gain).
fn recording_only(
    form: &Form,
    vendor: &TelephonyVendor,
    call: &str,
    our_sid: Option<CallSid>,
    occurred_at: i64,
) -> Result<NormalizedCallEvent, WebhookError> {
    let rec = form.required("RecordingSid")?;
    let status = form.get("RecordingStatus").unwrap_or("completed");
    let url = form
        .get("RecordingUrl")
        .filter(|u| !u.is_empty() && status == "completed");
    Ok(NormalizedCallEvent {
        call_sid: our_sid,
        telephony_vendor: Some(vendor.clone()),
        vendor_call_id: Some(call.to_owned()),
        recording_url: url.map(str::to_owned),
        ..NormalizedCallEvent::new(format!("{call}:rec:{rec}:{status}"), occurred_at)
    })
}

/// Why a call failed, from the SIP response code when there is one, else Twilio's status.
pub fn call_error(twilio_status: &str, form: &Form) -> CallError {
    let sip = form.get("SipResponseCode").and_then(|c| c.parse::<u16>().ok());
    let code = match (sip, twilio_status) {
        (Some(486 | 600), _) | (None, "busy") => CallErrorCode::Busy,
        (Some(408 | 480 | 487), _) | (None, "no-answer") => CallErrorCode::NoAnswer,
        (Some(404 | 484 | 604), _) => CallErrorCode::InvalidNumber,
        (Some(403 | 603), _) => CallErrorCode::Rejected,
        (Some(401 | 407), _) => CallErrorCode::AuthFailed,
        (Some(503 | 502 | 500), _) => CallErrorCode::Unavailable,
        (Some(429), _) => CallErrorCode::RateLimited,
        _ => CallErrorCode::ProviderError,
    };
    let message = match code {
        CallErrorCode::Busy => "the line was busy",
        CallErrorCode::NoAnswer => "nobody answered",
        CallErrorCode::InvalidNumber => "the number cannot be reached",
        CallErrorCode::Rejected => "the call was declined",
        CallErrorCode::AuthFailed => "the carrier refused our credentials",
        CallErrorCode::Unavailable => "the carrier could not place the call",
        CallErrorCode::RateLimited => "the carrier is limiting calls",
        _ => "the call failed",
    };
    CallError {
        provider_code: form.get("ErrorCode").or(form.get("SipResponseCode")).map(str::to_owned),
        provider_message: form
            .get("ErrorMessage")
            .map(str::to_owned)
            .or_else(|| Some(format!("CallStatus={twilio_status}"))),
        ..CallError::new(code, message)
    }
}

/// `Sun, 25 Mar 2018 09:53:19 +0000` as milliseconds since the epoch.
pub fn rfc2822_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.split_once(", ").map_or(s, |(_, rest)| rest);
    let mut parts = s.split_whitespace();
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m): (i64, i64) = (hms.next()?.parse().ok()?, hms.next()?.parse().ok()?);
    let sec: i64 = hms.next().map_or(Some(0), |x| x.parse().ok())?;
    let zone = parts.next().unwrap_or("+0000");
    let offset_min = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z[1..3].parse().ok()?;
            let mm: i64 = z[3..5].parse().ok()?;
            let v = hh * 60 + mm;
            if z.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    if parts.next().is_some()
        || !(1..=31).contains(&day)
        || !(1970..=9999).contains(&year)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + h * 3_600 + m * 60 + sec) - offset_min * 60) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "CA0123456789abcdef0123456789abcdef";

    fn form(pairs: &[(&str, &str)]) -> Form {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Form::parse(body.as_bytes()).unwrap()
    }

    fn norm(pairs: &[(&str, &str)]) -> Result<NormalizedCallEvent, WebhookError> {
        normalize(&form(pairs), &TelephonyVendor::Twilio, None, 1_000)
    }

    #[test]
    fn dates_parse_as_twilio_writes_them() {
        assert_eq!(rfc2822_ms("Sun, 25 Mar 2018 09:53:19 +0000"), Some(1_521_971_599_000));
        assert_eq!(rfc2822_ms("Sun, 25 Mar 2018 10:53:19 +0100"), Some(1_521_971_599_000));
        assert_eq!(rfc2822_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        for bad in [
            "",
            "yesterday",
            "Sun, 25 Foo 2018 09:53:19 +0000",
            "Sun, 99 Mar 2018 09:53:19 +0000",
            "Sun, 25 Mar 2018 09:53:19 +0000 extra",
        ] {
            assert_eq!(rfc2822_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_inbound_call_waits_through_twilios_answer() {
        let ringing = norm(&[
            ("CallSid", SID),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("From", "+14155550100"),
            ("To", "+14155550199"),
        ])
        .unwrap();
        assert_eq!(ringing.status, Some(CallStatus::Ringing));
        assert_eq!(ringing.vendor_call_id.as_deref(), Some(SID));
        assert_eq!(ringing.from.as_deref(), Some("+14155550100"));
        let twiml_answered = norm(&[
            ("CallSid", SID),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("SequenceNumber", "1"),
        ])
        .unwrap();
        assert_eq!(twiml_answered.status, None, "the caller still waits for an agent");
        assert_eq!(twiml_answered.event_id, format!("{SID}:1"));
        let done = norm(&[
            ("CallSid", SID),
            ("CallStatus", "completed"),
            ("Direction", "inbound"),
            ("CallDuration", "42"),
            ("SequenceNumber", "2"),
            ("Timestamp", "Sun, 25 Mar 2018 09:53:19 +0000"),
        ])
        .unwrap();
        assert_eq!(done.status, Some(CallStatus::Completed));
        assert_eq!(done.duration_secs, Some(42));
        assert_eq!(done.sequence, Some(2));
        assert_eq!(done.occurred_at, 1_521_971_599_000);
    }

    #[test]
    fn outbound_failures_carry_the_reason_and_twilios_codes() {
        let busy = norm(&[
            ("CallSid", SID),
            ("CallStatus", "busy"),
            ("Direction", "outbound-api"),
            ("SipResponseCode", "486"),
        ])
        .unwrap();
        assert_eq!(busy.status, Some(CallStatus::Failed));
        let e = busy.error.unwrap();
        assert_eq!(e.code, CallErrorCode::Busy);
        assert_eq!(e.provider_code.as_deref(), Some("486"));
        assert!(e.retryable);
        let no_answer = norm(&[
            ("CallSid", SID),
            ("CallStatus", "no-answer"),
            ("Direction", "outbound-api"),
        ])
        .unwrap();
        assert_eq!(no_answer.error.unwrap().code, CallErrorCode::NoAnswer);
        let invalid = norm(&[
            ("CallSid", SID),
            ("CallStatus", "failed"),
            ("Direction", "outbound-api"),
            ("SipResponseCode", "404"),
            ("ErrorCode", "13224"),
            ("ErrorMessage", "Invalid number"),
        ])
        .unwrap();
        let e = invalid.error.unwrap();
        assert_eq!(e.code, CallErrorCode::InvalidNumber);
        assert_eq!(e.provider_code.as_deref(), Some("13224"));
        assert_eq!(e.provider_message.as_deref(), Some("Invalid number"));
        let answered = norm(&[
            ("CallSid", SID),
            ("CallStatus", "in-progress"),
            ("Direction", "outbound-api"),
        ])
        .unwrap();
        assert_eq!(answered.status, Some(CallStatus::Answered));
    }

    #[test]
    fn child_legs_report_on_their_parent() {
        let child = "CAffffffffffffffffffffffffffffffff";
        let ev = norm(&[
            ("CallSid", child),
            ("ParentCallSid", SID),
            ("CallStatus", "busy"),
            ("Direction", "outbound-dial"),
        ])
        .unwrap();
        assert_eq!(ev.vendor_call_id.as_deref(), Some(SID));
        assert_eq!(ev.status, None, "a child leg does not end the parent call");
        assert!(
            ev.event_id.starts_with(child),
            "its events stay distinct from the parent's"
        );
    }

    #[test]
    fn recordings_arrive_as_data() {
        let ev = norm(&[
            ("CallSid", SID),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("RecordingSid", "RE1"),
            ("RecordingStatus", "completed"),
            ("RecordingUrl", "https://api.twilio.com/rec/RE1"),
        ])
        .unwrap();
        assert_eq!(ev.recording_url.as_deref(), Some("https://api.twilio.com/rec/RE1"));
        assert_eq!(ev.event_id, format!("{SID}:rec:RE1:completed"));

        // The recording status callback itself carries no CallStatus (protocols §2.3).
        let ev = norm(&[
            ("CallSid", SID),
            ("RecordingSid", "RE2"),
            ("RecordingStatus", "completed"),
            ("RecordingUrl", "https://api.twilio.com/rec/RE2"),
        ])
        .unwrap();
        assert_eq!(ev.recording_url.as_deref(), Some("https://api.twilio.com/rec/RE2"));
        assert_eq!(ev.status, None);
        let absent = norm(&[("CallSid", SID), ("RecordingSid", "RE3"), ("RecordingStatus", "absent")]).unwrap();
        assert_eq!(absent.recording_url, None);
    }

    #[test]
    fn malformed_callbacks_are_refused_clearly() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("CallStatus", "ringing")], "CallSid"),
            (&[("CallSid", "nope"), ("CallStatus", "ringing")], "CallSid"),
            (&[("CallSid", SID)], "CallStatus"),
            (&[("CallSid", SID), ("CallStatus", "exploded")], "CallStatus"),
            (
                &[("CallSid", SID), ("CallStatus", "ringing"), ("SequenceNumber", "-1")],
                "SequenceNumber",
            ),
            (
                &[("CallSid", SID), ("CallStatus", "ringing"), ("Timestamp", "soon")],
                "Timestamp",
            ),
            (
                &[("CallSid", SID), ("CallStatus", "ringing"), ("Direction", "sideways")],
                "Direction",
            ),
            (
                &[("CallSid", SID), ("ParentCallSid", "x"), ("CallStatus", "ringing")],
                "ParentCallSid",
            ),
        ];
        for (pairs, field) in cases {
            match norm(pairs) {
                Err(WebhookError::Malformed(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        let many: Vec<(String, String)> = (0..300).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&many)
            .finish();
        assert!(Form::parse(body.as_bytes()).is_err());
    }
}
