use yew::prelude::*;

use super::{run, use_ctx, use_now};
use crate::ipc;
use crate::state::{Msg, clock, pretty_number, status_label};

#[function_component]
pub fn Queue() -> Html {
    let ctx = use_ctx();
    let now = use_now();
    let busy = ctx.active.is_some();
    let online = ctx.connection.online;
    let me = ctx.me().map(|a| a.id);
    html! {
        <section class="panel queue" id="queue">
            <div class="panel-head">
                <h2>{"Queue"}</h2>
                <span class="count">{ctx.queue.len()}</span>
            </div>
            if ctx.queue.is_empty() {
                <div class="empty">{"No callers waiting."}</div>
            }
            <ul class="queue-list">
            { for ctx.queue.iter().enumerate().map(|(i, q)| {
                let sid = q.call.call_sid.clone();
                let for_other = q.call.agent_id.is_some_and(|a| Some(a) != me);
                let for_me = q.call.agent_id.is_some() && q.call.agent_id == me;
                let answer = {
                    let (ctx, sid) = (ctx.clone(), sid.clone());
                    Callback::from(move |_| {
                        let ctx2 = ctx.clone();
                        let sid2 = sid.clone();
                        run(&ctx, ipc::act("answer", sid.clone()), move |_| {
                            wasm_bindgen_futures::spawn_local(async move {
                                if let Ok(d) = ipc::call_detail(sid2.clone()).await {
                                    ctx2.dispatch(Msg::Activate(d));
                                }
                                if let Ok(q) = ipc::queue().await {
                                    ctx2.dispatch(Msg::Queue(q));
                                }
                            });
                        });
                    })
                };
                // Keyed by call: when a caller ahead hangs up or a new one is queued, each
                // row's element stays with its call instead of being rewritten in place to
                // show another, so an element found for a call still answers that call.
                html! {
                    <li key={sid.to_string()} class={classes!("queue-item", for_me.then_some("for-me"))} data-sid={sid.to_string()}>
                        <div class="who">
                            <div class="name">{ q.lead_name.clone().unwrap_or_else(|| "Unknown caller".into()) }</div>
                            <div class="sub">{ pretty_number(&q.call.from) }{" → "}{ pretty_number(&q.call.to) }</div>
                        </div>
                        <div class="wait">
                            <div class="timer" title="Waiting">{ clock(now - q.call.created_at) }</div>
                            <div class="sub">{ if for_me { "Transferred to you" } else { status_label(q.call.status) } }</div>
                        </div>
                        <button id={if i == 0 { "btn-answer".to_owned() } else { format!("btn-answer-{i}") }}
                            class="btn answer" disabled={busy || !online || for_other}
                            title={if !online { "Answering needs the gateway" } else { "Answer (Alt+A)" }}
                            onclick={answer}>{"Answer"}</button>
                    </li>
                }
            }) }
            </ul>
        </section>
    }
}
