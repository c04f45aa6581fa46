//! Screen state: one `Model`, changed only by `Msg`s (a Yew reducer), so every screen
//! reads one consistent picture.

use std::rc::Rc;

use switchboard_core::api::CallDetail;
use switchboard_core::desktop::{
    Boot, CallSummary, ConnectionState, ConsoleState, Session, UiEvent, requeue, settle_queue,
};
use switchboard_core::{Agent, CallRecord, CallStatus, Direction, PhoneNumber, TranscriptTurn};
use yew::Reducible;

/// Which page is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Console,
    History,
    Supervisor,
    Settings,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// Whether the first state read has come back (avoid flashing the sign-in form).
    pub loaded: bool,
    pub session: Option<Session>,
    pub connection: ConnectionState,
    pub outbox_pending: usize,
    pub outbox_failed: usize,
    pub page: Option<Page>,
    pub queue: Vec<CallSummary>,
    pub history: Vec<CallSummary>,
    pub history_search: String,
    pub numbers: Vec<PhoneNumber>,
    pub agents: Vec<Agent>,
    /// The call in the softphone (connected, on hold, or ended and awaiting wrap-up).
    pub active: Option<CallDetail>,
    /// A call picked in the history.
    pub selected: Option<CallDetail>,
    pub muted: bool,
    pub notice: Option<Notice>,
    /// A number a `tel:` link asked to call.
    pub dial_to: Option<String>,
    /// Meters of the call's audio, while joined.
    pub levels: Option<switchboard_core::desktop::AudioLevels>,
    /// The call's audio transport, for people ("connected", "reconnecting", ...).
    pub audio_state: Option<String>,
    /// The supervisor's board, as last fetched.
    pub floor: Option<Rc<switchboard_core::floor::Floor>>,
    /// Bumped by every change that can move the board: it refetches on a change, never on
    /// a timer.
    pub floor_epoch: u64,
    /// The call this supervisor is monitoring, and how.
    pub monitoring: Option<(switchboard_core::CallSid, switchboard_core::MonitorMode)>,
    /// Consults other agents ask this agent for, not yet picked up.
    pub consult_offers: Vec<CallRecord>,
    /// The last call changes seen (one per call, newest last), laid over a queue read from
    /// the backend that may have been read before them.
    pub recent_calls: Vec<CallSummary>,
}

/// How many recent call changes the model keeps: more than can happen while one queue
/// read is on its way.
const RECENT_CALLS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

pub enum Msg {
    State(ConsoleState),
    Event(UiEvent),
    Queue(Vec<CallSummary>),
    History(Vec<CallSummary>),
    Search(String),
    Numbers(Vec<PhoneNumber>),
    Agents(Vec<Agent>),
    /// Fresh detail of a call (active or selected, whichever it is).
    Detail(CallDetail),
    /// Make this call the softphone's.
    Activate(CallDetail),
    /// The agent saved the wrap-up: the softphone is free.
    WrapUpDone,
    Select(Option<CallDetail>),
    Page(Page),
    Muted(bool),
    Notice(Option<Notice>),
    SignedOut,
    Floor(Rc<switchboard_core::floor::Floor>),
    Monitoring(Option<(switchboard_core::CallSid, switchboard_core::MonitorMode)>),
}

impl Model {
    /// The first frame: what the shell read from the cache before the window opened, or
    /// an empty model that waits for the backend when there is none.
    pub fn first_frame(boot: Option<Boot>) -> Self {
        let mut m = Self::default();
        if let Some(b) = boot {
            m.set_state(b.state);
            m.queue = b.queue;
            m.history = b.history;
            m.numbers = b.numbers;
            m.agents = b.agents;
        }
        m
    }

    fn set_state(&mut self, s: ConsoleState) {
        self.loaded = true;
        self.session = s.session;
        // A state read before the last connection event may arrive after it.
        if s.connection.newer_than(&self.connection) {
            self.connection = s.connection;
        }
        self.outbox_pending = s.outbox_pending;
        self.outbox_failed = s.outbox_failed;
    }

    pub fn me(&self) -> Option<&Agent> {
        self.session.as_ref().map(|s| &s.agent)
    }

    pub fn page(&self) -> Page {
        self.page.unwrap_or(Page::Console)
    }

    /// Am I the agent a consult on this call is for (`picked_up`: and have I joined)?
    pub fn consulted(&self, c: &CallRecord, picked_up: bool) -> bool {
        let me = self.me().map(|a| a.id);
        c.consult.as_ref().is_some_and(|k| {
            k.target_agent().is_some()
                && k.target_agent() == me
                && (k.state != switchboard_core::ConsultState::Ringing) == picked_up
        })
    }

