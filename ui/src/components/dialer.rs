use switchboard_core::desktop::DialRequest;
use switchboard_core::{LeadId, NumberId};
use yew::prelude::*;

use super::{input_value, run, use_ctx};
use crate::ipc;
use crate::state::{Msg, pretty_number};

#[derive(Properties, PartialEq, Default)]
pub struct Props {
    /// Prefill for "call back".
    #[prop_or_default]
    pub to: Option<String>,
    #[prop_or_default]
    pub lead: Option<LeadId>,
}

#[function_component]
pub fn Dialer(p: &Props) -> Html {
    let ctx = use_ctx();
    let to = use_state(|| p.to.clone().unwrap_or_default());
    let from = use_state(|| None::<NumberId>);
    {
        // Preselect: the number last used for this lead, else the default.
        let (from, lead) = (from.clone(), p.lead);
        let to_state = to.clone();
        let prefill = p.to.clone();
        use_effect_with((lead, prefill), move |(lead, prefill)| {
            if let Some(t) = prefill {
                to_state.set(t.clone());
            }
            let lead = *lead;
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(n) = ipc::preferred_number(lead).await {
                    from.set(n);
                }
            });
        });
    }
    let online = ctx.connection.online;
    let busy = ctx.active.is_some();
    let on_dial = {
        let (ctx, to, from, lead) = (ctx.clone(), to.clone(), from.clone(), p.lead);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(from_number_id) = *from else { return };
            let req = DialRequest {
                to: (*to).clone(),
                from_number_id,
                lead_id: lead,
            };
            let ctx2 = ctx.clone();
            run(&ctx, ipc::dial(req), move |call| {
                ctx2.dispatch(Msg::Page(crate::state::Page::Console));
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(d) = ipc::call_detail(call.call_sid.clone()).await {
                        ctx2.dispatch(Msg::Activate(d));
                    }
                });
            });
        })
    };
    html! {
        <form class="dialer" id="dialer" onsubmit={on_dial}>
            <h3>{"Place a call"}</h3>
            <div class="row">
                <input id="dial-to" type="tel" placeholder="+14155550123" value={(*to).clone()}
                    oninput={let t = to.clone(); Callback::from(move |e: InputEvent| t.set(input_value(&e)))} />
                <select id="dial-from" onchange={let f = from.clone(); Callback::from(move |e: Event| f.set(input_value(&e).parse().ok()))}>
                    { for ctx.numbers.iter().map(|n| html! {
                        <option value={n.id.to_string()} selected={Some(n.id) == *from} disabled={!n.capabilities.outbound}
                            title={if n.capabilities.outbound { "" } else { "This number cannot place calls" }}>
                            { format!("{} · {} · {}{}", n.label, pretty_number(n.e164.as_str()), n.provider,
                                if n.capabilities.outbound { "" } else { " (inbound only)" }) }
                        </option>
                    }) }
                </select>
                <button id="btn-dial" class="btn primary" type="submit" disabled={!online || busy || from.is_none()}
                    title={if online { "Call" } else { "Calling needs the gateway" }}>{"Call"}</button>
            </div>
        </form>
    }
}
