//! AMI events into call events: pure, no I/O. The [`Tracker`] keeps the PBX's channels
//! (by `Uniqueid`) and the calls they make up (by `Linkedid`, the id of the oldest channel
//! of a conversation, which Asterisk carries across dials and bridges: every leg of one
//! conversation is one call, and `Linkedid` is its vendor call id).
//!
//! Which conversations are the business's calls: an inbound one whose first channel dials
//! one of the provider's numbers, and an outbound one the provider originated (it names
//! the first channel's `Uniqueid` itself, see [`Tracker::expect_outbound`]). Calls between
//! extensions are the PBX's own business and produce nothing.
//!
//! What becomes what (protocols.md §3.4): `QueueCallerJoin` queues; `AgentConnect`, an
//! answered `DialEnd` or a second channel in the caller's bridge answers; `Hold` / `Unhold`
//! hold and resume; a successful `BlindTransfer` / `AttendedTransfer` transfers; a failed
//! `DialEnd` or the caller's `Hangup` ends the call with its cause in our terms
//! ([`super::causes`]); `QueueCallerAbandon` abandons; `MixMonitorStop` brings the
//! recording's URL. After a reconnect [`Tracker::resync`] compares what the PBX has now
//! (`CoreShowChannels`, `QueueStatus`) with what it remembers: calls that ended while the
//! connection was down end, calls that started ring or are answered.

use std::collections::{HashMap, HashSet};

use switchboard_core::{CallError, CallSid, CallStatus, Direction, NormalizedCallEvent, TelephonyVendor};

use super::causes;
use super::frame::Message;

/// Calls remembered at most; the oldest ended ones go first.
const MAX_CALLS: usize = 50_000;

/// One channel of the PBX.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chan {
    name: String,
    linkedid: String,
    bridge: Option<String>,
}

/// A conversation the business cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Our id, when we know it (we placed the call, or the gateway told us after a restart).
    pub call_sid: Option<CallSid>,
    /// Direction.
    pub direction: Direction,
    /// Calling party.
    pub from: String,
    /// Called party.
    pub to: String,
    /// Where the call stands, as last reported.
    pub status: CallStatus,
    /// The customer's channel (`Uniqueid`): the caller of an inbound call, the dialled
    /// party of an outbound one once dialled.
    pub customer: Option<String>,
    /// When it was answered (ms), for the duration.
    answered_at: Option<i64>,
    /// The file of the recording in progress.
    pub recording: Option<String>,
    /// The agent's phone, parked in silence while the gateway holds the caller.
    pub parked_agent: Option<String>,
    /// Events reported for this call, for the per-call sequence.
    seq: i64,
}

impl Call {
    fn ended(&self) -> bool {
        matches!(
            self.status,
            CallStatus::Completed | CallStatus::Missed | CallStatus::Abandoned | CallStatus::Failed
        )
    }
}

/// The PBX's channels and the calls they make up.
#[derive(Debug, Default)]
pub struct Tracker {
    /// The business numbers this PBX receives calls on (E.164).
    numbers: Vec<String>,
    channels: HashMap<String, Chan>,
    calls: HashMap<String, Call>,
    /// Where recordings are served from.
    recordings_base: Option<String>,
}

/// The digits of a number, for comparing a PBX's `Exten` (often without `+` or the
/// country code) with an E.164 number.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Do a dialled extension and a business number name the same line? The shorter digit
/// string (at least 7 digits) must end the longer one.
fn same_number(exten: &str, e164: &str) -> bool {
    let (a, b) = (digits(exten), digits(e164));
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    exten.trim_start_matches('+').bytes().all(|c| c.is_ascii_digit())
        && short.len() >= 7
        && long.ends_with(short.as_str())
}

/// A calling number as the gateway stores it: E.164 when the PBX gives a full number.
fn caller_number(raw: &str) -> String {
    let d = digits(raw);
    if raw.starts_with('+') || (d.len() >= 11 && d.len() == raw.len()) {
        format!("+{d}")
    } else {
        raw.to_owned()
    }
}