    /// Is this call one the softphone should take over? (Mine and live, or mine and
    /// just placed.)
    fn is_mine_live(&self, c: &CallRecord) -> bool {
        let mine = self.me().is_some_and(|me| c.agent_id == Some(me.id));
        let live = match c.direction {
            Direction::Inbound => matches!(c.status, CallStatus::Answered | CallStatus::OnHold),
            Direction::Outbound => !c.status.is_terminal(),
        };
        mine && live
    }
}

fn merge_call(list: &mut [CallSummary], changed: &CallSummary) {
    if let Some(s) = list.iter_mut().find(|s| s.call.call_sid == changed.call.call_sid) {
        *s = changed.clone();
    }
}

impl Reducible for Model {
    type Action = Msg;

    fn reduce(self: Rc<Self>, msg: Msg) -> Rc<Self> {
        let mut m = (*self).clone();
        match msg {
            Msg::State(s) => m.set_state(s),
            Msg::Event(ev) => match ev {
                UiEvent::Connection(c) => {
                    if c.newer_than(&m.connection) {
                        m.connection = c;
                    }
                }
                UiEvent::CallChanged(summary) => {
                    requeue(&mut m.queue, &summary);
                    merge_call(&mut m.history, &summary);
                    m.recent_calls.retain(|s| s.call.call_sid != summary.call.call_sid);
                    if m.recent_calls.len() == RECENT_CALLS {
                        m.recent_calls.remove(0);
                    }
                    m.recent_calls.push(summary.clone());
                    let call = summary.call;
                    m.floor_epoch += 1;
                    m.consult_offers.retain(|c| c.call_sid != call.call_sid);
                    if m.consulted(&call, false) {
                        m.consult_offers.push(call.clone());
                    }
                    if m.monitoring.as_ref().is_some_and(|(sid, _)| *sid == call.call_sid) && call.status.is_terminal()
                    {
                        m.monitoring = None;
                    }
                    let consulting = m.consulted(&call, true);
                    if let Some(a) = m.active.as_mut().filter(|a| a.call.call_sid == call.call_sid) {
                        a.call = call.clone();
                        // Handed to someone else (and not a consult I am in): the softphone
                        // is free again.
                        if m.me().is_some_and(|me| call.agent_id != Some(me.id)) && !consulting {
                            m.active = None;
                        }
                    } else if m.active.is_none() && m.is_mine_live(&call) {
                        m.active = Some(CallDetail {
                            call: call.clone(),
                            lead: None,
                            transcript: vec![],
                            history: vec![],
                        });
                    }
                    if let Some(s) = m.selected.as_mut().filter(|s| s.call.call_sid == call.call_sid) {
                        s.call = call;
                    }
                }
                UiEvent::TranscriptTurn(t) => {
                    for d in [m.active.as_mut(), m.selected.as_mut()].into_iter().flatten() {
                        push_turn(d, &t);
                    }
                }
                UiEvent::AgentChanged(a) => {
                    m.floor_epoch += 1;
                    if let Some(s) = m.session.as_mut().filter(|s| s.agent.id == a.id) {
                        s.agent = a.clone();
                    }
                    if let Some(x) = m.agents.iter_mut().find(|x| x.id == a.id) {
                        *x = a;
                    }
                }
                UiEvent::ActionFailed { message, .. } => {
                    m.notice = Some(Notice {
                        text: message,
                        error: true,
                    })
                }
                UiEvent::Outbox { pending, failed } => {
                    m.outbox_pending = pending;
                    m.outbox_failed = failed;
                }
                UiEvent::SignedOut { reason } => {
                    m.session = None;
                    m.active = None;
                    m.notice = Some(Notice {
                        text: reason,
                        error: false,
                    });
                }
                UiEvent::DialRequested { number } => {
                    m.dial_to = Some(number);
                    m.page = Some(Page::Console);
                }
                // The shell's notification; not sent to the page.
                UiEvent::IncomingCall { .. } => {}
                UiEvent::AudioLevels(l) => m.levels = Some(l),
                UiEvent::AudioState { state, .. } => {
                    if state == "closed" {
                        m.levels = None;
                        m.audio_state = None;
                    } else {
                        m.audio_state = Some(state);
                    }
                }
                UiEvent::AudioProblem { message } => {
                    m.notice = Some(Notice {
                        text: message,
                        error: true,
                    });
                }
                _ => {}
            },
            Msg::Queue(q) => m.queue = settle_queue(q, &m.recent_calls),
            Msg::History(h) => m.history = h,
            Msg::Search(s) => m.history_search = s,
            Msg::Numbers(n) => m.numbers = n,
            Msg::Agents(a) => m.agents = a,
            Msg::Detail(d) => {
                if let Some(a) = m.active.as_mut().filter(|a| a.call.call_sid == d.call.call_sid) {
                    refresh_detail(a, d.clone());
                }
                if let Some(s) = m.selected.as_mut().filter(|s| s.call.call_sid == d.call.call_sid) {
                    refresh_detail(s, d);
                }
            }
            Msg::Activate(d) => match m.active.as_mut().filter(|a| a.call.call_sid == d.call.call_sid) {
                Some(a) => refresh_detail(a, d),
                None => m.active = Some(d),
            },
            Msg::WrapUpDone => m.active = None,
            Msg::Select(d) => m.selected = d,
            Msg::Page(p) => m.page = Some(p),
            Msg::Muted(x) => m.muted = x,
            Msg::Notice(n) => m.notice = n,
            Msg::SignedOut => {
                m.session = None;
                m.active = None;
                m.selected = None;
                m.floor = None;
                m.monitoring = None;
                m.consult_offers.clear();
            }
            Msg::Floor(f) => m.floor = Some(f),
            Msg::Monitoring(x) => m.monitoring = x,
        }
        Rc::new(m)
    }
}

