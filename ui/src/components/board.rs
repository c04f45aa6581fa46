//! The supervisor's board: queue cards with service levels, agent tiles, the live calls,
//! and listening, whispering or barging into one of them. The board refetches the floor
//! when the event stream reports a change (never on a timer); timers tick locally.

use std::cell::Cell;
use std::rc::Rc;

use switchboard_core::floor::{Floor, FloorAgent, FloorCall, QueueFigures};
use switchboard_core::{AgentStatus, CallSid, Direction, MonitorMode};
use yew::prelude::*;

use super::softphone::Meter;
use super::{run, use_ctx, use_now};
use crate::ipc;
use crate::state::{Msg, clock, pretty_number};

const MODES: [(MonitorMode, &str, &str); 3] = [
    (MonitorMode::Listen, "Listen", "Hear the call; nobody hears you"),
    (
        MonitorMode::Whisper,
        "Whisper",
        "Coach the agent; the caller does not hear you",
    ),
    (MonitorMode::Barge, "Barge", "Join the conversation: everyone hears you"),
];

/// Seconds since the floor was computed, to keep its figures ticking.
fn since(floor: &Floor, now: i64) -> i64 {
    ((now - floor.at) / 1000).max(0)
}

fn status_label(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Available => "Available",
        AgentStatus::Busy => "Busy",
        AgentStatus::WrapUp => "Wrap-up",
        AgentStatus::Away => "Away",
        _ => "Offline",
    }
}

#[function_component]
pub fn Board() -> Html {
    let ctx = use_ctx();
    let now = use_now();
    // One fetch at a time; a change during a fetch asks for one more after it.
    let busy: Rc<(Cell<bool>, Cell<bool>)> = use_memo((), |_| (Cell::new(false), Cell::new(false)));
    {
        let (ctx, busy) = (ctx.clone(), busy.clone());
        use_effect_with((ctx.floor_epoch, ctx.connection.online), move |_| {
            fetch(ctx, busy);
        });
    }
    let Some(floor) = ctx.floor.clone() else {
        return html! { <section class="panel board" id="board"><div class="empty">{"Loading the floor…"}</div></section> };
    };
    let tick = since(&floor, now);
    let names = |id| {
        floor
            .agents
            .iter()
            .find(|a| Some(a.id) == id)
            .map(|a| a.display_name.clone())
    };
    html! {
        <div class="board" id="board">
            <section class="queues">
                { for floor.queues.iter().map(|q| queue_card(q, tick)) }
            </section>
            <div class="board-main">
                <section class="panel agents-panel">
                    <div class="panel-head"><h2>{"Agents"}</h2><span class="count">{ floor.agents.len() }</span></div>
                    <div class="agent-tiles">
                        { for floor.agents.iter().map(|a| agent_tile(a, tick)) }
                    </div>
                </section>
                <section class="panel live-calls">
                    <div class="panel-head"><h2>{"Live calls"}</h2><span class="count">{ floor.calls.len() }</span></div>
                    if floor.calls.is_empty() {
                        <div class="empty">{"No calls right now."}</div>
                    }
                    <ul class="call-rows">
                        { for floor.calls.iter().map(|c| html! { <LiveCall call={c.clone()} agent={names(c.agent_id)} tick={tick} /> }) }
                    </ul>
                    if let Some((sid, mode)) = ctx.monitoring.clone() {
                        <div class="monitor-panel" id="monitor-panel" data-mode={mode.as_str()}>
                            <div class="monitor-what">
                                <strong>{ match mode {
                                    MonitorMode::Listen => "Listening",
                                    MonitorMode::Whisper => "Whispering",
                                    MonitorMode::Barge => "In the call",
                                } }</strong>
                                <span class="muted">{ floor.calls.iter().find(|c| c.call_sid == sid).map(|c| format!(" · {}{}",
                                    c.lead_name.clone().unwrap_or_else(|| pretty_number(&c.customer)),
                                    names(c.agent_id).map(|n| format!(" with {n}")).unwrap_or_default())).unwrap_or_default() }</span>
                            </div>
                            <Meter id="sup-meter-mic" label="Mic" dbfs={ctx.levels.map(|l| l.input.rms_dbfs)} />
                            <Meter id="sup-meter-speaker" label="Speaker" dbfs={ctx.levels.map(|l| l.output.rms_dbfs)} />
                        </div>
                    }
                </section>
            </div>
        </div>
    }
}

fn fetch(ctx: super::Ctx, busy: Rc<(Cell<bool>, Cell<bool>)>) {
    if busy.0.replace(true) {
        busy.1.set(true);
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        loop {
            busy.1.set(false);
            if let Ok(f) = ipc::floor().await {
                ctx.dispatch(Msg::Floor(Rc::new(f)));
            }
            if !busy.1.get() {
                break;
            }
        }
        busy.0.set(false);
    });
}