/// The time an event happened: its `Timestamp` header (`timestampevents=yes`), else now.
fn when(m: &Message, now_ms: i64) -> i64 {
    m.get("Timestamp")
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map_or(now_ms, |s| (s * 1000.0) as i64)
}

impl Tracker {
    /// A tracker for a PBX receiving calls on `numbers`.
    pub fn new(numbers: Vec<String>, recordings_base: Option<String>) -> Self {
        Self {
            numbers,
            recordings_base: recordings_base.map(|b| b.trim_end_matches('/').to_owned()),
            ..Self::default()
        }
    }

    /// The numbers and recording base changed (a new configuration).
    pub fn configure(&mut self, numbers: Vec<String>, recordings_base: Option<String>) {
        self.numbers = numbers;
        self.recordings_base = recordings_base.map(|b| b.trim_end_matches('/').to_owned());
    }

    /// A call by its `Linkedid`.
    pub fn call(&self, linkedid: &str) -> Option<&Call> {
        self.calls.get(linkedid)
    }

    /// The channel names of a call: the customer's, and the one bridged with it (the
    /// agent's phone), each when there is one.
    pub fn legs(&self, linkedid: &str) -> (Option<String>, Option<String>) {
        let Some(call) = self.calls.get(linkedid) else {
            return (None, None);
        };
        let customer = call.customer.as_ref().and_then(|u| self.channels.get(u));
        let agent = customer
            .and_then(|c| c.bridge.as_ref())
            .and_then(|b| {
                self.channels
                    .iter()
                    .find(|(u, ch)| Some(*u) != call.customer.as_ref() && ch.bridge.as_ref() == Some(b))
            })
            .map(|(_, ch)| ch.name.clone())
            // An outbound call before the customer answers: the agent's phone is the first
            // channel.
            .or_else(|| {
                (call.direction == Direction::Outbound)
                    .then(|| self.channels.get(linkedid).map(|c| c.name.clone()))
                    .flatten()
            });
        (customer.map(|c| c.name.clone()), agent)
    }

    /// Calls not yet ended, by `Linkedid`.
    pub fn live(&self) -> Vec<(String, Call)> {
        self.calls
            .iter()
            .filter(|(_, c)| !c.ended())
            .map(|(l, c)| (l.clone(), c.clone()))
            .collect()
    }

    /// We are about to originate an outbound call whose first channel gets `linkedid` as
    /// its `Uniqueid`.
    pub fn expect_outbound(&mut self, linkedid: &str, call_sid: CallSid, from: &str, to: &str) {
        self.remember(
            linkedid,
            Call {
                call_sid: Some(call_sid),
                direction: Direction::Outbound,
                from: from.to_owned(),
                to: to.to_owned(),
                status: CallStatus::Ringing,
                customer: None,
                answered_at: None,
                recording: None,
                parked_agent: None,
                seq: 0,
            },
        );
    }

    /// A call the gateway still has as live after a restart (its vendor id is the
    /// `Linkedid`): the next resync finds out what became of it.
    pub fn adopt(
        &mut self,
        linkedid: &str,
        call_sid: CallSid,
        direction: Direction,
        from: &str,
        to: &str,
        status: CallStatus,
    ) {
        let answered_at = matches!(
            status,
            CallStatus::Answered | CallStatus::OnHold | CallStatus::Transferred
        )
        .then_some(0);
        self.remember(
            linkedid,
            Call {
                call_sid: Some(call_sid),
                direction,
                from: from.to_owned(),
                to: to.to_owned(),
                status,
                // Inbound: the caller's channel is the first one; outbound: found again by
                // the resync's bridges.
                customer: (direction == Direction::Inbound).then(|| linkedid.to_owned()),
                answered_at,
                recording: None,
                parked_agent: None,
                seq: 0,
            },
        );
    }

    /// The recording we started on a call: its URL arrives when it stops.
    pub fn recording_started(&mut self, linkedid: &str, file: &str) {
        if let Some(c) = self.calls.get_mut(linkedid) {
            c.recording = Some(file.to_owned());
        }
    }

