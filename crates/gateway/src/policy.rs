//! Call-handling policy, as pure functions: who may do what to a call in which state, what
//! answering and transferring assign, where a new inbound call goes, and how far back an
//! event without ids may match a call. The store loads the facts, asks here, and saves
//! the outcome; nothing in this module does I/O, and the time comes in as an argument.
//!
//! The routing model: a new inbound call is queued on the business's default queue with
//! its number and lead; no agent owns it until one answers (first to answer claims it).
//! A claimed call belongs to its agent; supervisors and admins may act on any call of
//! their business; any agent may decline (end) a ringing call nobody has claimed.

use switchboard_core::api::TransferTarget;
use switchboard_core::{
    AgentId, AgentRole, CallAction, CallMonitor, CallRecord, CallStatus, Consult, ConsultState, ConsultStep, LeadId,
    MonitorMode, NormalizedCallEvent, NumberId, ProviderCapabilities, ProviderId, QueueId, StreamEvent,
};

/// Who is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The agent.
    pub agent_id: AgentId,
    /// Their role.
    pub role: AgentRole,
}

impl From<&crate::store::Principal> for Actor {
    fn from(p: &crate::store::Principal) -> Self {
        Self {
            agent_id: p.agent_id,
            role: p.role,
        }
    }
}

/// Something an agent asks to do with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// A call control (answer, hold, ..., end).
    Control(CallAction),
    /// Join the call's audio from the desktop.
    JoinAudio,
    /// Save the disposition and notes.
    WrapUp,
}

/// Why an act is refused. Each maps to one HTTP status at the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Not in the call's current status (409).
    #[error("cannot {action} a call that is {status}")]
    WrongState {
        /// What was asked.
        action: CallAction,
        /// Where the call stands.
        status: CallStatus,
    },
    /// Someone else holds the call (409).
    #[error("{0}")]
    Taken(String),
    /// Not this agent's to act on (403).
    #[error("{0}")]
    NotYours(String),
    /// The request itself is wrong (422).
    #[error("{0}")]
    Invalid(String),
    /// The call's provider cannot do that (409): the desktop disables such controls, so
    /// this is a stale console or a direct API call.
    #[error("this call's provider does not support {0}")]
    Unsupported(&'static str),
    /// Not possible in the call's current situation (409), said in words.
    #[error("{0}")]
    NotNow(String),
}

/// What an allowed act changes on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant {
    /// The call now belongs to this agent (answering claims it).
    pub assign: Option<AgentId>,
}

/// The carrier refused an action that claimed the call (an answer): the claim is undone so
/// another agent can take the call. `Some(previous owner)` when the claim must be undone;
/// the store only undoes it if the call still belongs to `after`'s agent.
pub fn undo_claim(action: CallAction, before: &CallRecord, after: &CallRecord) -> Option<Option<AgentId>> {
    (action == CallAction::Answer && before.agent_id != after.agent_id).then_some(before.agent_id)
}

/// May this role watch the floor (every agent's calls and the queues' figures)?
pub fn watches_floor(role: AgentRole) -> bool {
    is_staff(role)
}

/// May this role change the business's settings?
pub fn administers(role: AgentRole) -> bool {
    role == AgentRole::Admin
}

/// What an agent may see of a call's monitors: whisper and barge always (they hear the
/// supervisor), listening only where the business announces it. Supervisors and admins
/// see everything.
pub fn visible_monitors(role: AgentRole, announce_listening: bool, call: &mut CallRecord) {
    if !is_staff(role) && !announce_listening {
        call.monitors.retain(|m| m.mode.heard_by_agent());
    }
}

/// The event as a recipient with `role` may see it, when that differs from the stored
/// one: without [`visible_monitors`]'s permission an agent must not learn of a supervisor
/// who only listens, neither from a call record (`data`, or `data.call`) nor from the
/// monitoring event itself, which an agent receives as the call update it amounts to.
pub fn redact_event(role: AgentRole, announce_listening: bool, ev: &StreamEvent) -> Option<StreamEvent> {
    use switchboard_core::StreamEventKind as K;
    if is_staff(role) || announce_listening {
        return None;
    }
    let call_at = match ev.kind {
        K::CallCreated | K::CallUpdated => "",
        K::CallAction | K::CallMonitor | K::CallConsult => "/call",
        _ => return None,
    };
    let record = ev.data.pointer(call_at)?;
    let covert = record.get("monitors").and_then(|m| m.as_array()).is_some_and(|m| {
        m.iter()
            .any(|m| m.get("mode").and_then(|v| v.as_str()) == Some("listen"))
    });
    if !covert && ev.kind != K::CallMonitor {
        return None;
    }
    let mut call: CallRecord = serde_json::from_value(record.clone()).ok()?;
    visible_monitors(role, announce_listening, &mut call);
    let call = serde_json::to_value(&call).ok()?;
    let mut out = ev.clone();
    if ev.kind == K::CallMonitor {
        out.kind = K::CallUpdated;
        out.data = call;
    } else if call_at.is_empty() {
        out.data = call;
    } else {
        out.data["call"] = call;
    }
    Some(out)
}

