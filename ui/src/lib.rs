//! # switchboard-ui
//!
//! The desktop UI, rendered by the Tauri shell. It only calls typed Tauri commands
//! ([`ipc`]) and listens to the backend's event channel; all state lives in one reducer
//! ([`state`]); the panels are in [`components`]. Start reading at [`App`].
//!
//! Built for wasm32, it runs in the page ([`start`], from `main.rs`). The shell also
//! builds it natively to render the same first frame to HTML before the page loads
//! ([`prerender`], feature `ssr`): the cached queue is then in the page's first paint,
//! while the module is still being fetched and compiled, and the module takes those
//! elements over (Yew's hydration) instead of making them again.

mod components;
mod ipc;
mod recover;
mod state;

use std::cell::Cell;
use std::rc::Rc;

use components::board::Board;
use components::history::History;
use components::lead::{LeadCard, Transcript};
use components::queue::Queue;
use components::settings::Settings;
use components::signin::SignIn;
use components::softphone::Softphone;
use components::topbar::TopBar;
use components::{Ctx, Now};
use switchboard_core::desktop::{Boot, UiEvent};
use switchboard_core::{AgentId, CallStatus, Direction};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use yew::prelude::*;

use state::{Model, Msg, Notice, Page, time_of_day};

fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// The id of the element holding the shell's prerendered first frame, which the module
/// takes over (hydrates) as its root.
pub const PRERENDERED: &str = "prerendered";

/// What the first frame is made of: the shell's cache read and the time. The page gets it
/// from the shell's initialization script; the shell's prerender from the cache directly.
#[derive(Properties, PartialEq)]
pub struct First {
    /// The cache as the shell read it; `None` waits for the backend (the splash).
    pub boot: Option<Boot>,
    /// Now, in epoch milliseconds (the waiting timers).
    pub now: i64,
    /// The page's HTML already showed the cached queue (the prerender), so the queue was
    /// on screen at the first paint, not at this module's first render.
    #[prop_or_default]
    pub queue_prerendered: bool,
}

/// Reload what an event does not carry itself. (The queue follows from the events alone:
/// the reducer keeps it. A round trip per call change cost the web process memory it
/// kept, in WebKit's handling of each IPC request.)
fn refresh(ctx: &UseReducerDispatcher<Model>, me: Option<AgentId>, ev: &UiEvent) {
    let ctx = ctx.clone();
    match ev {
        // One's own call: its lead and transcript, which the event does not carry.
        UiEvent::CallChanged(s) if me.is_some() && s.call.agent_id == me => {
            let sid = s.call.call_sid.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(d) = ipc::call_detail(sid).await {
                    ctx.dispatch(Msg::Detail(d));
                }
            });
        }
        UiEvent::NumbersChanged => wasm_bindgen_futures::spawn_local(async move {
            if let Ok(n) = ipc::numbers().await {
                ctx.dispatch(Msg::Numbers(n));
            }
        }),
        UiEvent::Connection(c) if c.online => wasm_bindgen_futures::spawn_local(async move {
            if let (Ok(n), Ok(a), Ok(q)) = (ipc::numbers().await, ipc::agents().await, ipc::queue().await) {
                ctx.dispatch(Msg::Numbers(n));
                ctx.dispatch(Msg::Agents(a));
                ctx.dispatch(Msg::Queue(q));
            }
        }),
        _ => {}
    }
}

/// After sign-in or start-up: fill the panels from the cache and pick up a call that was
/// in progress.
async fn load(ctx: UseReducerDispatcher<Model>, me: AgentId) {
    if let Ok(n) = ipc::numbers().await {
        ctx.dispatch(Msg::Numbers(n));
    }
    if let Ok(a) = ipc::agents().await {
        ctx.dispatch(Msg::Agents(a));
    }
    if let Ok(q) = ipc::queue().await {
        ctx.dispatch(Msg::Queue(q));
    }
    if let Ok(h) = ipc::history(String::new()).await {
        let live = h.iter().find(|s| {
            let c = &s.call;
            c.agent_id == Some(me)
                && match c.direction {
                    Direction::Inbound => matches!(c.status, CallStatus::Answered | CallStatus::OnHold),
                    Direction::Outbound => !c.status.is_terminal(),
                }
        });
        if let Some(s) = live {
            if let Ok(d) = ipc::call_detail(s.call.call_sid.clone()).await {
                ctx.dispatch(Msg::Activate(d));
            }
        }
        ctx.dispatch(Msg::History(h));
    }
}