    /// Our own hold (by redirect, which the PBX does not report as a hold) took effect:
    /// `parked` is the agent's phone waiting in silence, `None` once they talk again.
    pub fn held(&mut self, linkedid: &str, parked: Option<String>, now_ms: i64) -> Vec<NormalizedCallEvent> {
        let next = if parked.is_some() {
            CallStatus::OnHold
        } else {
            CallStatus::Answered
        };
        if let Some(c) = self.calls.get_mut(linkedid) {
            c.parked_agent = parked;
        }
        self.status(linkedid, "hold", now_ms, next, None).into_iter().collect()
    }

    /// Our own transfer by redirect (which the PBX reports as nothing more) took effect.
    pub fn transferred(&mut self, linkedid: &str, now_ms: i64) -> Vec<NormalizedCallEvent> {
        self.status(linkedid, "transfer", now_ms, CallStatus::Transferred, None)
            .into_iter()
            .collect()
    }

    /// A channel's name by its Uniqueid.
    pub fn channel_name(&self, uid: &str) -> Option<String> {
        self.channels.get(uid).map(|c| c.name.clone())
    }

    /// The names of a call's channels other than `except` (a consulted phone).
    pub fn others(&self, linkedid: &str, except: &[&str]) -> Vec<String> {
        self.channels
            .values()
            .filter(|c| c.linkedid == linkedid && !except.contains(&c.name.as_str()))
            .map(|c| c.name.clone())
            .collect()
    }

    fn remember(&mut self, linkedid: &str, call: Call) {
        if self.calls.len() >= MAX_CALLS && !self.calls.contains_key(linkedid) {
            // Drop ended calls first; a PBX with 50,000 live calls is not one we serve.
            let ended: Vec<String> = self
                .calls
                .iter()
                .filter(|(_, c)| c.ended())
                .map(|(l, _)| l.clone())
                .take(MAX_CALLS / 10 + 1)
                .collect();
            for l in ended {
                self.calls.remove(&l);
            }
            if self.calls.len() >= MAX_CALLS {
                return;
            }
        }
        self.calls.insert(linkedid.to_owned(), call);
    }

    /// Build the event for a change of `linkedid`'s call; `f` fills it in and returns
    /// `None` when nothing changed. The call's status follows the event's.
    fn report(
        &mut self,
        linkedid: &str,
        what: &str,
        at: i64,
        f: impl FnOnce(&mut Call, &mut NormalizedCallEvent) -> Option<()>,
    ) -> Option<NormalizedCallEvent> {
        let call = self.calls.get_mut(linkedid)?;
        if call.ended() {
            return None;
        }
        let mut ev = NormalizedCallEvent::new(String::new(), at);
        f(call, &mut ev)?;
        call.seq += 1;
        ev.event_id = format!("ast-{linkedid}-{what}-{at}-{}", call.seq);
        ev.sequence = Some(call.seq);
        ev.call_sid = call.call_sid.clone();
        ev.telephony_vendor = Some(TelephonyVendor::Asterisk);
        ev.vendor_call_id = Some(linkedid.to_owned());
        ev.direction = Some(call.direction);
        ev.from = Some(call.from.clone());
        ev.to = Some(call.to.clone());
        if let Some(s) = ev.status {
            if s == CallStatus::Answered && call.answered_at.is_none() {
                call.answered_at = Some(at);
            }
            if matches!(s, CallStatus::Completed) {
                ev.duration_secs = call.answered_at.filter(|t| *t > 0).map(|t| ((at - t) / 1000).max(0));
            }
            call.status = s;
        }
        Some(ev)
    }

    /// Move a call to `next` if its status allows; `error` goes with a terminal status.
    fn status(
        &mut self,
        linkedid: &str,
        what: &str,
        at: i64,
        next: CallStatus,
        error: Option<CallError>,
    ) -> Option<NormalizedCallEvent> {
        self.report(linkedid, what, at, |c, ev| {
            if c.status == next || !c.status.can_transition_to(next) {
                return None;
            }
            ev.status = Some(next);
            ev.error = error;
            Some(())
        })
    }