/// Whether an agent may see this line of a call's audit trail (see [`redact_event`]): a
/// supervisor's monitoring shows when the agent could hear them, before or after.
pub fn trail_visible(role: AgentRole, announce_listening: bool, ev: &StreamEvent) -> bool {
    if is_staff(role) || announce_listening || ev.kind != switchboard_core::StreamEventKind::CallMonitor {
        return true;
    }
    let audible = |k: &str| {
        ev.data
            .get(k)
            .and_then(|v| serde_json::from_value::<MonitorMode>(v.clone()).ok())
            .is_some_and(MonitorMode::heard_by_agent)
    };
    audible("mode") || audible("was")
}

fn is_staff(role: AgentRole) -> bool {
    role != AgentRole::Agent
}

/// Does the call's provider support `action` (as recorded when the call started)? Calls
/// recorded before providers reported capabilities allow everything, as before.
fn supported(action: CallAction, caps: Option<ProviderCapabilities>) -> Result<(), Denied> {
    let Some(c) = caps else { return Ok(()) };
    let (ok, what) = match action {
        CallAction::Hold | CallAction::Resume => (c.hold, "hold"),
        CallAction::Transfer => (c.transfer_to_agent || c.transfer_to_number, "transfer"),
        CallAction::Dtmf => (c.dtmf, "DTMF"),
        CallAction::Recording => (c.recording, "recording"),
        CallAction::Answer | CallAction::End => (true, ""),
    };
    if ok { Ok(()) } else { Err(Denied::Unsupported(what)) }
}

/// May `actor` do `act` to `call`? The one place actions are authorised.
pub fn authorize(actor: Actor, act: Act, call: &CallRecord) -> Result<Grant, Denied> {
    let mine = call.agent_id.is_none_or(|a| a == actor.agent_id);
    match act {
        Act::Control(action) => {
            // What the provider can never do is the clearer answer, whatever the state.
            supported(action, call.capabilities)?;
            if !action.allowed_in(call.status) {
                return Err(Denied::WrongState {
                    action,
                    status: call.status,
                });
            }
            match action {
                CallAction::Answer if !mine => Err(Denied::Taken("another agent is handling this call".into())),
                CallAction::Answer => Ok(Grant {
                    assign: Some(actor.agent_id),
                }),
                // A ringing call nobody has claimed may be declined by any agent (`mine`
                // holds when nobody has it).
                _ if !mine && !is_staff(actor.role) => {
                    Err(Denied::NotYours("this call belongs to another agent".into()))
                }
                _ => Ok(Grant::default()),
            }
        }
        Act::JoinAudio => {
            if call.status.is_terminal() {
                return Err(Denied::Taken(format!("the call is over ({})", call.status)));
            }
            // The audio is the agent's own; a supervisor joins through monitoring and a
            // consulted agent once they accepted, each with a session of their own.
            let monitoring = call.monitors.iter().any(|m| m.agent_id == actor.agent_id);
            let consulted = call
                .consult
                .as_ref()
                .is_some_and(|c| c.target_agent() == Some(actor.agent_id) && c.state != ConsultState::Ringing);
            if call.agent_id != Some(actor.agent_id) && !monitoring && !consulted {
                return Err(Denied::Taken(
                    "only the agent holding this call can join its audio".into(),
                ));
            }
            Ok(Grant::default())
        }
        Act::WrapUp => {
            if !mine && !is_staff(actor.role) {
                return Err(Denied::NotYours("this call belongs to another agent".into()));
            }
            Ok(Grant::default())
        }
    }
}