fn shortcut(ctx: &Ctx, key: &str) {
    let online = ctx.connection.online;
    match (key, &ctx.active) {
        ("a", None) if online => {
            if let Some(first) = ctx.queue.first() {
                let (c, sid) = (ctx.clone(), first.call.call_sid.clone());
                components::run(ctx, ipc::act("answer", sid.clone()), move |_| {
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Ok(d) = ipc::call_detail(sid.clone()).await {
                            c.dispatch(Msg::Activate(d));
                        }
                    });
                });
            }
        }
        ("h", Some(a)) if online => {
            let cmd = if a.call.status == CallStatus::OnHold {
                "resume_call"
            } else {
                "hold"
            };
            components::run(ctx, ipc::act(cmd, a.call.call_sid.clone()), |_| {});
        }
        ("e", Some(a)) if online && !a.call.status.is_terminal() => {
            components::run(ctx, ipc::act("end_call", a.call.call_sid.clone()), |_| {});
        }
        _ => {}
    }
}

/// The console: sign-in, or the queue, softphone and lead, with the pages beside them.
#[function_component]
pub fn App(first: &First) -> Html {
    // The cached queue is in the very first frame: no round trip to the backend before it.
    let model = use_reducer(|| Model::first_frame(first.boot.clone()));
    let now = use_state(|| first.now);
    // The signed-in agent's id, readable from the event callback registered once.
    let me: Rc<Cell<Option<AgentId>>> = use_memo((), |_| Cell::new(None));

    use_effect_with((), |_| {
        // A prerendered frame is the module's now, handlers and all: it takes input.
        if let Some(e) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(PRERENDERED))
        {
            let _ = e.remove_attribute("inert");
        }
        ipc::startup_mark("ui");
    });
    // Start-up milestone: the first time the queue has callers on screen, whether they came
    // from the cache at start or from the first sync after sign-in. Effects run after the
    // render, so the queue is on screen by then. A prerendered queue was on screen at the
    // first paint, which `start` reports instead.
    let prerendered = first.queue_prerendered;
    use_effect_with(model.queue.is_empty(), move |empty| {
        if !*empty && !prerendered {
            ipc::startup_mark("queue");
        }
    });
    {
        let now = now.clone();
        use_effect_with((), move |_| {
            let tick = gloo_timers::callback::Interval::new(1000, move || now.set(now_ms()));
            move || drop(tick)
        });
    }
    {
        let (model, me) = (model.clone(), me.clone());
        use_effect_with((), move |_| {
            let d = model.dispatcher();
            ipc::subscribe(move |ev| {
                refresh(&d, me.get(), &ev);
                d.dispatch(Msg::Event(ev));
            });
            let d = model.dispatcher();
            wasm_bindgen_futures::spawn_local(async move {
                match ipc::state().await {
                    Ok(s) => d.dispatch(Msg::State(s)),
                    Err(e) => d.dispatch(Msg::Notice(Some(Notice {
                        text: e.to_string(),
                        error: true,
                    }))),
                }
            });
        });
    }
    {
        let (model, me) = (model.clone(), me.clone());
        use_effect_with(model.session.as_ref().map(|s| s.agent.id), move |id| {
            me.set(*id);
            if let Some(id) = *id {
                wasm_bindgen_futures::spawn_local(load(model.dispatcher(), id));
            }
        });
    }
    {
        // Confirmations fade after a few seconds; errors stay until dismissed.
        let model = model.clone();
        use_effect_with(model.notice.clone(), move |n| {
            let timer = n.as_ref().filter(|n| !n.error).map(|_| {
                let d = model.dispatcher();
                gloo_timers::callback::Timeout::new(4_000, move || d.dispatch(Msg::Notice(None)))
            });
            move || drop(timer)
        });
    }
    {
        // Shortcuts see the latest model: the listener is replaced whenever it changes.
        let model = model.clone();
        use_effect_with(model.clone(), move |_| {
            let ctx = model.clone();
            let cb = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
                if e.alt_key() && !e.ctrl_key() && !e.meta_key() {
                    let key = e.key().to_lowercase();
                    if matches!(key.as_str(), "a" | "h" | "e") {
                        e.prevent_default();
                        shortcut(&ctx, &key);
                    }
                }
            });
            let doc = web_sys::window().and_then(|w| w.document());
            if let Some(d) = &doc {
                let _ = d.add_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
            }
            move || {
                if let Some(d) = doc {
                    let _ = d.remove_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
                }
            }
        });
    }

    let body = if !model.loaded {
        html! { <div class="splash">{"Starting Switchboard…"}</div> }
    } else if model.session.is_none() {
        html! { <SignIn /> }
    } else {
        let page = match model.page() {
            Page::Console => html! {
                <div class="console">
                    <Queue />
                    <Softphone />
                    <aside class="side">
                        if let Some(d) = model.active.clone() {
                            <LeadCard detail={d.clone()} />
                            <Transcript detail={d} />
                        } else {
                            <section class="panel"><div class="empty">{"The caller's lead and the live transcript show here during a call."}</div></section>
                        }
                    </aside>
                </div>
            },
            Page::History => html! { <History /> },
            Page::Supervisor => html! { <Board /> },
            Page::Settings => html! { <Settings /> },
        };
        html! {
            <div class="app">
                <TopBar />
                if !model.connection.online {
                    <div class="banner offline" id="offline-banner" role="status">
                        <strong>{"Offline."}</strong>
                        { format!(" Showing saved calls{}. Answering and calling need the connection; notes and status changes are kept and sent when it returns.",
                            model.connection.last_sync_at.map(|t| format!(" (last synced {})", time_of_day(t))).unwrap_or_default()) }
                    </div>
                }
                <components::consult::ConsultOffers />
                if let Some(n) = model.notice.clone() {
                    <div class={classes!("notice", n.error.then_some("error"))} id="notice">
                        <span>{n.text}</span>
                        <button class="x" onclick={let m = model.clone(); Callback::from(move |_| m.dispatch(Msg::Notice(None)))}>{"×"}</button>
                    </div>
                }
                <main>{page}</main>
            </div>
        }
    };
    html! {
        <ContextProvider<Ctx> context={model.clone()}>
            <ContextProvider<Now> context={Now(*now)}>{body}</ContextProvider<Now>>
        </ContextProvider<Ctx>>
    }
}