    /// How a call ends when its customer's channel goes: by the cause, and by whether it
    /// was ever answered.
    fn end(&mut self, linkedid: &str, at: i64, error: Option<CallError>) -> Option<NormalizedCallEvent> {
        let call = self.calls.get(linkedid)?;
        let answered = call.answered_at.is_some()
            || matches!(
                call.status,
                CallStatus::Answered | CallStatus::OnHold | CallStatus::Transferred
            );
        let next = match (answered, call.direction, &error) {
            (true, _, _) => CallStatus::Completed,
            (false, Direction::Outbound, Some(e)) if e.code == switchboard_core::CallErrorCode::NoAnswer => {
                CallStatus::Missed
            }
            (false, _, Some(_)) => CallStatus::Failed,
            // An inbound caller who hung up before anyone answered.
            (false, Direction::Inbound, None) => CallStatus::Abandoned,
            (false, Direction::Outbound, None) => CallStatus::Missed,
        };
        // A normal end of an answered call carries no error.
        let error = if next == CallStatus::Completed { None } else { error };
        self.status(linkedid, "end", at, next, error)
    }

    /// Note a channel from a snapshot (any event with `Uniqueid` and `Linkedid`), and start
    /// tracking an inbound call when a first channel dials a business number.
    fn see_channel(&mut self, m: &Message, prefix: &str, at: i64) -> Vec<NormalizedCallEvent> {
        let key = |k: &str| format!("{prefix}{k}");
        let (Some(uid), Some(name)) = (m.get(&key("Uniqueid")), m.get(&key("Channel"))) else {
            return vec![];
        };
        let linkedid = m.get(&key("Linkedid")).unwrap_or(uid).to_owned();
        let chan = self.channels.entry(uid.to_owned()).or_insert_with(|| Chan {
            name: name.to_owned(),
            linkedid: linkedid.clone(),
            bridge: None,
        });
        chan.name = name.to_owned();
        // A channel's Linkedid can change when it is bridged into another conversation
        // (an attended transfer): follow the PBX.
        chan.linkedid = linkedid.clone();
        if uid != linkedid || self.calls.contains_key(&linkedid) {
            return vec![];
        }
        let exten = m.get(&key("Exten")).unwrap_or_default();
        let Some(number) = self.numbers.iter().find(|n| same_number(exten, n)).cloned() else {
            return vec![];
        };
        self.remember(
            &linkedid,
            Call {
                call_sid: None,
                direction: Direction::Inbound,
                from: caller_number(m.get(&key("CallerIDNum")).unwrap_or("unknown")),
                to: number,
                status: CallStatus::Ringing,
                customer: Some(uid.to_owned()),
                answered_at: None,
                recording: None,
                parked_agent: None,
                seq: 0,
            },
        );
        let mut ev = NormalizedCallEvent::new(String::new(), at);
        ev.status = Some(CallStatus::Ringing);
        let call = self.calls.get_mut(&linkedid);
        let Some(call) = call else { return vec![] };
        call.seq += 1;
        ev.event_id = format!("ast-{linkedid}-ring-{at}-{}", call.seq);
        ev.sequence = Some(call.seq);
        ev.telephony_vendor = Some(TelephonyVendor::Asterisk);
        ev.vendor_call_id = Some(linkedid);
        ev.direction = Some(Direction::Inbound);
        ev.from = Some(call.from.clone());
        ev.to = Some(call.to.clone());
        vec![ev]
    }

    /// The linkedid of the call a channel belongs to, if we track that call.
    fn call_of(&self, uid: Option<&str>) -> Option<String> {
        let chan = self.channels.get(uid?)?;
        self.calls.contains_key(&chan.linkedid).then(|| chan.linkedid.clone())
    }

    /// Is this channel's bridge shared with another channel?
    fn bridged_with_other(&self, uid: &str) -> bool {
        let Some(b) = self.channels.get(uid).and_then(|c| c.bridge.clone()) else {
            return false;
        };
        self.channels
            .iter()
            .any(|(u, c)| u != uid && c.bridge.as_ref() == Some(&b))
    }