/// A supervisor's request about monitoring a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorChange {
    /// Join in this mode.
    Start(MonitorMode),
    /// Change mode without leaving.
    Switch(MonitorMode),
    /// Leave.
    Stop,
}

/// May `actor` (named `name`) make `change` to the monitors of `call`, and what are the
/// call's monitors afterwards? Supervisors and admins of the business only, on a connected
/// call that is not their own, one session each.
pub fn monitor(
    actor: Actor,
    name: &str,
    call: &CallRecord,
    change: MonitorChange,
    now: i64,
) -> Result<Vec<CallMonitor>, Denied> {
    if !is_staff(actor.role) {
        return Err(Denied::NotYours("only supervisors and admins can monitor calls".into()));
    }
    if call.capabilities.is_some_and(|c| !c.monitor) {
        return Err(Denied::Unsupported("monitoring"));
    }
    let mut monitors = call.monitors.clone();
    let mine = monitors.iter().position(|m| m.agent_id == actor.agent_id);
    match (change, mine) {
        (MonitorChange::Start(_), Some(_)) => Err(Denied::NotNow(
            "you are already monitoring this call: switch the mode or leave".into(),
        )),
        (MonitorChange::Start(mode), None) => {
            if !matches!(call.status, CallStatus::Answered | CallStatus::OnHold) {
                return Err(Denied::NotNow(format!(
                    "only a connected call can be monitored; this one is {}",
                    call.status
                )));
            }
            if call.agent_id == Some(actor.agent_id) {
                return Err(Denied::Invalid("you cannot monitor your own call".into()));
            }
            monitors.push(CallMonitor {
                agent_id: actor.agent_id,
                name: name.to_owned(),
                mode,
                since: now,
            });
            Ok(monitors)
        }
        (MonitorChange::Switch(_) | MonitorChange::Stop, None) => {
            Err(Denied::NotNow("you are not monitoring this call".into()))
        }
        (MonitorChange::Switch(mode), Some(i)) => {
            if call.status.is_terminal() {
                return Err(Denied::NotNow(format!("the call is over ({})", call.status)));
            }
            monitors[i].mode = mode;
            Ok(monitors)
        }
        (MonitorChange::Stop, Some(i)) => {
            monitors.remove(i);
            Ok(monitors)
        }
    }
}

/// What a consult step does to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultOutcome {
    /// The consult afterwards (`None` once completed or cancelled).
    pub consult: Option<Consult>,
    /// The call now belongs to this agent (a completed consult with an agent).
    pub assign: Option<AgentId>,
    /// The call leaves for this number (a completed consult with a number).
    pub transfer_to: Option<String>,
}