/// A fetched detail may be older than what the live stream already delivered: keep every
/// transcript turn either has, and the record only if it is not behind.
fn refresh_detail(current: &mut CallDetail, fresh: CallDetail) {
    let turns = std::mem::take(&mut current.transcript);
    let behind = fresh.call.status_at < current.call.status_at;
    let call = if behind { current.call.clone() } else { fresh.call };
    *current = CallDetail {
        call,
        lead: fresh.lead.or(current.lead.take()),
        transcript: fresh.transcript,
        history: fresh.history,
    };
    for t in &turns {
        push_turn(current, t);
    }
}

fn push_turn(d: &mut CallDetail, t: &TranscriptTurn) {
    if d.call.call_sid == t.call_sid && !d.transcript.iter().any(|x| x.sequence == t.sequence) {
        d.transcript.push(t.clone());
        d.transcript.sort_by_key(|x| x.sequence);
    }
}

/// "3:07" from milliseconds.
pub fn clock(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A local time's day of the month, month (0-11), hour and minute.
struct Local {
    day: u32,
    month: u32,
    hour: u32,
    minute: u32,
}

/// In the page, the browser's time zone.
#[cfg(target_arch = "wasm32")]
fn local(ms: i64) -> Local {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    Local {
        day: d.get_date(),
        month: d.get_month(),
        hour: d.get_hours(),
        minute: d.get_minutes(),
    }
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static UTC_OFFSET_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// The shell's prerender: the offset the shell read from the system, as the page would.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_utc_offset(ms: i64) {
    UTC_OFFSET_MS.with(|o| o.set(ms));
}

/// Natively (the shell's prerender), from the offset it set.
#[cfg(not(target_arch = "wasm32"))]
fn local(ms: i64) -> Local {
    const DAY_MS: i64 = 86_400_000;
    let t = ms + UTC_OFFSET_MS.with(std::cell::Cell::get);
    let (days, in_day) = (t.div_euclid(DAY_MS), t.rem_euclid(DAY_MS) / 60_000);
    // Days since 1970-01-01 to a civil date, counting in 400-year eras that start on
    // 1 March (so the leap day is each year's last).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 2 } else { mp - 10 };
    Local {
        day: day as u32,
        month: month as u32,
        hour: (in_day / 60) as u32,
        minute: (in_day % 60) as u32,
    }
}

/// "14:05" local time from epoch milliseconds.
pub fn time_of_day(ms: i64) -> String {
    let d = local(ms);
    format!("{:02}:{:02}", d.hour, d.minute)
}

/// "21 Nov 14:05".
pub fn date_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = local(ms);
    format!(
        "{} {} {:02}:{:02}",
        d.day,
        MONTHS[d.month as usize % 12],
        d.hour,
        d.minute
    )
}

/// "+1 415 555 0100" for display.
pub fn pretty_number(n: &str) -> String {
    match n.strip_prefix("+1") {
        Some(rest) if rest.len() == 10 => format!("+1 {} {} {}", &rest[..3], &rest[3..6], &rest[6..]),
        _ => n.to_owned(),
    }
}

pub fn status_label(s: CallStatus) -> &'static str {
    match s {
        CallStatus::Ringing => "Ringing",
        CallStatus::Queued => "Queued",
        CallStatus::Answered => "Connected",
        CallStatus::OnHold => "On hold",
        CallStatus::Transferred => "Transferred",
        CallStatus::Completed => "Completed",
        CallStatus::Missed => "Missed",
        CallStatus::Abandoned => "Abandoned",
        CallStatus::Failed => "Failed",
    }
}