    /// One AMI event.
    pub fn on_event(&mut self, m: &Message, now_ms: i64) -> Vec<NormalizedCallEvent> {
        let Some(name) = m.event() else { return vec![] };
        let at = when(m, now_ms);
        let mut out = self.see_channel(m, "", at);
        let uid = m.get("Uniqueid").map(str::to_owned);
        let call = self.call_of(uid.as_deref());
        let push = |out: &mut Vec<NormalizedCallEvent>, e: Option<NormalizedCallEvent>| out.extend(e);
        match name.to_ascii_lowercase().as_str() {
            "dialbegin" => {
                out.extend(self.see_channel(m, "Dest", at));
                // The first dial of an outbound call reaches the customer.
                if let (Some(l), Some(dest)) = (call.as_deref(), m.get("DestUniqueid")) {
                    if let Some(c) = self.calls.get_mut(l) {
                        if c.direction == Direction::Outbound && c.customer.is_none() {
                            c.customer = Some(dest.to_owned());
                        }
                    }
                }
            }
            "dialend" => {
                out.extend(self.see_channel(m, "Dest", at));
                let status = m.get("DialStatus").unwrap_or_default();
                if let Some(l) = call.as_deref() {
                    let outbound_customer = self.calls.get(l).is_some_and(|c| {
                        c.direction == Direction::Outbound && c.customer.as_deref() == m.get("DestUniqueid")
                    });
                    match causes::dial_error(status) {
                        None if status.eq_ignore_ascii_case("ANSWER") => {
                            push(&mut out, self.status(l, "answer", at, CallStatus::Answered, None))
                        }
                        None => {}
                        // An agent's phone not answering a transfer or a queue ring is not
                        // the end of the call; the customer's dial failing is.
                        Some(e) if outbound_customer => push(&mut out, self.end(l, at, Some(e))),
                        Some(_) => {}
                    }
                }
            }
            "agentconnect" => {
                if let Some(l) = call.as_deref() {
                    push(&mut out, self.status(l, "answer", at, CallStatus::Answered, None));
                }
            }
            "bridgeenter" => {
                if let Some(u) = uid.as_deref() {
                    if let Some(c) = self.channels.get_mut(u) {
                        c.bridge = m.get("BridgeUniqueid").map(str::to_owned);
                    }
                    if let Some(l) = call.as_deref() {
                        let customer = self.calls.get(l).and_then(|c| c.customer.clone());
                        let status = self.calls.get(l).map(|c| c.status);
                        let talking = customer.is_some_and(|c| self.bridged_with_other(&c));
                        // Ringing or queued, or back from our own hold: talking now.
                        if talking
                            && matches!(
                                status,
                                Some(
                                    CallStatus::Ringing
                                        | CallStatus::Queued
                                        | CallStatus::OnHold
                                        | CallStatus::Transferred
                                )
                            )
                        {
                            push(&mut out, self.status(l, "bridge", at, CallStatus::Answered, None));
                        }
                    }
                }
            }
            "bridgeleave" => {
                if let Some(c) = uid.as_deref().and_then(|u| self.channels.get_mut(u)) {
                    c.bridge = None;
                }
            }
            "hold" => {
                if let Some(l) = call.as_deref() {
                    push(&mut out, self.status(l, "hold", at, CallStatus::OnHold, None));
                }
            }
            "unhold" => {
                if let Some(l) = call.as_deref() {
                    push(&mut out, self.status(l, "unhold", at, CallStatus::Answered, None));
                }
            }
            "queuecallerjoin" => {
                if let Some(l) = call.as_deref() {
                    push(&mut out, self.status(l, "queue", at, CallStatus::Queued, None));
                }
            }
            "queuecallerabandon" => {
                if let Some(l) = call.as_deref() {
                    push(&mut out, self.status(l, "abandon", at, CallStatus::Abandoned, None));
                }
            }
            "blindtransfer" | "attendedtransfer" => {
                let ok = m.get("Result").is_some_and(|r| r.eq_ignore_ascii_case("success"));
                // The transferee's (the customer's) call is the one transferred.
                let who = ["TransfereeUniqueid", "OrigTransfererUniqueid", "TransfererUniqueid"]
                    .iter()
                    .find_map(|k| self.call_of(m.get(k)));
                if let (true, Some(l)) = (ok, who) {
                    push(&mut out, self.status(&l, "transfer", at, CallStatus::Transferred, None));
                }
            }
            "mixmonitorstop" => {
                if let Some(l) = call.as_deref() {
                    let base = self.recordings_base.clone();
                    let file = self.calls.get_mut(l).and_then(|c| c.recording.take());
                    if let (Some(base), Some(file)) = (base, file) {
                        push(
                            &mut out,
                            self.report(l, "recording", at, |_, ev| {
                                ev.recording_url = Some(format!("{base}/{file}"));
                                Some(())
                            }),
                        );
                    }
                }
            }
            "hangup" => {
                if let Some(u) = uid.as_deref() {
                    let gone = self.channels.remove(u);
                    if let Some(l) = gone.map(|c| c.linkedid).filter(|l| self.calls.contains_key(l)) {
                        let is_customer = self.calls.get(&l).is_some_and(|c| c.customer.as_deref() == Some(u));
                        let last = !self.channels.values().any(|c| c.linkedid == l);
                        if is_customer || last {
                            let error = causes::hangup_error(m.get("Cause"), m.get("Cause-txt"));
                            push(&mut out, self.end(&l, at, error));
                        }
                    }
                }
            }
            "originateresponse" => {
                // The agent's own phone never answered the click-to-dial (or failed).
                let failed = m.get("Response").is_some_and(|r| r.eq_ignore_ascii_case("failure"));
                if let (true, Some(l)) = (failed, m.get("Uniqueid").filter(|u| self.calls.contains_key(*u))) {
                    let l = l.to_owned();
                    // The channel it names never came to be.
                    self.channels.remove(&l);
                    let reason = m.get("Reason").unwrap_or("0");
                    let code = match reason.trim() {
                        "5" => switchboard_core::CallErrorCode::Busy,
                        "3" => switchboard_core::CallErrorCode::NoAnswer,
                        "8" => switchboard_core::CallErrorCode::Unavailable,
                        _ => switchboard_core::CallErrorCode::ProviderError,
                    };
                    let mut e = CallError::new(
                        code,
                        format!("the agent's phone did not take the call (reason {reason})"),
                    );
                    e.provider_code = Some(format!("originate:{reason}"));
                    push(&mut out, self.status(&l, "originate", at, CallStatus::Failed, Some(e)));
                }
            }
            _ => {}
        }
        out
    }

