//! One typed function per Tauri command. The UI never talks to the network: everything
//! goes through these, with core's types on both sides.

use js_sys::{Function, Object, Reflect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_core::api::{CallDetail, RecordingAction, TransferTarget};
use switchboard_core::desktop::{Boot, CallSummary, ConsoleState, DesktopError, DialRequest, Session, UiEvent};
use switchboard_core::{Agent, AgentStatus, CallRecord, CallSid, LeadId, NumberId, PhoneNumber};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    async fn tauri_invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;
}

fn to_js<T: Serialize>(v: &T) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::UNDEFINED)
}

async fn invoke<A: Serialize, R: DeserializeOwned>(cmd: &str, args: &A) -> Result<R, DesktopError> {
    match tauri_invoke(cmd, to_js(args)).await {
        Ok(v) => serde_wasm_bindgen::from_value(v)
            .map_err(|e| DesktopError::Invalid(format!("unexpected reply to {cmd}: {e}"))),
        Err(e) => Err(serde_wasm_bindgen::from_value::<DesktopError>(e.clone())
            .unwrap_or_else(|_| DesktopError::Invalid(e.as_string().unwrap_or_else(|| format!("{cmd} failed"))))),
    }
}

#[derive(Serialize)]
struct None_ {}

#[derive(Serialize)]
struct Sid<'a> {
    call_sid: &'a CallSid,
}

/// The first frame's data, put on the page by the shell before any of our code runs
/// (src-tauri's `open_main_window`); `None` when absent or unreadable, and the UI then
/// waits for [`state`] as before.
pub fn boot() -> Option<Boot> {
    let v = Reflect::get(&js_sys::global(), &JsValue::from_str("__SWITCHBOARD_BOOT__")).ok()?;
    if v.is_undefined() || v.is_null() {
        return None;
    }
    serde_wasm_bindgen::from_value(v).ok()
}

pub async fn state() -> Result<ConsoleState, DesktopError> {
    invoke("console_state", &None_ {}).await
}

pub async fn sign_in(gateway_url: String, token: String) -> Result<Session, DesktopError> {
    #[derive(Serialize)]
    struct A {
        gateway_url: String,
        token: String,
    }
    invoke("sign_in", &A { gateway_url, token }).await
}

/// Sign in without the keyring: the token stays in memory until the app quits.
pub async fn sign_in_for_session(gateway_url: String, token: String) -> Result<Session, DesktopError> {
    #[derive(Serialize)]
    struct A {
        gateway_url: String,
        token: String,
    }
    invoke("sign_in_for_session", &A { gateway_url, token }).await
}

pub async fn sign_out() -> Result<(), DesktopError> {
    invoke("sign_out", &None_ {}).await
}

pub async fn queue() -> Result<Vec<CallSummary>, DesktopError> {
    invoke("queue", &None_ {}).await
}

pub async fn history(search: String) -> Result<Vec<CallSummary>, DesktopError> {
    #[derive(Serialize)]
    struct A {
        search: String,
    }
    invoke("history", &A { search }).await
}

pub async fn call_detail(call_sid: CallSid) -> Result<CallDetail, DesktopError> {
    invoke("call_detail", &Sid { call_sid: &call_sid }).await
}

pub async fn numbers() -> Result<Vec<PhoneNumber>, DesktopError> {
    invoke("numbers", &None_ {}).await
}

pub async fn agents() -> Result<Vec<Agent>, DesktopError> {
    invoke("agents", &None_ {}).await
}

pub async fn preferred_number(lead_id: Option<LeadId>) -> Result<Option<NumberId>, DesktopError> {
    #[derive(Serialize)]
    struct A {
        lead_id: Option<LeadId>,
    }
    invoke("preferred_number", &A { lead_id }).await
}

/// answer, hold, resume_call, end_call.
pub async fn act(command: &'static str, call_sid: CallSid) -> Result<CallRecord, DesktopError> {
    invoke(command, &Sid { call_sid: &call_sid }).await
}

pub async fn transfer(call_sid: CallSid, to: TransferTarget) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        to: TransferTarget,
    }
    invoke("transfer", &A { call_sid, to }).await
}

pub async fn floor() -> Result<switchboard_core::floor::Floor, DesktopError> {
    invoke("floor", &None_ {}).await
}

pub async fn monitor(call_sid: CallSid, mode: switchboard_core::MonitorMode) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        mode: switchboard_core::MonitorMode,
    }
    invoke("monitor", &A { call_sid, mode }).await
}

pub async fn consult(call_sid: CallSid, to: TransferTarget) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        to: TransferTarget,
    }
    invoke("consult", &A { call_sid, to }).await
}

pub async fn consult_step(call_sid: CallSid, step: switchboard_core::ConsultStep) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        step: switchboard_core::ConsultStep,
    }
    invoke("consult_step", &A { call_sid, step }).await
}

pub async fn dtmf(call_sid: CallSid, digits: String) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        digits: String,
    }
    invoke("dtmf", &A { call_sid, digits }).await
}

pub async fn record(call_sid: CallSid, action: RecordingAction) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        action: RecordingAction,
    }
    invoke("record", &A { call_sid, action }).await
}

