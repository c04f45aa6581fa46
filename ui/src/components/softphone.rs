use switchboard_core::api::{DISPOSITIONS, RecordingAction, TransferTarget};
use switchboard_core::{AgentId, CallRecord, CallStatus, Direction, PhoneNumber, ProviderCapabilities};
use yew::prelude::*;

use super::consult::{ConsultBar, SupervisorIndicator};
use super::dialer::Dialer;
use super::{input_value, run, use_ctx, use_now};
use crate::ipc;
use crate::state::{Msg, Notice, clock, pretty_number, status_label};

const KEYS: [&str; 12] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

/// What the call's provider can do. A call recorded before providers reported this
/// allows everything, as the console always did.
fn capabilities(call: &CallRecord) -> ProviderCapabilities {
    call.capabilities.unwrap_or(ProviderCapabilities {
        inbound: true,
        outbound: true,
        hold: true,
        transfer_to_number: true,
        transfer_to_agent: true,
        dtmf: true,
        recording: true,
        transcripts: true,
        ai_agents: false,
        monitor: false,
        warm_transfer: false,
    })
}

/// The tooltip of a control the call's provider cannot do, or the usual one.
fn why_not(can: bool, what: &str, provider: &str, usual: &str) -> String {
    if can {
        usual.to_owned()
    } else {
        format!("{provider} cannot {what}")
    }
}

/// The provider of `call` as the agent knows it: the name on its numbers.
fn provider_name(call: &CallRecord, numbers: &[PhoneNumber]) -> String {
    call.provider_id
        .and_then(|id| numbers.iter().find(|n| n.provider_id == id))
        .map_or_else(
            || "This call's provider".to_owned(),
            |n| format!("This call's provider ({})", n.provider),
        )
}

