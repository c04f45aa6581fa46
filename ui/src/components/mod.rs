//! Screens and panels. Each reads the shared model from context and changes it only by
//! dispatching messages or calling typed commands.

pub mod board;
pub mod consult;
pub mod dialer;
pub mod history;
pub mod lead;
pub mod queue;
pub mod settings;
pub mod signin;
pub mod softphone;
pub mod topbar;

use std::future::Future;

use switchboard_core::desktop::DesktopError;
use yew::prelude::*;

use crate::state::{Model, Msg, Notice};

/// The model, shared by every component.
pub type Ctx = UseReducerHandle<Model>;

/// Current time, ticking once a second (waiting and talk timers).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Now(pub i64);

#[hook]
pub fn use_ctx() -> Ctx {
    use_context::<Ctx>().expect("components are rendered inside the app's context provider")
}

#[hook]
pub fn use_now() -> i64 {
    use_context::<Now>().map_or(0, |n| n.0)
}

/// Run a command; on success hand the value to `ok`, on failure show the error.
pub fn run<T: 'static>(
    ctx: &Ctx,
    fut: impl Future<Output = Result<T, DesktopError>> + 'static,
    ok: impl FnOnce(T) + 'static,
) {
    let ctx = ctx.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match fut.await {
            Ok(v) => ok(v),
            Err(e) => ctx.dispatch(Msg::Notice(Some(Notice {
                text: e.to_string(),
                error: true,
            }))),
        }
    });
}

/// Read an input's value from an event (`change` or `input`).
pub fn input_value(e: &Event) -> String {
    use wasm_bindgen::JsCast;
    let target = e.target();
    if let Some(i) = target
        .clone()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        return i.value();
    }
    if let Some(s) = target
        .clone()
        .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
    {
        return s.value();
    }
    target
        .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
        .map(|t| t.value())
        .unwrap_or_default()
}
