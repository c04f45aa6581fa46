use switchboard_core::Direction;
use yew::prelude::*;

use super::dialer::Dialer;
use super::lead::{LeadCard, Transcript};
use super::{input_value, use_ctx};
use crate::ipc;
use crate::state::{Msg, clock, date_time, pretty_number, status_label};

#[function_component]
pub fn History() -> Html {
    let ctx = use_ctx();
    {
        let ctx = ctx.clone();
        use_effect_with(ctx.history_search.clone(), move |search| {
            let search = search.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(h) = ipc::history(search).await {
                    ctx.dispatch(Msg::History(h));
                }
            });
        });
    }
    let on_search = {
        let ctx = ctx.clone();
        Callback::from(move |e: InputEvent| {
            let v = e.target_unchecked_into::<web_sys::HtmlInputElement>().value();
            ctx.dispatch(Msg::Search(v));
        })
    };
    let _ = input_value;
    html! {
        <div class="history-page">
            <section class="panel history">
                <div class="panel-head">
                    <h2>{"Call history"}</h2>
                    <input id="history-search" class="search" type="search" placeholder="Search by number or lead name"
                        value={ctx.history_search.clone()} oninput={on_search} />
                </div>
                if ctx.history.is_empty() {
                    <div class="empty">{ if ctx.history_search.is_empty() { "No calls yet." } else { "No calls match." } }</div>
                } else {
                    <table class="calls" id="history-table">
                        <thead><tr><th>{"When"}</th><th>{"Who"}</th><th>{"Number"}</th><th>{"Status"}</th><th>{"Talk"}</th><th>{"Outcome"}</th></tr></thead>
                        <tbody>
                        { for ctx.history.iter().map(|h| {
                            let c = &h.call;
                            let other = if c.direction == Direction::Inbound { &c.from } else { &c.to };
                            let selected = ctx.selected.as_ref().is_some_and(|s| s.call.call_sid == c.call_sid);
                            let pick = {
                                let (ctx, sid) = (ctx.clone(), c.call_sid.clone());
                                Callback::from(move |_| {
                                    let (ctx, sid) = (ctx.clone(), sid.clone());
                                    wasm_bindgen_futures::spawn_local(async move {
                                        match ipc::call_detail(sid).await {
                                            Ok(d) => ctx.dispatch(Msg::Select(Some(d))),
                                            Err(e) => ctx.dispatch(Msg::Notice(Some(crate::state::Notice { text: e.to_string(), error: true }))),
                                        }
                                    });
                                })
                            };
                            html! {
                                <tr class={classes!("history-row", selected.then_some("selected"))} data-sid={c.call_sid.to_string()} onclick={pick}>
                                    <td>{ date_time(c.created_at) }</td>
                                    <td>
                                        <span class={classes!("dir", if c.direction == Direction::Inbound { "in" } else { "out" })}>
                                            { if c.direction == Direction::Inbound { "↙" } else { "↗" } }
                                        </span>
                                        { h.lead_name.clone().unwrap_or_else(|| "Unknown".into()) }
                                    </td>
                                    <td>{ pretty_number(other) }</td>
                                    <td><span class={format!("pill st-{}", c.status.as_str())}>{ status_label(c.status) }</span></td>
                                    <td>{ c.duration_secs.map(|d| clock(d * 1000)).unwrap_or_else(|| "—".into()) }</td>
                                    <td>{ c.disposition.clone().map(|d| d.replace('_', " ")).unwrap_or_else(|| "—".into()) }</td>
                                </tr>
                            }
                        }) }
                        </tbody>
                    </table>
                }
            </section>
            <aside class="side">
                if let Some(d) = ctx.selected.clone() {
                    <LeadCard detail={d.clone()} />
                    if let Some(n) = d.call.notes.clone() {
                        <section class="panel"><div class="panel-head"><h2>{"Notes"}</h2></div><div class="notes">{n}</div></section>
                    }
                    <Transcript detail={d.clone()} />
                    if !d.history.is_empty() {
                        // The call's audit trail: actions, supervisors, consults.
                        <section class="panel" id="call-trail">
                            <div class="panel-head"><h2>{"What happened"}</h2></div>
                            <ul class="trail">
                                { for d.history.iter().map(|h| html! {
                                    <li><span class="muted">{ crate::state::time_of_day(h.at) }</span>{" "}{ h.what.clone() }</li>
                                }) }
                            </ul>
                        </section>
                    }
                    <section class="panel">
                        <Dialer to={Some(if d.call.direction == Direction::Inbound { d.call.from.clone() } else { d.call.to.clone() })}
                            lead={d.call.lead_id} />
                    </section>
                } else {
                    <section class="panel"><div class="empty">{"Pick a call to see its lead, notes and transcript."}</div></section>
                }
            </aside>
        </div>
    }
}