/// May `actor` take `step` of an attended transfer on `call`, and what follows? `target` is
/// the consulted party for `Start` (with `target_in_business` as for a transfer).
pub fn consult(
    actor: Actor,
    call: &CallRecord,
    step: ConsultStep,
    target: Option<&TransferTarget>,
    target_in_business: bool,
    now: i64,
) -> Result<ConsultOutcome, Denied> {
    if call.capabilities.is_some_and(|c| !c.warm_transfer) {
        return Err(Denied::Unsupported("attended transfer"));
    }
    let holder = call.agent_id == Some(actor.agent_id) || (call.agent_id.is_some() && is_staff(actor.role));
    let unchanged = |consult: Consult| ConsultOutcome {
        consult: Some(consult),
        assign: None,
        transfer_to: None,
    };
    if call.status.is_terminal() {
        return Err(Denied::NotNow(format!("the call is over ({})", call.status)));
    }
    match (step, call.consult.clone()) {
        (ConsultStep::Start, Some(_)) => Err(Denied::NotNow(
            "a consult is already in progress: complete or cancel it first".into(),
        )),
        (ConsultStep::Start, None) => {
            if !holder {
                return Err(Denied::NotYours("this call belongs to another agent".into()));
            }
            if call.status != CallStatus::Answered {
                return Err(Denied::NotNow(format!(
                    "a consult starts from a connected call; this one is {}",
                    call.status
                )));
            }
            let target = target.ok_or_else(|| Denied::Invalid("a consult needs a target (to)".into()))?;
            check_transfer(actor, call, target, target_in_business)?;
            if let TransferTarget::Agent(a) = target {
                if call.agent_id == Some(*a) {
                    return Err(Denied::Invalid("the agent on the call cannot be consulted".into()));
                }
            }
            // A number is dialled at once (the agent hears it ring); an agent accepts first.
            let state = match target {
                TransferTarget::Agent(_) => ConsultState::Ringing,
                TransferTarget::Number(_) => ConsultState::Talking,
            };
            Ok(unchanged(Consult {
                by: call.agent_id.unwrap_or(actor.agent_id),
                to: target.to_stored(),
                state,
                since: now,
            }))
        }
        (_, None) => Err(Denied::NotNow("there is no consult in progress on this call".into())),
        (ConsultStep::Accept, Some(c)) => {
            if c.target_agent() != Some(actor.agent_id) {
                return Err(Denied::NotYours("this consult is for another agent".into()));
            }
            if c.state != ConsultState::Ringing {
                return Err(Denied::NotNow("this consult was already accepted".into()));
            }
            Ok(unchanged(Consult {
                state: ConsultState::Talking,
                since: now,
                ..c
            }))
        }
        (ConsultStep::Cancel, Some(c)) => {
            // The consulted agent may decline or hang up their side too.
            if !holder && c.target_agent() != Some(actor.agent_id) {
                return Err(Denied::NotYours("this call belongs to another agent".into()));
            }
            Ok(ConsultOutcome {
                consult: None,
                assign: None,
                transfer_to: None,
            })
        }
        (_, Some(_)) if !holder => Err(Denied::NotYours("this call belongs to another agent".into())),
        (ConsultStep::Conference, Some(c)) => match c.state {
            ConsultState::Talking => Ok(unchanged(Consult {
                state: ConsultState::Conference,
                since: now,
                ..c
            })),
            ConsultState::Conference => Err(Denied::NotNow("the call is already a conference".into())),
            ConsultState::Ringing => Err(Denied::NotNow("the consulted agent has not picked up yet".into())),
        },
        (ConsultStep::Complete, Some(c)) => {
            if c.state == ConsultState::Ringing {
                return Err(Denied::NotNow("the consulted agent has not picked up yet".into()));
            }
            Ok(ConsultOutcome {
                consult: None,
                assign: c.target_agent(),
                transfer_to: c.target_agent().is_none().then(|| c.to.clone()),
            })
        }
    }
}

/// Check a transfer target for `call`. `target_in_business` says whether an agent target
/// is an agent of the caller's business (the store looks it up).
pub fn check_transfer(
    actor: Actor,
    call: &CallRecord,
    target: &TransferTarget,
    target_in_business: bool,
) -> Result<(), Denied> {
    if let Some(c) = call.capabilities {
        match target {
            TransferTarget::Agent(_) if !c.transfer_to_agent => {
                return Err(Denied::Unsupported("transfer to an agent"));
            }
            TransferTarget::Number(_) if !c.transfer_to_number => {
                return Err(Denied::Unsupported("transfer to a number"));
            }
            _ => {}
        }
    }
    if let TransferTarget::Agent(agent) = target {
        if !target_in_business {
            return Err(Denied::Invalid(format!("there is no agent {agent} to transfer to")));
        }
        if *agent == actor.agent_id {
            return Err(Denied::Invalid(
                "a call cannot be transferred to the agent already on it".into(),
            ));
        }
    }
    Ok(())
}

/// Who holds a call once its transfer completed: the target agent of a transfer to an
/// agent; for a transfer to a number the call left us, and stays with the agent who sent
/// it (their history). The gateway decides this, never the provider.
pub fn holder_after_transfer(call: &CallRecord) -> Option<AgentId> {
    match call.transfer_to.as_deref().and_then(TransferTarget::from_stored) {
        Some(TransferTarget::Agent(a)) => Some(a),
        _ => call.agent_id,
    }
}

/// A queue as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFacts {
    /// Id.
    pub id: QueueId,
    /// The business's default queue.
    pub is_default: bool,
}

/// Where a new inbound call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Routing {
    /// The business number it rang.
    pub number: Option<NumberId>,
    /// The lead who called.
    pub lead: Option<LeadId>,
    /// The queue it waits in.
    pub queue: Option<QueueId>,
}

/// Route a new inbound call: the number it rang and the lead whose phone called, as the
/// store found them, and the default queue (else the oldest) of the business.
pub fn route_inbound(number: Option<NumberId>, lead: Option<LeadId>, queues: &[QueueFacts]) -> Routing {
    let queue = queues
        .iter()
        .filter(|q| q.is_default)
        .min_by_key(|q| q.id.get())
        .or_else(|| queues.iter().min_by_key(|q| q.id.get()))
        .map(|q| q.id);
    Routing { number, lead, queue }
}

