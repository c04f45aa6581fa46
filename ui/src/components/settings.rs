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
            <section class="panel">
                <div class="panel-head"><h2>{"Audio devices"}</h2></div>
                <div class="muted">{"Microphone and speaker selection, with level meters, appears here once call audio is enabled for this workspace."}</div>
            </section>
            <section class="panel">
                <div class="panel-head"><h2>{"Keyboard shortcuts"}</h2></div>
                <div class="kv"><span>{"Answer the first waiting call"}</span><span class="kbd">{"Alt+A"}</span></div>
                <div class="kv"><span>{"Hold / resume"}</span><span class="kbd">{"Alt+H"}</span></div>
                <div class="kv"><span>{"End the call"}</span><span class="kbd">{"Alt+E"}</span></div>
            </section>
        </div>
    }
}
