//! The attended transfer in the softphone (consult a colleague or a number while the
//! caller waits, then conference, complete or cancel), the consult requests other agents
//! send this one, and the sign that a supervisor is on the agent's call.

use switchboard_core::api::TransferTarget;
use switchboard_core::{AgentId, CallRecord, ConsultState, ConsultStep, MonitorMode};
use yew::prelude::*;

use super::{input_value, run, use_ctx};
use crate::ipc;
use crate::state::{Msg, Notice};

/// Who a consult is with, for people.
fn target_name(to: &str, agents: &[switchboard_core::Agent]) -> String {
    match TransferTarget::from_stored(to) {
        Some(TransferTarget::Agent(id)) => agents
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| format!("agent {id}"), |a| a.display_name.clone()),
        _ => crate::state::pretty_number(to),
    }
}

fn step(ctx: &super::Ctx, call: &CallRecord, step: ConsultStep) -> Callback<MouseEvent> {
    let (ctx, sid) = (ctx.clone(), call.call_sid.clone());
    Callback::from(move |_| run(&ctx, ipc::consult_step(sid.clone(), step), |_| {}))
}

#[derive(Properties, PartialEq)]
pub struct CallProps {
    pub call: CallRecord,
}

/// The consult controls of the call in the softphone.
#[function_component]
pub fn ConsultBar(p: &CallProps) -> Html {
    let ctx = use_ctx();
    let open = use_state(|| false);
    let target = use_state(String::new);
    let call = &p.call;
    let me = ctx.me().map(|a| a.id);
    let online = ctx.connection.online;
    if let Some(k) = &call.consult {
        let who = target_name(&k.to, &ctx.agents);
        // The consulted agent sees the consult from the other side.
        if k.target_agent().is_some() && k.target_agent() == me {
            let by = ctx
                .agents
                .iter()
                .find(|a| a.id == k.by)
                .map_or("A colleague".into(), |a| a.display_name.clone());
            return html! {
                <div class="consult-bar" id="consult-bar" data-state={format!("{:?}", k.state).to_lowercase()}>
                    <span>{ match k.state {
                        ConsultState::Conference => format!("Three-way call with {by} and the caller"),
                        _ => format!("{by} is consulting you; the caller is on hold"),
                    } }</span>
                    <button class="btn" id="btn-consult-leave" disabled={!online} onclick={step(&ctx, call, ConsultStep::Cancel)}>{"Leave"}</button>
                </div>
            };
        }
        let state = match k.state {
            ConsultState::Ringing => format!("Calling {who}… the caller is on hold"),
            ConsultState::Talking => format!("Consulting {who}; the caller is on hold"),
            ConsultState::Conference => format!("Three-way call with {who}"),
        };
        let picked_up = k.state != ConsultState::Ringing;
        return html! {
            <div class="consult-bar" id="consult-bar" data-state={format!("{:?}", k.state).to_lowercase()}>
                <span id="consult-state">{ state }</span>
                if k.state == ConsultState::Talking {
                    <button class="btn" id="btn-consult-conference" disabled={!online} onclick={step(&ctx, call, ConsultStep::Conference)}
                        title="Bring the caller in: all three talk">{"Conference"}</button>
                }
                <button class="btn primary" id="btn-consult-complete" disabled={!online || !picked_up} onclick={step(&ctx, call, ConsultStep::Complete)}
                    title={ if picked_up { "Hand the caller over and leave the call" } else { "Waiting for them to pick up" } }>{"Complete transfer"}</button>
                <button class="btn" id="btn-consult-cancel" disabled={!online} onclick={step(&ctx, call, ConsultStep::Cancel)}
                    title="End the consult and go back to the caller">{"Cancel"}</button>
            </div>
        };
    }
    let can = call.capabilities.is_none_or(|c| c.warm_transfer);
    let colleagues: Vec<_> = ctx.agents.iter().filter(|a| Some(a.id) != me).cloned().collect();
    let start = {
        let (ctx, sid, target, open) = (ctx.clone(), call.call_sid.clone(), target.clone(), open.clone());
        Callback::from(move |_| {
            let to = if let Some(id) = target.strip_prefix("agent:") {
                id.parse::<AgentId>().ok().map(TransferTarget::Agent)
            } else {
                target.trim().parse().ok().map(TransferTarget::Number)
            };
            match to {
                Some(t) => {
                    let open = open.clone();
                    run(&ctx, ipc::consult(sid.clone(), t), move |_| open.set(false));
                }
                None => ctx.dispatch(Msg::Notice(Some(Notice {
                    text: "Choose a colleague or enter a number like +14155550123".into(),
                    error: true,
                }))),
            }
        })
    };
    html! {
        <>
            <button id="btn-consult" class="btn" disabled={!online || !can || call.status != switchboard_core::CallStatus::Answered}
                title={ if can { "Consult a colleague or a number while the caller waits, then transfer" } else { "This call's provider cannot do attended transfers" } }
                onclick={let o = open.clone(); Callback::from(move |_| o.set(!*o))}>{"Consult"}</button>
            if *open {
                <div class="transfer card-inset" id="consult-panel">
                    <label for="consult-agent">{"Consult a colleague"}</label>
                    <select id="consult-agent" onchange={let t = target.clone(); Callback::from(move |e: Event| t.set(input_value(&e)))}>
                        <option value="" selected={target.is_empty()}>{"Choose…"}</option>
                        { for colleagues.iter().map(|a| html! {
                            <option value={format!("agent:{}", a.id)}>{ format!("{} ({})", a.display_name, a.status.as_str().replace('_', "-")) }</option>
                        }) }
                    </select>
                    <label for="consult-number">{"…or a number"}</label>
                    <input id="consult-number" placeholder="+14155550123"
                        oninput={let t = target.clone(); Callback::from(move |e: InputEvent| t.set(input_value(&e)))} />
                    <button id="btn-consult-go" class="btn primary" onclick={start}>{"Start consult"}</button>
                </div>
            }
        </>
    }
}