pub async fn dial(request: DialRequest) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        request: DialRequest,
    }
    invoke("dial", &A { request }).await
}

pub async fn set_status(status: AgentStatus) -> Result<Agent, DesktopError> {
    #[derive(Serialize)]
    struct A {
        status: AgentStatus,
    }
    invoke("set_status", &A { status }).await
}

pub async fn wrap_up(call_sid: CallSid, disposition: String, notes: String) -> Result<CallRecord, DesktopError> {
    #[derive(Serialize)]
    struct A {
        call_sid: CallSid,
        disposition: String,
        notes: String,
    }
    invoke(
        "wrap_up",
        &A {
            call_sid,
            disposition,
            notes,
        },
    )
    .await
}

pub async fn audio_devices() -> Result<switchboard_core::desktop::AudioDeviceList, DesktopError> {
    invoke("audio_devices", &None_ {}).await
}

pub async fn set_audio_device(input: bool, name: Option<String>) -> Result<(), DesktopError> {
    #[derive(Serialize)]
    struct A {
        input: bool,
        name: Option<String>,
    }
    invoke("set_audio_device", &A { input, name }).await
}

pub async fn set_muted(muted: bool) -> Result<bool, DesktopError> {
    #[derive(Serialize)]
    struct A {
        muted: bool,
    }
    invoke("set_muted", &A { muted }).await
}

/// Open the event channel: every [`UiEvent`] from the backend calls `on_event`.
pub fn subscribe(on_event: impl Fn(UiEvent) + 'static) {
    let setup = || -> Result<JsValue, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let core = Reflect::get(&Reflect::get(&window, &"__TAURI__".into())?, &"core".into())?;
        let ctor: Function = Reflect::get(&core, &"Channel".into())?.dyn_into()?;
        let channel = Reflect::construct(&ctor, &js_sys::Array::new())?;
        let cb = Closure::<dyn FnMut(JsValue)>::new(move |msg: JsValue| {
            match serde_wasm_bindgen::from_value::<UiEvent>(msg) {
                Ok(ev) => on_event(ev),
                Err(e) => web_sys::console::warn_1(&format!("unreadable event: {e}").into()),
            }
        });
        Reflect::set(&channel, &"onmessage".into(), cb.as_ref())?;
        // The channel lives as long as the window.
        cb.forget();
        let args = Object::new();
        Reflect::set(&args, &"on_event".into(), &channel)?;
        Ok(args.into())
    };
    match setup() {
        Ok(args) => wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = tauri_invoke("subscribe", args).await {
                web_sys::console::error_1(&e);
            }
        }),
        Err(e) => web_sys::console::error_1(&e),
    }
}

/// Tell the shell a start-up milestone was reached now (for the start-up benchmark). The
/// page's clock is read here and goes with it, so the time the message takes to arrive is
/// not counted.
pub fn startup_mark(label: &'static str) {
    startup_mark_at(label, js_sys::Date::now());
}

fn startup_mark_at(label: &'static str, at: f64) {
    #[derive(Serialize)]
    struct A {
        label: &'static str,
        at: f64,
    }
    wasm_bindgen_futures::spawn_local(async move {
        let _ = invoke::<_, ()>("startup_mark", &A { label, at }).await;
    });
}

/// Report WebKit's own first contentful paint as the "paint" milestone: when the first
/// frame's pixels were painted, which an effect (run after Yew yields to the browser) only
/// bounds from above. With `queue_too` (the page's HTML carried the cached queue) it is
/// the "queue" milestone as well. Call before the first render.
pub fn report_first_paint(queue_too: bool) {
    use web_sys::{PerformanceEntry, PerformanceObserver, PerformanceObserverEntryList, PerformanceObserverInit};
    let report = move |entry: JsValue| -> bool {
        let origin = web_sys::window().and_then(|w| w.performance()).map(|p| p.time_origin());
        match (origin, entry.dyn_into::<PerformanceEntry>()) {
            (Some(origin), Ok(entry)) => {
                startup_mark_at("paint", origin + entry.start_time());
                if queue_too {
                    startup_mark_at("queue", origin + entry.start_time());
                }
                true
            }
            _ => false,
        }
    };
    // A prerendered page is usually painted before the module runs, and an observer given
    // entry types sees only what comes after it.
    let name = "first-contentful-paint";
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        if report(p.get_entries_by_name(name).get(0)) {
            return;
        }
    }
    let seen = Closure::<dyn FnMut(PerformanceObserverEntryList, PerformanceObserver)>::new(
        move |list: PerformanceObserverEntryList, observer: PerformanceObserver| {
            if report(list.get_entries_by_name(name).get(0)) {
                observer.disconnect();
            }
        },
    );
    let types = js_sys::Array::of1(&JsValue::from_str("paint"));
    match PerformanceObserver::new(seen.as_ref().unchecked_ref()) {
        Ok(observer) => {
            observer.observe(&PerformanceObserverInit::new(&types));
            // It lives as long as the page: its one report comes once.
            seen.forget();
        }
        // A WebView without Paint Timing: the benchmark says so.
        Err(e) => web_sys::console::warn_1(&e),
    }
}
