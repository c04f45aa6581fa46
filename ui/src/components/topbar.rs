use switchboard_core::{AgentRole, AgentStatus};
use yew::prelude::*;

use super::{input_value, run, use_ctx};
use crate::ipc;
use crate::state::{Msg, Page};

const STATUSES: [(AgentStatus, &str); 4] = [
    (AgentStatus::Available, "Available"),
    (AgentStatus::Busy, "Busy"),
    (AgentStatus::WrapUp, "Wrap-up"),
    (AgentStatus::Away, "Away"),
];

fn status_value(s: AgentStatus) -> &'static str {
    s.as_str()
}

#[function_component]
pub fn TopBar() -> Html {
    let ctx = use_ctx();
    let Some(me) = ctx.me().cloned() else { return html! {} };
    let page = ctx.page();
    let tab = |p: Page, id: &'static str, label: &'static str| {
        let ctx = ctx.clone();
        html! {
            <button id={id} class={classes!("tab", (page == p).then_some("active"))}
                onclick={Callback::from(move |_| ctx.dispatch(Msg::Page(p)))}>{label}</button>
        }
    };
    let on_status = {
        let ctx = ctx.clone();
        Callback::from(move |e: Event| {
            let v = input_value(&e);
            if let Some((s, _)) = STATUSES.iter().find(|(s, _)| s.as_str() == v) {
                run(&ctx, ipc::set_status(*s), |_| {});
            }
        })
    };
    let supervisor = me.role != AgentRole::Agent;
    let online = ctx.connection.online;
    html! {
        <header class="topbar">
            <div class="brand">{"Switchboard"}</div>
            <nav class="tabs">
                { tab(Page::Console, "nav-console", "Console") }
                { tab(Page::History, "nav-history", "History") }
                if supervisor {
                    { tab(Page::Supervisor, "nav-supervisor", "Supervisor") }
                }
                { tab(Page::Settings, "nav-settings", "Settings") }
            </nav>
            <div class="spacer" />
            if ctx.session.as_ref().is_some_and(|s| !s.remembered) {
                <span class="chip warn" id="session-only-chip"
                    title="No system keyring is available, so your token is kept in memory only: sign in again after quitting. Install and unlock a keyring (GNOME Keyring, KWallet) to stay signed in.">
                    {"Signed in for this session only"}
                </span>
            }
            if ctx.outbox_pending > 0 {
                <span class="chip warn" id="outbox-chip" title="Saved here; sent when the gateway is reachable">
                    { format!("{} waiting to send", ctx.outbox_pending) }
                </span>
            }
            <label class="status-label" for="status-select">{"My status"}</label>
            <select id="status-select" class={classes!("status-select", format!("st-{}", status_value(me.status)))} onchange={on_status}>
                { for STATUSES.iter().map(|(s, label)| html! {
                    <option value={s.as_str()} selected={*s == me.status}>{*label}</option>
                }) }
                if !STATUSES.iter().any(|(s, _)| *s == me.status) {
                    <option value={me.status.as_str()} selected=true>{"Signed off"}</option>
                }
            </select>
            <div class="me">
                <span>{me.display_name.clone()}</span>
            </div>
            // The link to the gateway, apart from the agent's own status: a status of
            // "Offline" beside a green "connected" dot looked like one thing.
            <span id="connection" class={classes!("link", if online { "up" } else { "down" })}
                title={if online { "Connected to the gateway" } else { "No connection to the gateway: showing saved data" }}>
                <span class="link-icon" aria-hidden="true">{ if online { "⇅" } else { "⨯" } }</span>
                { if online { "Gateway connected" } else { "Gateway offline" } }
            </span>
        </header>
    }
}
