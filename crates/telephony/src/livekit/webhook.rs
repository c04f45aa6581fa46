//! LiveKit webhooks (protocols.md §1.7) into call events.
//!
//! The body is a `WebhookEvent` in Go's protojson (lowerCamel keys, defaults left out,
//! int64 as strings, enums by name); we read the few fields we need with serde, accepting
//! snake_case too, so a field LiveKit adds or a proxy that re-encodes does not break us.
//! Only SIP participants become call events: `sip.callID` is the voice platform's id,
//! and the carrier's own id comes from the attribute LiveKit maps its SIP header to
//! (`sip.twilio.callSid`, or the header the provider's config names), so a call a carrier
//! webhook created and the LiveKit room it lands in end up as one record.

use std::collections::HashMap;

use serde::Deserialize;
use switchboard_core::{CallSid, CallStatus, Direction, NormalizedCallEvent, TelephonyVendor, VoicePlatform};

/// The participant attribute our outbound calls carry `call_sid` in.
pub const CALL_SID_ATTRIBUTE: &str = "switchboard.callSid";
/// The attribute naming the provider whose dispatch rule or outbound call made the leg: one
/// LiveKit server may carry several providers' (or businesses') calls, and sends every
/// webhook to each URL configured.
pub const PROVIDER_ATTRIBUTE: &str = "switchboard.provider";
/// Outbound calls are placed in a room named this plus their `call_sid`.
pub const OUTBOUND_ROOM_PREFIX: &str = "out-";
/// The attribute the carrier's call id is mapped to from the header in the config.
pub const CARRIER_ID_ATTRIBUTE: &str = "switchboard.carrierCallId";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    event: String,
    id: String,
    created_at: Option<serde_json::Value>,
    #[serde(rename = "createdAt")]
    created_at_camel: Option<serde_json::Value>,
    room: Option<Room>,
    participant: Option<Participant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Room {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Participant {
    sid: String,
    identity: String,
    /// `"SIP"` in protojson; a number if someone encoded the enum as one.
    kind: serde_json::Value,
    attributes: HashMap<String, String>,
    #[serde(alias = "disconnect_reason", rename = "disconnectReason")]
    disconnect_reason: serde_json::Value,
}

/// What a webhook says about a SIP call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipLeg {
    /// The room the leg is in.
    pub room: String,
    /// The participant identity (for removing or transferring it).
    pub identity: String,
    /// The provider that made the leg (its [`PROVIDER_ATTRIBUTE`]), if it says.
    pub provider: Option<String>,
    /// The normalised event.
    pub event: NormalizedCallEvent,
}

/// Why a body is not a webhook we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not a LiveKit webhook event: {0}")]
    Json(String),
    #[error("the webhook event has no name")]
    NoEvent,
}

fn is_sip(p: &Participant) -> bool {
    match &p.kind {
        serde_json::Value::String(s) => s.eq_ignore_ascii_case("sip"),
        serde_json::Value::Number(n) => n.as_u64() == Some(3),
        _ => p.attributes.contains_key("sip.callID"),
    }
}