#[function_component]
pub fn Softphone() -> Html {
    let ctx = use_ctx();
    let now = use_now();
    let transfer_open = use_state(|| false);
    let transfer_to = use_state(String::new);
    let recording = use_state(|| false);
    let keyed = use_state(String::new);
    let disposition = use_state(|| DISPOSITIONS[0].0.to_owned());
    let notes = use_state(String::new);

    {
        // A new call starts with a clean panel: no leftover outcome, notes or digits.
        let (transfer_open, transfer_to, recording, keyed, disposition, notes) = (
            transfer_open.clone(),
            transfer_to.clone(),
            recording.clone(),
            keyed.clone(),
            disposition.clone(),
            notes.clone(),
        );
        use_effect_with(ctx.active.as_ref().map(|a| a.call.call_sid.clone()), move |_| {
            transfer_open.set(false);
            transfer_to.set(String::new());
            recording.set(false);
            keyed.set(String::new());
            disposition.set(DISPOSITIONS[0].0.to_owned());
            notes.set(String::new());
        });
    }
    let Some(active) = ctx.active.clone() else {
        return html! {
            <section class="panel softphone idle" id="softphone">
                <div class="idle-msg">
                    <div class="idle-title">{"No active call"}</div>
                    <div class="muted">{"Answer a caller from the queue, or place a call below."}</div>
                </div>
                <Dialer to={ctx.dial_to.clone()} />
            </section>
        };
    };
    let call = active.call.clone();
    let sid = call.call_sid.clone();
    let online = ctx.connection.online;
    let live = !call.status.is_terminal();
    let name = active.lead.as_ref().map(|l| l.name.clone());
    let other = if call.direction == Direction::Inbound {
        &call.from
    } else {
        &call.to
    };
    let act = |command: &'static str| {
        let (ctx, sid) = (ctx.clone(), sid.clone());
        Callback::from(move |_| run(&ctx, ipc::act(command, sid.clone()), |_| {}))
    };
    let talk = match (call.answered_at, call.ended_at) {
        (Some(a), Some(e)) => clock(e - a),
        (Some(a), None) => clock(now - a),
        _ => clock(now - call.created_at),
    };

    let on_mute = {
        let (ctx, muted) = (ctx.clone(), ctx.muted);
        Callback::from(move |_| {
            let ctx2 = ctx.clone();
            run(&ctx, ipc::set_muted(!muted), move |m| ctx2.dispatch(Msg::Muted(m)));
        })
    };
    let on_record = {
        let (ctx, sid, recording) = (ctx.clone(), sid.clone(), recording.clone());
        Callback::from(move |_| {
            let action = if *recording {
                RecordingAction::Stop
            } else {
                RecordingAction::Start
            };
            let r = recording.clone();
            run(&ctx, ipc::record(sid.clone(), action), move |_| {
                r.set(action == RecordingAction::Start)
            });
        })
    };
    let on_transfer = {
        let (ctx, sid, to, open) = (ctx.clone(), sid.clone(), transfer_to.clone(), transfer_open.clone());
        Callback::from(move |_| {
            let target = if let Some(id) = to.strip_prefix("agent:") {
                id.parse::<AgentId>().ok().map(TransferTarget::Agent)
            } else {
                to.trim().parse().ok().map(TransferTarget::Number)
            };
            match target {
                Some(t) => {
                    let open = open.clone();
                    run(&ctx, ipc::transfer(sid.clone(), t), move |_| open.set(false));
                }
                None => ctx.dispatch(Msg::Notice(Some(Notice {
                    text: "Choose an agent or enter a number like +14155550123".into(),
                    error: true,
                }))),
            }
        })
    };
    let on_save = {
        let (ctx, sid, disposition, notes) = (ctx.clone(), sid.clone(), disposition.clone(), notes.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let ctx2 = ctx.clone();
            let notes_set = notes.clone();
            run(
                &ctx,
                ipc::wrap_up(sid.clone(), (*disposition).clone(), (*notes).clone()),
                move |_| {
                    notes_set.set(String::new());
                    ctx2.dispatch(Msg::WrapUpDone);
                    ctx2.dispatch(Msg::Notice(Some(Notice {
                        text: "Wrap-up saved".into(),
                        error: false,
                    })));
                },
            );
        })
    };
    let me = ctx.me().map(|a| a.id);
    let colleagues: Vec<_> = ctx.agents.iter().filter(|a| Some(a.id) != me).cloned().collect();
    let status_class = format!("pill st-{}", call.status.as_str());
    let caps = capabilities(&call);
    let provider = provider_name(&call, &ctx.numbers);
    let can_transfer = caps.transfer_to_agent || caps.transfer_to_number;
    let audio_panel = html! {
        <div class="audio" id="audio-panel">
            <span id="audio-state" class={classes!("audio-state", ctx.audio_state.clone())}>{
                match ctx.audio_state.as_deref() {
                    Some("connected") => "Audio connected".to_owned(),
                    Some("reconnecting") => "Audio reconnecting…".to_owned(),
                    Some("connecting") => "Audio connecting…".to_owned(),
                    // A PBX call: the audio is on the agent's own phone.
                    Some(s) if s.starts_with("external:") => {
                        format!("Answer on your phone: extension {}", &s["external:".len()..])
                    }
                    Some(_) => "Audio".to_owned(),
                    None => "No call audio".to_owned(),
                }
            }</span>
            <Meter id="meter-mic" label="Mic" dbfs={ctx.levels.map(|l| l.input.rms_dbfs)} />
            <Meter id="meter-speaker" label="Speaker" dbfs={ctx.levels.map(|l| l.output.rms_dbfs)} />
        </div>
    };
    // Consulted by a colleague: the call is theirs; only the consult and the audio show.
    if ctx.consulted(&call, true) {
        return html! {
            <section class="panel softphone" id="softphone">
                <div class="call-head">
                    <div>
                        <div class="call-name">{ name.unwrap_or_else(|| pretty_number(other)) }</div>
                        <div class="sub">{"Consult"}</div>
                    </div>
                    <div class="call-side"><span id="call-status" class="pill st-consult">{"Consult"}</span></div>
                </div>
                <ConsultBar call={call.clone()} />
                { audio_panel }
            </section>
        };
    }

    html! {
        <section class="panel softphone" id="softphone">
            <div class="call-head">
                <div>
                    <div class="call-name">{ name.clone().unwrap_or_else(|| pretty_number(other)) }</div>
                    <div class="sub">
                        { if call.direction == Direction::Inbound { "Inbound · " } else { "Outbound · " } }
                        { pretty_number(other) }
                    </div>
                </div>
                <div class="call-side">
                    <span id="call-status" class={status_class}>{ status_label(call.status) }</span>
                    <div class="timer big" id="call-timer">{ talk }</div>
                </div>
            </div>
            <SupervisorIndicator call={call.clone()} />
            if live {
                <div class="controls">
                    if call.status == CallStatus::OnHold {
                        <button id="btn-resume" class="btn" disabled={!online || !caps.hold} onclick={act("resume_call")}
                            title={why_not(caps.hold, "take calls off hold", &provider, "Resume (Alt+H)")}>{"Resume"}</button>
                    } else {
                        <button id="btn-hold" class="btn" disabled={!online || !caps.hold || call.status != CallStatus::Answered} onclick={act("hold")}
                            title={why_not(caps.hold, "put calls on hold", &provider, "Hold (Alt+H)")}>{"Hold"}</button>
                    }
                    <button id="btn-mute" class={classes!("btn", ctx.muted.then_some("on"))} onclick={on_mute}>
                        { if ctx.muted { "Unmute" } else { "Mute" } }
                    </button>
                    <button id="btn-record" class={classes!("btn", recording.then_some("on"))} disabled={!online || !caps.recording || !matches!(call.status, CallStatus::Answered | CallStatus::OnHold)} onclick={on_record}
                        title={why_not(caps.recording, "record calls", &provider, "Record the call")}>
                        { if *recording { "Stop recording" } else { "Record" } }
                    </button>
                    <button id="btn-transfer" class="btn" disabled={!online || !can_transfer || !matches!(call.status, CallStatus::Answered | CallStatus::OnHold)}
                        title={why_not(can_transfer, "transfer calls", &provider, "Transfer to a colleague or a number")}
                        onclick={let o = transfer_open.clone(); Callback::from(move |_| o.set(!*o))}>{"Transfer"}</button>
                    if call.consult.is_none() {
                        <ConsultBar call={call.clone()} />
                    }
                    <button id="btn-end" class="btn danger" disabled={!online} onclick={act("end_call")} title="End (Alt+E)">{"End"}</button>
                </div>
                if call.consult.is_some() {
                    <ConsultBar call={call.clone()} />
                }
                { audio_panel }
                if *transfer_open {
                    <div class="transfer card-inset">
                        <label for="transfer-agent">{"Transfer to a colleague"}</label>
                        <select id="transfer-agent" disabled={!caps.transfer_to_agent}
                            title={why_not(caps.transfer_to_agent, "transfer calls to another agent", &provider, "")}
                            onchange={let t = transfer_to.clone(); Callback::from(move |e: Event| t.set(input_value(&e)))}>
                            <option value="" selected={transfer_to.is_empty()}>{"Choose…"}</option>
                            { for colleagues.iter().map(|a| html! {
                                <option value={format!("agent:{}", a.id)}>{ format!("{} ({})", a.display_name, a.status.as_str().replace('_', "-")) }</option>
                            }) }
                        </select>
                        <label for="transfer-number">{"…or to a number"}</label>
                        <input id="transfer-number" placeholder="+14155550123" disabled={!caps.transfer_to_number}
                            title={why_not(caps.transfer_to_number, "transfer calls to a number", &provider, "")}
                            oninput={let t = transfer_to.clone(); Callback::from(move |e: InputEvent| t.set(input_value(&e)))} />
                        <button id="btn-transfer-go" class="btn primary" onclick={on_transfer}>{"Transfer call"}</button>
                    </div>
                }
                <div class="keypad" id="keypad" title={why_not(caps.dtmf, "send touch tones", &provider, "")}>
                    { for KEYS.iter().map(|k| {
                        let (ctx, sid, keyed) = (ctx.clone(), sid.clone(), keyed.clone());
                        let digit = (*k).to_owned();
                        let id = format!("dtmf-{}", match *k { "*" => "star", "#" => "hash", d => d });
                        html! {
                            <button id={id} class="key" disabled={!online || !caps.dtmf || call.status != CallStatus::Answered}
                                onclick={Callback::from(move |_| {
                                    let keyed = keyed.clone();
                                    let d = digit.clone();
                                    run(&ctx, ipc::dtmf(sid.clone(), digit.clone()), move |_| keyed.set(format!("{}{}", *keyed, d)));
                                })}>{*k}</button>
                        }
                    }) }
                    <div class="keyed" id="dtmf-sent">{ (*keyed).clone() }</div>
                </div>
            } else {
                <form class="wrapup" id="wrapup" onsubmit={on_save}>
                    <h3>{"Wrap-up"}</h3>
                    <div class="muted">
                        { format!("Call {}", status_label(call.status).to_lowercase()) }
                        if let Some(d) = call.duration_secs { { format!(" · talk time {}", clock(d * 1000)) } }
                        if let Some(err) = &call.error { { format!(" · {}", err.message) } }
                    </div>
                    <label for="wrapup-disposition">{"Outcome"}</label>
                    <select id="wrapup-disposition" onchange={let d = disposition.clone(); Callback::from(move |e: Event| d.set(input_value(&e)))}>
                        { for DISPOSITIONS.iter().map(|(v, label)| html! {
                            <option value={*v} selected={*disposition == *v}>{*label}</option>
                        }) }
                    </select>
                    <label for="wrapup-notes">{"Notes"}</label>
                    <textarea id="wrapup-notes" rows="4" value={(*notes).clone()} placeholder="What was agreed, what happens next"
                        oninput={let n = notes.clone(); Callback::from(move |e: InputEvent| n.set(input_value(&e)))} />
                    <button id="btn-wrapup-save" class="btn primary" type="submit">{"Save and finish"}</button>
                    if !online { <div class="fineprint">{"Offline: saved here and sent when the gateway is back."}</div> }
                </form>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct MeterProps {
    pub id: &'static str,
    pub label: &'static str,
    pub dbfs: Option<f32>,
}

/// A level bar: -60 dBFS and below is empty, 0 dBFS full.
#[function_component]
pub fn Meter(p: &MeterProps) -> Html {
    let fill = p.dbfs.map_or(0.0, |d| ((d + 60.0) / 60.0).clamp(0.0, 1.0) * 100.0);
    html! {
        <div class="meter" id={p.id} data-dbfs={p.dbfs.map(|d| format!("{d:.0}")).unwrap_or_default()}>
            <span class="meter-label">{ p.label }</span>
            <span class="meter-bar"><span class="meter-fill" style={format!("width: {fill:.0}%")}></span></span>
        </div>
    }
}