    /// After (re)connecting: `channels` are the `CoreShowChannel` events of
    /// `CoreShowChannels`, `queued` the `QueueEntry` events of `QueueStatus`. Calls that
    /// ended while we were away end now; calls that started or moved on are reported.
    pub fn resync(&mut self, channels: &[Message], queued: &[Message], now_ms: i64) -> Vec<NormalizedCallEvent> {
        let mut out = Vec::new();
        // The PBX's channels now, with their bridges (CoreShowChannel's `BridgeId`).
        let mut fresh: HashMap<String, Chan> = HashMap::new();
        for m in channels
            .iter()
            .filter(|m| m.event().is_some_and(|e| e.eq_ignore_ascii_case("CoreShowChannel")))
        {
            let (Some(uid), Some(name)) = (m.get("Uniqueid"), m.get("Channel")) else {
                continue;
            };
            fresh.insert(
                uid.to_owned(),
                Chan {
                    name: name.to_owned(),
                    linkedid: m.get("Linkedid").unwrap_or(uid).to_owned(),
                    bridge: m.get("BridgeId").filter(|b| !b.is_empty()).map(str::to_owned),
                },
            );
        }
        self.channels = fresh.clone();
        // Calls whose every channel went while we were away.
        let present: HashSet<String> = fresh.values().map(|c| c.linkedid.clone()).collect();
        let gone: Vec<String> = self
            .live()
            .into_iter()
            .map(|(l, _)| l)
            .filter(|l| !present.contains(l))
            .collect();
        for l in gone {
            out.extend(self.end(&l, now_ms, None));
        }
        // New conversations, seen as their first channels.
        for m in channels
            .iter()
            .filter(|m| m.event().is_some_and(|e| e.eq_ignore_ascii_case("CoreShowChannel")))
        {
            out.extend(self.see_channel(m, "", now_ms));
        }
        // Where the live ones stand: queued, talking.
        let queued: HashSet<&str> = queued
            .iter()
            .filter(|m| m.event().is_some_and(|e| e.eq_ignore_ascii_case("QueueEntry")))
            .filter_map(|m| m.get("Uniqueid"))
            .collect();
        for (l, call) in self.live() {
            let Some(customer) = call.customer.clone().or_else(|| {
                // An outbound call's customer: the channel bridged with the first one.
                (call.direction == Direction::Outbound)
                    .then(|| {
                        let first = self.channels.get(&l)?.bridge.clone()?;
                        self.channels
                            .iter()
                            .find(|(u, c)| **u != l && c.bridge.as_deref() == Some(first.as_str()))
                            .map(|(u, _)| u.clone())
                    })
                    .flatten()
            }) else {
                continue;
            };
            if let Some(c) = self.calls.get_mut(&l) {
                c.customer = Some(customer.clone());
            }
            if !self.channels.contains_key(&customer) {
                out.extend(self.end(&l, now_ms, None));
            } else if self.bridged_with_other(&customer) {
                if matches!(call.status, CallStatus::Ringing | CallStatus::Queued) {
                    out.extend(self.status(&l, "resync", now_ms, CallStatus::Answered, None));
                }
            } else if queued.contains(customer.as_str()) && call.status == CallStatus::Ringing {
                out.extend(self.status(&l, "resync", now_ms, CallStatus::Queued, None));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(fields: &[(&str, &str)]) -> Message {
        let mut m = Message::new();
        for (k, v) in fields {
            m.push(k, v);
        }
        m
    }

    fn chan(event: &str, name: &str, uid: &str, linked: &str, exten: &str) -> Message {
        ev(&[
            ("Event", event),
            ("Channel", name),
            ("Uniqueid", uid),
            ("Linkedid", linked),
            ("Exten", exten),
            ("CallerIDNum", "16285550131"),
        ])
    }

    #[test]
    fn numbers_match_by_their_digits() {
        assert!(same_number("14155550177", "+14155550177"));
        assert!(same_number("4155550177", "+14155550177"));
        assert!(same_number("+14155550177", "+14155550177"));
        assert!(!same_number("1001", "+14155550177"));
        assert!(!same_number("s", "+14155550177"));
        assert_eq!(caller_number("16285550131"), "+16285550131");
        assert_eq!(caller_number("1001"), "1001");
    }

    #[test]
    fn an_inbound_call_rings_queues_is_answered_and_completes() {
        let mut t = Tracker::new(vec!["+14155550177".into()], None);
        let ring = t.on_event(&chan("Newchannel", "PJSIP/trunk-1", "1.1", "1.1", "14155550177"), 1_000);
        assert_eq!(ring.len(), 1);
        assert_eq!(ring[0].status, Some(CallStatus::Ringing));
        assert_eq!(ring[0].from.as_deref(), Some("+16285550131"));
        assert_eq!(ring[0].vendor_call_id.as_deref(), Some("1.1"));
        let mut q = chan("QueueCallerJoin", "PJSIP/trunk-1", "1.1", "1.1", "14155550177");
        q.push("Queue", "sales");
        assert_eq!(t.on_event(&q, 2_000)[0].status, Some(CallStatus::Queued));
        // An internal call between extensions is none of ours.
        assert!(
            t.on_event(&chan("Newchannel", "PJSIP/1002-9", "9.9", "9.9", "1001"), 2_500)
                .is_empty()
        );
        t.on_event(&chan("Newchannel", "PJSIP/1001-2", "1.2", "1.1", "1001"), 3_000);
        let mut enter = |uid: &str, name: &str, at| {
            let mut b = chan("BridgeEnter", name, uid, "1.1", "");
            b.push("BridgeUniqueid", "br-1");
            t.on_event(&b, at)
        };
        assert!(enter("1.1", "PJSIP/trunk-1", 4_000).is_empty());
        let answered = enter("1.2", "PJSIP/1001-2", 4_000);
        assert_eq!(answered[0].status, Some(CallStatus::Answered));
        assert_eq!(
            t.legs("1.1"),
            (Some("PJSIP/trunk-1".into()), Some("PJSIP/1001-2".into()))
        );
        // The agent's phone hanging up first does not end the call; the caller's does.
        let mut h = chan("Hangup", "PJSIP/1001-2", "1.2", "1.1", "");
        h.push("Cause", "16");
        assert!(t.on_event(&h, 9_000).is_empty());
        let mut h = chan("Hangup", "PJSIP/trunk-1", "1.1", "1.1", "");
        h.push("Cause", "16");
        let done = t.on_event(&h, 10_500);
        assert_eq!(done[0].status, Some(CallStatus::Completed));
        assert_eq!(done[0].duration_secs, Some(6));
        assert_eq!(done[0].error, None);
        assert!(t.live().is_empty());
    }

    #[test]
    fn an_outbound_dial_ends_busy_with_the_cause_kept() {
        let mut t = Tracker::new(vec![], None);
        let sid = CallSid::from_parts(1_700_000_000_000, 7);
        t.expect_outbound("sb-1", sid.clone(), "+14155550177", "+16285550131");
        t.on_event(&chan("Newchannel", "PJSIP/1001-1", "sb-1", "sb-1", "s"), 1_000);
        let mut dial = chan("DialBegin", "PJSIP/1001-1", "sb-1", "sb-1", "");
        dial.push("DestChannel", "PJSIP/trunk-2");
        dial.push("DestUniqueid", "2.2");
        dial.push("DestLinkedid", "sb-1");
        t.on_event(&dial, 2_000);
        assert_eq!(t.legs("sb-1").0.as_deref(), Some("PJSIP/trunk-2"));
        let mut h = chan("Hangup", "PJSIP/trunk-2", "2.2", "sb-1", "");
        h.push("Cause", "17");
        h.push("Cause-txt", "User busy");
        let out = t.on_event(&h, 3_000);
        assert_eq!(out[0].status, Some(CallStatus::Failed));
        assert_eq!(out[0].call_sid, Some(sid));
        let e = out[0].error.clone().unwrap();
        assert_eq!(e.code, switchboard_core::CallErrorCode::Busy);
        assert_eq!(e.provider_code.as_deref(), Some("17"));
        assert_eq!(e.provider_message.as_deref(), Some("User busy"));
    }

    #[test]
    fn a_resync_ends_what_went_and_finds_what_came() {
        let mut t = Tracker::new(vec!["+14155550177".into()], None);
        t.on_event(&chan("Newchannel", "PJSIP/trunk-1", "1.1", "1.1", "14155550177"), 1_000);
        t.on_event(&chan("Newchannel", "PJSIP/trunk-3", "3.3", "3.3", "14155550177"), 1_000);
        // While we were away: 1.1 hung up, 3.3 was answered, 5.5 rang and queued.
        let show = |name: &str, uid: &str, bridge: &str, exten: &str| {
            let mut m = chan("CoreShowChannel", name, uid, uid, exten);
            m.push("BridgeId", bridge);
            m
        };
        let mut agent = chan("CoreShowChannel", "PJSIP/1001-4", "3.4", "3.3", "1001");
        agent.push("BridgeId", "br-3");
        let channels = vec![
            show("PJSIP/trunk-3", "3.3", "br-3", "14155550177"),
            agent,
            show("PJSIP/trunk-5", "5.5", "", "4155550177"),
        ];
        let queued = vec![ev(&[("Event", "QueueEntry"), ("Uniqueid", "5.5"), ("Queue", "sales")])];
        let out = t.resync(&channels, &queued, 50_000);
        let by = |l: &str| {
            out.iter()
                .filter(|e| e.vendor_call_id.as_deref() == Some(l))
                .filter_map(|e| e.status)
                .collect::<Vec<_>>()
        };
        assert_eq!(by("1.1"), vec![CallStatus::Abandoned]);
        assert_eq!(by("3.3"), vec![CallStatus::Answered]);
        assert_eq!(by("5.5"), vec![CallStatus::Ringing, CallStatus::Queued]);
        // A second identical resync changes nothing.
        assert!(t.resync(&channels, &queued, 60_000).is_empty());
    }
}