/// Consults colleagues ask this agent for: pick up or decline.
#[function_component]
pub fn ConsultOffers() -> Html {
    let ctx = use_ctx();
    html! {
        <>
            { for ctx.consult_offers.iter().map(|call| {
                let by = call.consult.as_ref().and_then(|k| ctx.agents.iter().find(|a| a.id == k.by)).map_or("A colleague".into(), |a| a.display_name.clone());
                let accept = {
                    let (ctx, sid) = (ctx.clone(), call.call_sid.clone());
                    Callback::from(move |_| {
                        let (ctx2, sid2) = (ctx.clone(), sid.clone());
                        run(&ctx, ipc::consult_step(sid.clone(), ConsultStep::Accept), move |_| {
                            wasm_bindgen_futures::spawn_local(async move {
                                if let Ok(d) = ipc::call_detail(sid2).await {
                                    ctx2.dispatch(Msg::Activate(d));
                                }
                            });
                        });
                    })
                };
                html! {
                    <div class="banner consult-offer" id="consult-offer" role="alert">
                        <strong>{ format!("{by} wants to consult you") }</strong>
                        <span>{ format!(" about a call from {}", crate::state::pretty_number(&call.from)) }</span>
                        <button class="btn primary small" id="btn-consult-accept" onclick={accept}>{"Pick up"}</button>
                        <button class="btn small" id="btn-consult-decline" onclick={step(&ctx, call, ConsultStep::Cancel)}>{"Decline"}</button>
                    </div>
                }
            }) }
        </>
    }
}

/// A supervisor on this call, when the agent may know: whisper and barge always, listening
/// where the business announces it (the gateway leaves out what the agent may not see).
#[function_component]
pub fn SupervisorIndicator(p: &CallProps) -> Html {
    let Some(m) = p.call.monitors.first() else {
        return html! {};
    };
    let (text, class) = match m.mode {
        MonitorMode::Listen => (format!("{} is listening", m.name), "listen"),
        MonitorMode::Whisper => (
            format!("{} is coaching you (the caller cannot hear)", m.name),
            "whisper",
        ),
        MonitorMode::Barge => (format!("{} joined the call", m.name), "barge"),
    };
    html! {
        <div class={classes!("supervisor-on", class)} id="supervisor-indicator" data-mode={m.mode.as_str()} role="status">
            <span class="sup-dot" aria-hidden="true"></span>{ text }
        </div>
    }
}
