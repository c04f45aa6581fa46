use yew::prelude::*;

use super::{run, use_ctx};
use crate::ipc;
use crate::state::{Msg, time_of_day};

#[function_component]
pub fn Settings() -> Html {
    let ctx = use_ctx();
    let Some(session) = ctx.session.clone() else {
        return html! {};
    };
    let sign_out = {
        let ctx = ctx.clone();
        Callback::from(move |_| {
            let ctx2 = ctx.clone();
            run(&ctx, ipc::sign_out(), move |_| ctx2.dispatch(Msg::SignedOut));
        })
    };
    html! {
        <div class="settings-page">
            <section class="panel">
                <div class="panel-head"><h2>{"Account"}</h2></div>
                <div class="kv"><span>{"Signed in as"}</span><span>{ format!("{} ({})", session.agent.display_name, session.agent.name) }</span></div>
                <div class="kv"><span>{"Role"}</span><span>{ session.agent.role.as_str() }</span></div>
                <div class="kv"><span>{"Gateway"}</span><span id="settings-gateway">{ session.gateway_url.clone() }</span></div>
                <div class="kv"><span>{"Connection"}</span><span>{
                    if ctx.connection.online { "Online".to_owned() } else {
                        format!("Offline{}", ctx.connection.last_sync_at.map(|t| format!(" · last sync {}", time_of_day(t))).unwrap_or_default())
                    }
                }</span></div>
                <button id="btn-sign-out" class="btn" onclick={sign_out}>{"Sign out"}</button>
            </section>
            <AudioDevices />
            <section class="panel">
                <div class="panel-head"><h2>{"Keyboard shortcuts"}</h2></div>
                <div class="kv"><span>{"Answer the first waiting call"}</span><span class="kbd">{"Alt+A"}</span></div>
                <div class="kv"><span>{"Hold / resume"}</span><span class="kbd">{"Alt+H"}</span></div>
                <div class="kv"><span>{"End the call"}</span><span class="kbd">{"Alt+E"}</span></div>
            </section>
        </div>
    }
}

/// Microphone and speaker pickers; the choice is remembered and used from the next call.
#[function_component]
fn AudioDevices() -> Html {
    let ctx = use_ctx();
    let list = use_state(|| None::<switchboard_core::desktop::AudioDeviceList>);
    {
        let (ctx, list) = (ctx.clone(), list.clone());
        use_effect_with((), move |_| {
            run(&ctx, ipc::audio_devices(), move |l| list.set(Some(l)));
        });
    }
    let pick = |input: bool| {
        let (ctx, list) = (ctx.clone(), list.clone());
        Callback::from(move |e: Event| {
            let value = super::input_value(&e);
            let name = (!value.is_empty()).then_some(value);
            let (list, chosen) = (list.clone(), name.clone());
            run(&ctx, ipc::set_audio_device(input, name), move |_| {
                if let Some(mut l) = (*list).clone() {
                    if input {
                        l.input = chosen
                    } else {
                        l.output = chosen
                    }
                    list.set(Some(l));
                }
            });
        })
    };
    let select = |id: &'static str, options: &[String], chosen: &Option<String>, on: Callback<Event>| {
        html! {
            <select id={id} onchange={on}>
                <option value="" selected={chosen.is_none()}>{"System default"}</option>
                { for options.iter().map(|n| html! { <option value={n.clone()} selected={chosen.as_deref() == Some(n.as_str())}>{ n.clone() }</option> }) }
            </select>
        }
    };
    html! {
        <section class="panel">
            <div class="panel-head"><h2>{"Audio devices"}</h2></div>
            { match &*list {
                None => html! { <div class="muted">{"Looking for devices…"}</div> },
                Some(l) if l.files => html! { <div class="muted">{"This workstation plays calls from audio files (demo setup): there are no devices to pick."}</div> },
                Some(l) => html! { <>
                    <label for="audio-input">{"Microphone"}</label>
                    { select("audio-input", &l.inputs, &l.input, pick(true)) }
                    <label for="audio-output">{"Speaker"}</label>
                    { select("audio-output", &l.outputs, &l.output, pick(false)) }
                    <div class="fineprint">{"Used from the next call. If a chosen device is unplugged, calls fall back to the system default and say so."}</div>
                </> },
            } }
        </section>
    }
}