/// How far back an event that names no call by id may look for an in-progress call on
/// the same service number (providers that report a leg before its id is known).
pub const FALLBACK_WINDOW_MS: i64 = 4 * 60 * 60 * 1000;

/// The earliest creation time such an event may match. An event dated in the future (a
/// skewed clock) counts from now, so it cannot widen the window.
pub fn fallback_since(occurred_at: i64, now: i64) -> i64 {
    occurred_at.min(now).saturating_sub(FALLBACK_WINDOW_MS)
}

/// Whether the provider that sent `ev` takes over the control of `before` (its actions
/// and its capabilities). A carrier and a voice platform can both report one call (seed
/// 000: Twilio's status callbacks and LiveKit SIP's room); the call's audio, and so
/// answering, hold and hang-up, is where the voice platform has it. The platform's
/// provider takes the call the first time it brings its id; the carrier keeps reporting
/// into the same record.
pub fn takes_over(before: &CallRecord, ev: &NormalizedCallEvent, sender: ProviderId) -> bool {
    before.provider_id != Some(sender)
        && before.voice_platform_call_id.is_none()
        && ev.voice_platform.is_some()
        && ev.voice_platform_call_id.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::{BusinessId, CallSid, Direction, NormalizedCallEvent};

    fn id<T: TryFrom<i64>>(n: i64) -> T
    where
        T::Error: std::fmt::Debug,
    {
        T::try_from(n).unwrap()
    }

    fn call(status: CallStatus, agent: Option<i64>) -> CallRecord {
        let ev = NormalizedCallEvent {
            from: Some("+14155550100".into()),
            to: Some("+14155550199".into()),
            direction: Some(Direction::Inbound),
            status: Some(CallStatus::Ringing),
            ..NormalizedCallEvent::new("e1", 1_000)
        };
        let mut c = CallRecord::inbound(CallSid::from_parts(1, 1), id::<BusinessId>(1), &ev).unwrap();
        c.status = status;
        c.agent_id = agent.map(id);
        c
    }

    fn agent(n: i64) -> Actor {
        Actor {
            agent_id: id(n),
            role: AgentRole::Agent,
        }
    }

    fn supervisor(n: i64) -> Actor {
        Actor {
            agent_id: id(n),
            role: AgentRole::Supervisor,
        }
    }

    #[test]
    fn monitoring_is_for_staff_on_connected_calls_one_session_each() {
        let c = call(CallStatus::Answered, Some(1));
        let start = MonitorChange::Start(MonitorMode::Listen);
        assert!(matches!(
            monitor(agent(2), "Bob", &c, start, 5),
            Err(Denied::NotYours(_))
        ));
        assert!(matches!(
            monitor(supervisor(3), "Sam", &call(CallStatus::Queued, None), start, 5),
            Err(Denied::NotNow(_))
        ));
        assert!(matches!(
            monitor(supervisor(1), "Sam", &c, start, 5),
            Err(Denied::Invalid(_))
        ));
        let mut on = c.clone();
        on.monitors = monitor(supervisor(3), "Sam", &c, start, 5).unwrap();
        assert_eq!((on.monitors[0].mode, on.monitors[0].since), (MonitorMode::Listen, 5));
        assert!(matches!(
            monitor(supervisor(3), "Sam", &on, start, 6),
            Err(Denied::NotNow(_))
        ));
        // A second supervisor joins beside the first; a switch changes only their own mode.
        on.monitors = monitor(supervisor(4), "Sue", &on, MonitorChange::Start(MonitorMode::Whisper), 6).unwrap();
        on.monitors = monitor(supervisor(3), "Sam", &on, MonitorChange::Switch(MonitorMode::Barge), 7).unwrap();
        let modes: Vec<_> = on.monitors.iter().map(|m| m.mode).collect();
        assert_eq!(modes, [MonitorMode::Barge, MonitorMode::Whisper]);
        assert_eq!(
            monitor(supervisor(3), "Sam", &on, MonitorChange::Stop, 8)
                .unwrap()
                .len(),
            1
        );
        let mut no_monitor = c.clone();
        no_monitor.capabilities = Some(ProviderCapabilities::default());
        assert!(matches!(
            monitor(supervisor(3), "Sam", &no_monitor, start, 5),
            Err(Denied::Unsupported(_))
        ));
    }

    #[test]
    fn listening_is_hidden_from_agents_unless_announced() {
        let mut c = call(CallStatus::Answered, Some(1));
        c.monitors = monitor(supervisor(3), "Sam", &c, MonitorChange::Start(MonitorMode::Listen), 5).unwrap();
        let ev = StreamEvent {
            id: 1,
            kind: switchboard_core::StreamEventKind::CallMonitor,
            call_sid: Some(c.call_sid.clone()),
            at: 5,
            data: serde_json::json!({ "agent_id": 3, "name": "Sam", "change": "start", "mode": "listen", "was": null,
                                      "call": c }),
        };
        let seen = redact_event(AgentRole::Agent, false, &ev).expect("redacted for an agent");
        assert_eq!(seen.kind, switchboard_core::StreamEventKind::CallUpdated);
        assert_eq!(seen.data["monitors"], serde_json::Value::Null, "{}", seen.data);
        assert!(!trail_visible(AgentRole::Agent, false, &ev));
        // Staff, or a business that announces listening, see it as stored.
        assert!(redact_event(AgentRole::Supervisor, false, &ev).is_none());
        assert!(redact_event(AgentRole::Agent, true, &ev).is_none());
        assert!(trail_visible(AgentRole::Agent, true, &ev));
        // A whisper the agent hears is never hidden.
        let mut whisper = ev.clone();
        whisper.data["mode"] = serde_json::json!("whisper");
        whisper.data["call"]["monitors"][0]["mode"] = serde_json::json!("whisper");
        assert!(trail_visible(AgentRole::Agent, false, &whisper));
        let seen = redact_event(AgentRole::Agent, false, &whisper).expect("as a call update");
        assert_eq!(seen.data["monitors"][0]["mode"], "whisper");
    }

    #[test]
    fn an_attended_transfer_goes_step_by_step() {
        let c = call(CallStatus::Answered, Some(1));
        let bob = TransferTarget::Agent(id(2));
        let start = |c: &CallRecord, who| consult(who, c, ConsultStep::Start, Some(&bob), true, 10);
        assert!(matches!(start(&c, agent(2)), Err(Denied::NotYours(_))));
        assert!(matches!(
            start(&call(CallStatus::OnHold, Some(1)), agent(1)),
            Err(Denied::NotNow(_))
        ));
        let mut on = c.clone();
        on.consult = start(&c, agent(1)).unwrap().consult;
        assert_eq!(on.consult.as_ref().unwrap().state, ConsultState::Ringing);
        assert!(matches!(start(&on, agent(1)), Err(Denied::NotNow(_))));
        // Only the consulted agent picks up, and nothing completes before that.
        let step = |c: &CallRecord, who, s| consult(who, c, s, None, false, 11);
        assert!(matches!(
            step(&on, agent(1), ConsultStep::Accept),
            Err(Denied::NotYours(_))
        ));
        assert!(matches!(
            step(&on, agent(1), ConsultStep::Complete),
            Err(Denied::NotNow(_))
        ));
        on.consult = step(&on, agent(2), ConsultStep::Accept).unwrap().consult;
        assert!(matches!(
            step(&on, agent(2), ConsultStep::Complete),
            Err(Denied::NotYours(_))
        ));
        on.consult = step(&on, agent(1), ConsultStep::Conference).unwrap().consult;
        assert_eq!(on.consult.as_ref().unwrap().state, ConsultState::Conference);
        let done = step(&on, agent(1), ConsultStep::Complete).unwrap();
        assert_eq!((done.consult, done.assign, done.transfer_to), (None, Some(id(2)), None));
        // A number is talking at once; completing sends the call there.
        let number = TransferTarget::Number("+14155550123".parse().unwrap());
        let mut out = c.clone();
        out.consult = consult(agent(1), &c, ConsultStep::Start, Some(&number), false, 10)
            .unwrap()
            .consult;
        let done = step(&out, agent(1), ConsultStep::Complete).unwrap();
        assert_eq!(done.transfer_to.as_deref(), Some("+14155550123"));
        // The consulted agent may decline.
        assert!(step(&on, agent(2), ConsultStep::Cancel).unwrap().consult.is_none());
        assert!(matches!(
            step(&on, agent(3), ConsultStep::Cancel),
            Err(Denied::NotYours(_))
        ));
    }

    #[test]
    fn a_refused_answer_gives_the_call_back() {
        let before = call(CallStatus::Ringing, None);
        let mut after = before.clone();
        let g = authorize(agent(1), Act::Control(CallAction::Answer), &before).unwrap();
        after.agent_id = g.assign;
        assert_eq!(undo_claim(CallAction::Answer, &before, &after), Some(None));
        // An answer by the agent it was already routed to, or another action, changes no owner.
        let routed = call(CallStatus::Ringing, Some(1));
        assert_eq!(undo_claim(CallAction::Answer, &routed, &routed), None);
        assert_eq!(undo_claim(CallAction::Hold, &before, &after), None);
    }

    #[test]
    fn answering_claims_an_unclaimed_call_and_nobody_else_can() {
        let ringing = call(CallStatus::Ringing, None);
        let g = authorize(agent(1), Act::Control(CallAction::Answer), &ringing).unwrap();
        assert_eq!(g.assign, Some(id(1)));
        let taken = call(CallStatus::Ringing, Some(2));
        assert!(matches!(
            authorize(agent(1), Act::Control(CallAction::Answer), &taken),
            Err(Denied::Taken(_))
        ));
        // Not even a supervisor answers a call another agent holds.
        assert!(authorize(supervisor(3), Act::Control(CallAction::Answer), &taken).is_err());
    }

    #[test]
    fn the_state_table_comes_first() {
        let done = call(CallStatus::Completed, Some(1));
        for action in [CallAction::Hold, CallAction::End, CallAction::Answer, CallAction::Dtmf] {
            assert_eq!(
                authorize(agent(1), Act::Control(action), &done),
                Err(Denied::WrongState {
                    action,
                    status: CallStatus::Completed
                })
            );
        }
        let answered = call(CallStatus::Answered, Some(1));
        assert!(authorize(agent(1), Act::Control(CallAction::Resume), &answered).is_err());
        assert!(authorize(agent(1), Act::Control(CallAction::Hold), &answered).is_ok());
    }

    #[test]
    fn another_agents_call_is_off_limits_to_agents_but_not_to_staff() {
        let theirs = call(CallStatus::Answered, Some(2));
        assert!(matches!(
            authorize(agent(1), Act::Control(CallAction::Hold), &theirs),
            Err(Denied::NotYours(_))
        ));
        assert!(authorize(supervisor(3), Act::Control(CallAction::End), &theirs).is_ok());
        assert!(matches!(
            authorize(agent(1), Act::WrapUp, &theirs),
            Err(Denied::NotYours(_))
        ));
        assert!(authorize(supervisor(3), Act::WrapUp, &theirs).is_ok());
    }

    #[test]
    fn any_agent_may_decline_an_unclaimed_ringing_call() {
        let ringing = call(CallStatus::Ringing, None);
        assert_eq!(
            authorize(agent(5), Act::Control(CallAction::End), &ringing),
            Ok(Grant::default())
        );
    }

    #[test]
    fn only_the_holding_agent_joins_the_audio_of_a_live_call() {
        let mine = call(CallStatus::Answered, Some(1));
        assert!(authorize(agent(1), Act::JoinAudio, &mine).is_ok());
        assert!(authorize(agent(2), Act::JoinAudio, &mine).is_err());
        assert!(authorize(supervisor(3), Act::JoinAudio, &mine).is_err());
        let unclaimed = call(CallStatus::Ringing, None);
        assert!(authorize(agent(1), Act::JoinAudio, &unclaimed).is_err());
        let over = call(CallStatus::Completed, Some(1));
        assert!(authorize(agent(1), Act::JoinAudio, &over).is_err());
    }

    #[test]
    fn transfers_go_to_another_agent_of_the_business_or_a_number() {
        let c = call(CallStatus::Answered, Some(1));
        let to = |n: i64| TransferTarget::Agent(id(n));
        assert!(check_transfer(agent(1), &c, &to(2), true).is_ok());
        assert!(matches!(
            check_transfer(agent(1), &c, &to(2), false),
            Err(Denied::Invalid(_))
        ));
        assert!(matches!(
            check_transfer(agent(1), &c, &to(1), true),
            Err(Denied::Invalid(_))
        ));
        let number = TransferTarget::Number("+14155550777".parse().unwrap());
        assert!(check_transfer(agent(1), &c, &number, false).is_ok());
    }

    #[test]
    fn what_the_calls_provider_lacks_is_refused_before_anything_is_logged() {
        let mut c = call(CallStatus::Answered, Some(1));
        c.capabilities = Some(ProviderCapabilities {
            inbound: true,
            outbound: true,
            transfer_to_number: true,
            ..ProviderCapabilities::default()
        });
        for action in [CallAction::Hold, CallAction::Dtmf, CallAction::Recording] {
            assert!(matches!(
                authorize(agent(1), Act::Control(action), &c),
                Err(Denied::Unsupported(_))
            ));
        }
        assert!(authorize(agent(1), Act::Control(CallAction::End), &c).is_ok());
        assert!(authorize(agent(1), Act::Control(CallAction::Transfer), &c).is_ok());
        // Said so whatever the call's state, even before it is connected.
        c.status = CallStatus::Ringing;
        assert_eq!(
            authorize(agent(1), Act::Control(CallAction::Hold), &c),
            Err(Denied::Unsupported("hold"))
        );
        c.status = CallStatus::Answered;
        let number = TransferTarget::Number("+14155550777".parse().unwrap());
        assert!(check_transfer(agent(1), &c, &number, false).is_ok());
        assert_eq!(
            check_transfer(agent(1), &c, &TransferTarget::Agent(id(2)), true),
            Err(Denied::Unsupported("transfer to an agent"))
        );
        // A call recorded before capabilities were: everything, as before.
        c.capabilities = None;
        assert!(authorize(agent(1), Act::Control(CallAction::Hold), &c).is_ok());
    }

    #[test]
    fn a_completed_transfer_hands_the_call_to_the_target_agent_only() {
        let mut c = call(CallStatus::Transferred, Some(1));
        c.transfer_to = Some(TransferTarget::Agent(id(7)).to_stored());
        assert_eq!(holder_after_transfer(&c), Some(id(7)));
        c.transfer_to = Some(TransferTarget::Number("+14155550777".parse().unwrap()).to_stored());
        assert_eq!(holder_after_transfer(&c), Some(id(1)));
        c.transfer_to = None;
        assert_eq!(holder_after_transfer(&c), Some(id(1)));
    }

    #[test]
    fn inbound_calls_wait_in_the_default_queue() {
        let q = |n: i64, d: bool| QueueFacts {
            id: id(n),
            is_default: d,
        };
        let r = route_inbound(Some(id(4)), None, &[q(1, false), q(2, true), q(3, true)]);
        assert_eq!(r.queue, Some(id(2)));
        assert_eq!(r.number, Some(id(4)));
        assert_eq!(
            route_inbound(None, None, &[q(9, false), q(5, false)]).queue,
            Some(id(5))
        );
        assert_eq!(route_inbound(None, None, &[]).queue, None);
    }

    #[test]
    fn the_voice_platform_takes_a_carriers_call_once_with_its_first_id() {
        let (twilio, livekit) = (id::<ProviderId>(1), id::<ProviderId>(2));
        let mut rec = call(CallStatus::Ringing, None);
        rec.provider_id = Some(twilio);
        let joined = NormalizedCallEvent {
            voice_platform: Some(switchboard_core::VoicePlatform::LiveKit),
            voice_platform_call_id: Some("SCL_1".into()),
            ..NormalizedCallEvent::new("lk1", 2_000)
        };
        assert!(takes_over(&rec, &joined, livekit));
        // The carrier's own later reports do not take it back...
        let status = NormalizedCallEvent::new("tw2", 3_000);
        assert!(!takes_over(&rec, &status, twilio));
        // ...nor does a platform whose id the call already has (or its own events).
        rec.voice_platform_call_id = Some("SCL_1".into());
        assert!(!takes_over(&rec, &joined, id(3)));
        rec.voice_platform_call_id = None;
        assert!(!takes_over(&rec, &joined, twilio));
    }

    #[test]
    fn the_fallback_window_counts_from_the_earlier_of_event_and_clock() {
        let now = 10 * FALLBACK_WINDOW_MS;
        assert_eq!(fallback_since(now - 1_000, now), now - 1_000 - FALLBACK_WINDOW_MS);
        // An event from the future cannot reach further back than now allows.
        assert_eq!(fallback_since(now + 1_000_000, now), now - FALLBACK_WINDOW_MS);
        // Nor overflow at the edge of time.
        assert_eq!(fallback_since(i64::MIN, now), i64::MIN);
    }
}