fn seconds(v: Option<&serde_json::Value>) -> Option<i64> {
    match v? {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Parse a verified webhook body. `Ok(None)` for events that say nothing about a SIP
/// call (rooms, tracks, the agent's own participant). `now_ms` dates events without
/// `createdAt`.
pub fn parse(body: &[u8], now_ms: i64) -> Result<Option<SipLeg>, ParseError> {
    let ev: Event = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    if ev.event.is_empty() {
        return Err(ParseError::NoEvent);
    }
    let (Some(p), Some(room)) = (ev.participant, ev.room) else {
        return Ok(None);
    };
    if !is_sip(&p) {
        return Ok(None);
    }
    let attr = |k: &str| p.attributes.get(k).filter(|v| !v.is_empty()).cloned();
    // Our outbound legs carry `call_sid` in an attribute, but livekit-sip sets the
    // request's attributes only after the leg joined: `participant_joined` may lack it,
    // and then the room we named after the call says it.
    let call_sid = attr(CALL_SID_ATTRIBUTE)
        .or_else(|| room.name.strip_prefix(OUTBOUND_ROOM_PREFIX).map(str::to_owned))
        .and_then(|s| s.parse::<CallSid>().ok());
    let inbound = attr("sip.ruleID").is_some() || call_sid.is_none();
    let call_status = attr("sip.callStatus").unwrap_or_default();
    let status = match ev.event.as_str() {
        "participant_joined" => match (inbound, call_status.as_str()) {
            // The caller is in the room: waiting for an agent.
            (true, _) => Some(CallStatus::Ringing),
            (false, "active") => Some(CallStatus::Answered),
            (false, _) => Some(CallStatus::Ringing),
        },
        "participant_left" | "participant_connection_aborted" => left_status(inbound, &call_status, &p),
        _ => None,
    };
    let Some(status) = status else {
        return Ok(None);
    };
    let created = seconds(ev.created_at_camel.as_ref().or(ev.created_at.as_ref())).and_then(|s| s.checked_mul(1000));
    let occurred_at = when(created, now_ms);
    let event_id = if ev.id.is_empty() {
        // A redelivery must get the same id: the server's time, not ours.
        format!("{}:{}:{}", ev.event, p.sid, created.unwrap_or(occurred_at))
    } else {
        ev.id.clone()
    };
    let mut e = NormalizedCallEvent::new(event_id, occurred_at);
    e.call_sid = call_sid;
    e.voice_platform = Some(VoicePlatform::LiveKit);
    e.voice_platform_call_id = attr("sip.callID");
    if let Some(id) = attr(CARRIER_ID_ATTRIBUTE).or_else(|| attr("sip.twilio.callSid")) {
        e.telephony_vendor = Some(TelephonyVendor::Twilio);
        e.vendor_call_id = Some(id);
    } else if let Some(id) = attr("sip.telnyx.callSessionID") {
        e.telephony_vendor = Some(TelephonyVendor::from("telnyx"));
        e.vendor_call_id = Some(id);
    }
    e.status = Some(status);
    e.direction = Some(if inbound {
        Direction::Inbound
    } else {
        Direction::Outbound
    });
    let (ours, theirs) = (attr("sip.trunkPhoneNumber"), attr("sip.phoneNumber"));
    (e.from, e.to) = if inbound { (theirs, ours) } else { (ours, theirs) };
    Ok(Some(SipLeg {
        room: room.name,
        identity: p.identity,
        provider: attr(PROVIDER_ATTRIBUTE),
        event: e,
    }))
}

/// When an event happened: `createdAt` has whole seconds only, so an event received within
/// its second (and a little after) is dated by the receipt, to the millisecond; the actions
/// the gateway reports are, and a call answered and ended within a second keeps its order.
/// Older (redelivered) events keep their own time.
fn when(created_ms: Option<i64>, now_ms: i64) -> i64 {
    match created_ms {
        Some(c) if (c..c.saturating_add(2_000)).contains(&now_ms) => now_ms,
        Some(c) => c,
        None => now_ms,
    }
}

/// How a SIP leg that left the room ended. Whether an inbound caller who left was
/// abandoned or served is the gateway's call (it knows whether an agent answered):
/// `Completed` either way here. An outbound leg that was answered (`active`, or `hangup`
/// when the callee hung up) completed. One that never was: the disconnect reason says
/// busy or unavailable when LiveKit knows; otherwise nothing is said here, because the
/// task placing the call reports the end with its SIP status.
fn left_status(inbound: bool, call_status: &str, p: &Participant) -> Option<CallStatus> {
    if inbound || matches!(call_status, "active" | "hangup") {
        return Some(CallStatus::Completed);
    }
    let reason = match &p.disconnect_reason {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(11) => "USER_UNAVAILABLE".into(),
            Some(12) => "USER_REJECTED".into(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    match reason.as_str() {
        "USER_UNAVAILABLE" => Some(CallStatus::Missed),
        "USER_REJECTED" => Some(CallStatus::Failed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(event: &str, attrs: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"event":"{event}","id":"EV_1","createdAt":"1764600000","room":{{"sid":"RM_1","name":"call-+15550001111_abc","metadata":"{{\"provider\":\"lk\"}}"}},
                "participant":{{"sid":"PA_1","identity":"sip_+15550001111","kind":"SIP","attributes":{{{attrs}}}{extra}}}}}"#
        )
        .into_bytes()
    }

    const INBOUND: &str = r#""switchboard.provider":"lk","sip.callID":"SCL_abc","sip.ruleID":"SDR_1","sip.phoneNumber":"+15550001111","sip.trunkPhoneNumber":"+14155550100","sip.callStatus":"active","sip.twilio.callSid":"CA0123""#;

    #[test]
    fn an_inbound_sip_caller_is_a_ringing_call_with_both_ids() {
        let leg = parse(&body("participant_joined", INBOUND, ""), 0).unwrap().unwrap();
        assert_eq!(leg.room, "call-+15550001111_abc");
        assert_eq!(leg.identity, "sip_+15550001111");
        assert_eq!(leg.provider.as_deref(), Some("lk"));
        let e = leg.event;
        assert_eq!(e.event_id, "EV_1");
        assert_eq!(e.occurred_at, 1_764_600_000_000);
        assert_eq!(e.status, Some(CallStatus::Ringing));
        assert_eq!(e.direction, Some(Direction::Inbound));
        assert_eq!(e.voice_platform, Some(VoicePlatform::LiveKit));
        assert_eq!(e.voice_platform_call_id.as_deref(), Some("SCL_abc"));
        assert_eq!(e.telephony_vendor, Some(TelephonyVendor::Twilio));
        assert_eq!(e.vendor_call_id.as_deref(), Some("CA0123"));
        assert_eq!(
            (e.from.as_deref(), e.to.as_deref()),
            (Some("+15550001111"), Some("+14155550100"))
        );
        let left = parse(&body("participant_left", INBOUND, ""), 0).unwrap().unwrap();
        assert_eq!(left.event.status, Some(CallStatus::Completed));
    }

    #[test]
    fn an_outbound_leg_carries_our_call_sid_and_ends_by_its_disconnect_reason() {
        let sid = CallSid::from_parts(1_764_600_000_000, 42);
        let attrs = format!(
            r#""sip.callID":"SCL_out","sip.phoneNumber":"+15550002222","sip.trunkPhoneNumber":"+14155550100","sip.callStatus":"active","{CALL_SID_ATTRIBUTE}":"{sid}""#
        );
        let e = parse(&body("participant_joined", &attrs, ""), 0)
            .unwrap()
            .unwrap()
            .event;
        assert_eq!(e.call_sid, Some(sid));
        assert_eq!(e.direction, Some(Direction::Outbound));
        assert_eq!(e.status, Some(CallStatus::Answered));
        assert_eq!(
            (e.from.as_deref(), e.to.as_deref()),
            (Some("+14155550100"), Some("+15550002222"))
        );
        let dialling = attrs.replace(r#""sip.callStatus":"active""#, r#""sip.callStatus":"ringing""#);
        for (reason, status) in [
            (r#""USER_UNAVAILABLE""#, CallStatus::Missed),
            (r#""USER_REJECTED""#, CallStatus::Failed),
            ("12", CallStatus::Failed),
        ] {
            let b = body(
                "participant_left",
                &dialling,
                &format!(r#","disconnectReason":{reason}"#),
            );
            assert_eq!(parse(&b, 0).unwrap().unwrap().event.status, Some(status), "{reason}");
        }
        // Answered, then gone for whatever reason: completed.
        let b = body("participant_left", &attrs, r#","disconnectReason":"USER_UNAVAILABLE""#);
        assert_eq!(parse(&b, 0).unwrap().unwrap().event.status, Some(CallStatus::Completed));
        // Never answered, no reason given (LiveKit's own ringing timeout): the placing
        // task says how it ended, not this webhook.
        let b = body("participant_left", &dialling, r#","disconnectReason":"UNKNOWN_REASON""#);
        assert_eq!(parse(&b, 0).unwrap(), None);
        let b = body("participant_left", &dialling, r#","disconnectReason":"USER_REJECTED""#);
        assert_eq!(parse(&b, 0).unwrap().unwrap().event.status, Some(CallStatus::Failed));
    }

    #[test]
    fn rooms_tracks_and_people_are_not_calls_and_garbage_is_refused() {
        let standard = String::from_utf8(body("participant_joined", INBOUND, ""))
            .unwrap()
            .replace(r#""kind":"SIP""#, r#""kind":"STANDARD""#);
        assert_eq!(parse(standard.as_bytes(), 0).unwrap(), None);
        assert_eq!(
            parse(br#"{"event":"room_started","room":{"name":"r"}}"#, 0).unwrap(),
            None
        );
        assert_eq!(parse(&body("track_published", INBOUND, ""), 0).unwrap(), None);
        assert!(matches!(parse(b"{", 0), Err(ParseError::Json(_))));
        assert_eq!(parse(b"{}", 0), Err(ParseError::NoEvent));
    }

    #[test]
    fn an_outbound_leg_joining_before_its_attributes_is_known_by_its_room() {
        // What livekit-server 1.8.4 sent for a leg livekit-sip 1.0.0 was dialling: SIP
        // attributes, but not yet the ones the request asked for.
        let sid = CallSid::from_parts(1_764_600_000_000, 7);
        let body = format!(
            r#"{{"event":"participant_joined","id":"EV_2","room":{{"name":"out-{sid}"}},"participant":{{"sid":"PA_2","identity":"sip-{sid}","kind":"SIP",
                "attributes":{{"sip.callID":"SCL_x","sip.phoneNumber":"+16285550140","sip.trunkPhoneNumber":"+14155550177","sip.callStatus":"dialing"}}}}}}"#
        );
        let e = parse(body.as_bytes(), 5).unwrap().unwrap().event;
        assert_eq!(e.call_sid, Some(sid), "not a new inbound call from the callee");
        assert_eq!(e.direction, Some(Direction::Outbound));
        assert_eq!(e.status, Some(CallStatus::Ringing));
        assert_eq!(e.from.as_deref(), Some("+14155550177"));
        // A room of the dispatch rule names no call: an inbound caller.
        let inbound = parse(&body_in_room("call-+1_x"), 5).unwrap().unwrap().event;
        assert_eq!((inbound.call_sid, inbound.direction), (None, Some(Direction::Inbound)));
    }

    fn body_in_room(room: &str) -> Vec<u8> {
        format!(
            r#"{{"event":"participant_joined","id":"EV_3","room":{{"name":"{room}"}},"participant":{{"sid":"PA_3","identity":"sip_+1","kind":"SIP",
                "attributes":{{"sip.callID":"SCL_y","sip.phoneNumber":"+16285550150","sip.trunkPhoneNumber":"+14155550177","sip.ruleID":"SDR_1"}}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn fresh_events_are_dated_to_the_millisecond_and_old_ones_keep_their_second() {
        let c = 1_764_600_000_000;
        assert_eq!(when(Some(c), c + 640), c + 640);
        assert_eq!(when(Some(c), c + 1_999), c + 1_999);
        assert_eq!(when(Some(c), c + 2_000), c, "a late delivery keeps the server's time");
        assert_eq!(when(Some(c), c - 5), c, "our clock behind the server's");
        assert_eq!(when(None, c), c);
    }
}