/// Run the console in the page (wasm32's `main`).
pub fn start() {
    recover::install();
    // Start-up milestone: the module is fetched, compiled and running; the first render
    // is next.
    ipc::startup_mark("wasm");
    let prerendered = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(PRERENDERED));
    // The shell's prerender showed the cached queue in the page's own HTML.
    let queue_prerendered = prerendered
        .as_ref()
        .is_some_and(|e| e.query_selector(".queue-item").ok().flatten().is_some());
    ipc::report_first_paint(queue_prerendered);
    let first = First {
        boot: ipc::boot(),
        now: now_ms(),
        queue_prerendered,
    };
    // A page reloaded after a panic renders its own frame: the panic may have been this
    // frame's not matching (see `recover`).
    match (prerendered, first.boot.is_some() && recover::recovering() == 0) {
        // The shell's frame was made from this same cache read, so it has the elements
        // this first render would make (only the timers' text differs, and is set): the
        // module takes them over instead of building them again, and WebKit lays out and
        // paints the console once, not twice. Yew panics on an element that does not
        // match, so a first frame must depend on `First` alone: an element chosen by the
        // clock or by anything only the browser knows would stop the UI from starting.
        (Some(root), true) => drop(yew::Renderer::<App>::with_root_and_props(root, first).hydrate()),
        // Without that read the first render differs (hydration would fail on it), and
        // after a panic the frame is not trusted: it goes and the module makes its own.
        (Some(root), false) => {
            root.remove();
            drop(yew::Renderer::<App>::with_props(first).render());
        }
        (None, _) => drop(yew::Renderer::<App>::with_props(first).render()),
    }
}

/// The first frame `first` gives, as HTML, wrapped in the element [`start`] takes over.
/// `utc_offset_ms` is the local time zone's offset, for the times of day it shows (the
/// page reads its own from the browser).
#[cfg(feature = "ssr")]
pub async fn prerender(first: First, utc_offset_ms: i64) -> String {
    state::set_utc_offset(utc_offset_ms);
    // Hydratable: with the markers that let the module take the elements over.
    let inner = yew::LocalServerRenderer::<App>::with_props(first).render().await;
    // `display: contents`: the wrapper, which stays as the module's root, takes no box, so
    // the frame lays out as if it were the body's. `inert`: its buttons have no handlers
    // until the module has taken it over, so it takes no clicks, focus or typing before.
    format!(r#"<div id="{PRERENDERED}" inert style="display:contents">{inner}</div>"#)
}