fn queue_card(q: &QueueFigures, tick: i64) -> Html {
    let level = q
        .service_level_pct
        .map_or_else(|| "–".to_owned(), |p| format!("{p:.0}%"));
    let longest = q.longest_wait_secs.map(|w| w + tick);
    let over = q.below_target || longest.is_some_and(|w| w > q.target_secs);
    html! {
        <div class={classes!("panel", "queue-card", over.then_some("over"))} id={format!("queue-card-{}", q.id)} data-waiting={q.waiting.to_string()}>
            <div class="queue-name">{ q.name.clone() }</div>
            <div class="figures">
                <div><span class="big">{ q.waiting }</span><span class="label">{"waiting"}</span></div>
                <div><span class="big">{ longest.map_or_else(|| "–".to_owned(), |w| clock(w * 1000)) }</span><span class="label">{"longest wait"}</span></div>
                <div class="sl"><span class="big">{ level }</span><span class="label">{ format!("answered in {} s", q.target_secs) }</span></div>
            </div>
            <div class="sub">
                { format!("Today: {} offered · {} answered · {} abandoned", q.offered, q.answered, q.abandoned) }
                { q.average_speed_of_answer_secs.map(|a| format!(" · ASA {a:.0} s")).unwrap_or_default() }
            </div>
        </div>
    }
}

fn agent_tile(a: &FloorAgent, tick: i64) -> Html {
    html! {
        <div class={classes!("agent-tile", format!("st-{}", a.status.as_str()))} id={format!("agent-tile-{}", a.name)}>
            <div class="tile-head">
                <span class="tile-name">{ a.display_name.clone() }</span>
                <span class="tile-status">{ format!("{} · {}", status_label(a.status), clock((a.status_secs + tick) * 1000)) }</span>
            </div>
            if let Some(c) = &a.call {
                <div class="tile-call">
                    <span>{ c.lead_name.clone().unwrap_or_else(|| pretty_number(&c.customer)) }</span>
                    <span class="muted">{ format!(" {} · {}{}",
                        if c.direction == Direction::Inbound { "in" } else { "out" },
                        clock((c.talk_secs.unwrap_or(c.age_secs) + tick) * 1000),
                        if c.on_hold { " · on hold" } else { "" }) }</span>
                </div>
            } else {
                <div class="tile-call muted">{"No call"}</div>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct LiveCallProps {
    call: FloorCall,
    agent: Option<String>,
    tick: i64,
}

#[function_component]
fn LiveCall(p: &LiveCallProps) -> Html {
    let ctx = use_ctx();
    let c = &p.call;
    let sid = c.call_sid.clone();
    let mine = ctx.monitoring.as_ref().filter(|(s, _)| *s == sid).map(|(_, m)| *m);
    let connected = c.talk_secs.is_some();
    let pick = |mode: MonitorMode| {
        let (ctx, sid) = (ctx.clone(), sid.clone());
        Callback::from(move |_| {
            let (ctx2, sid2) = (ctx.clone(), sid.clone());
            run(&ctx, ipc::monitor(sid.clone(), mode), move |_| {
                ctx2.dispatch(Msg::Monitoring(Some((sid2, mode))))
            });
        })
    };
    let leave = {
        let (ctx, sid) = (ctx.clone(), sid.clone());
        Callback::from(move |_| {
            let ctx2 = ctx.clone();
            run(&ctx, ipc::act("stop_monitor", sid.clone()), move |_| {
                ctx2.dispatch(Msg::Monitoring(None))
            });
        })
    };
    // One monitored call at a time: leave it before picking another.
    let elsewhere = ctx.monitoring.as_ref().is_some_and(|(s, _)| *s != sid);
    html! {
        <li class={classes!("call-row", connected.then_some("connected"), mine.map(|_| "monitored"))} id={format!("live-{}", sid_tail(&sid))} data-call-sid={sid.to_string()}>
            <div class="row-main">
                <span class="name">{ c.lead_name.clone().unwrap_or_else(|| pretty_number(&c.customer)) }</span>
                <span class="muted">{ format!(" with {} · {} · {}", p.agent.clone().unwrap_or_else(|| "nobody yet".into()),
                    c.status.as_str().replace('_', " "), clock((c.talk_secs.unwrap_or(c.age_secs) + p.tick) * 1000)) }</span>
            </div>
            <div class="row-actions">
                { for MODES.iter().map(|(mode, label, title)| html! {
                    <button class={classes!("btn", "small", (mine == Some(*mode)).then_some("on"))}
                        id={format!("btn-{}-{}", mode.as_str(), sid_tail(&sid))}
                        disabled={!connected || elsewhere || !ctx.connection.online} title={*title}
                        onclick={pick(*mode)}>{ *label }</button>
                }) }
                if mine.is_some() {
                    <button class="btn small danger" id={format!("btn-leave-{}", sid_tail(&sid))} onclick={leave}>{"Leave"}</button>
                }
            </div>
        </li>
    }
}

/// A short, stable handle for element ids.
fn sid_tail(sid: &CallSid) -> String {
    sid.to_string()
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}
