//! What the UI does when its code panics. Built with `panic = "abort"`, a panic stops the
//! module for good: without this the agent would be left with a console that shows the
//! last frame and answers no click, and nobody would learn why. Instead the panic is sent
//! to the shell's log and the page reloads, which starts the module afresh (the backend
//! and the call keep running: they live in the shell). A reloaded page does not take the
//! shell's prerendered frame over but renders its own, since a frame its code did not
//! match is the one panic a reload alone would meet again ([`recovering`]).
//!
//! A panic that comes back at once would reload forever: after [`MAX_RELOADS`] in a row the
//! page says what happened instead. The count is kept in the page's session storage (it
//! survives a reload, not a restart of the app) and clears once the UI has run for
//! [`HEALTHY_AFTER_MS`] without one.
//!
//! Once the module has panicked nothing of it may run again, so what happens after the
//! panic is plain JavaScript, built before the abort and owning no Rust state.

use js_sys::Function;
use wasm_bindgen::JsValue;

/// Where the count of reloads in a row is kept.
const KEY: &str = "switchboard.recoveries";
/// Reloads in a row before the page gives up.
pub const MAX_RELOADS: u32 = 3;
/// How long the UI runs without a panic before the count clears.
const HEALTHY_AFTER_MS: i32 = 60_000;

/// What runs after a panic: the body of a function of (key, message, attempt, max).
const AFTER_PANIC: &str = include_str!("after_panic.js");

/// Reloads in a row so far (0 on a page that did not come from one).
pub fn recovering() -> u32 {
    web_sys::window()
        .and_then(|w| w.session_storage().ok().flatten())
        .and_then(|s| s.get_item(KEY).ok().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Catch the module's panics from now on (see the module doc), and clear the count of
/// reloads once the UI has run for a while without one.
pub fn install() {
    // Through Yew: a Renderer replaces any hook not set this way with its own.
    yew::set_custom_panic_hook(Box::new(|info| after_panic(&info.to_string())));
    let clear = Function::new_with_args("key", "try { sessionStorage.removeItem(key); } catch (e) {}");
    if let Some(w) = web_sys::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_1(&clear, HEALTHY_AFTER_MS, &JsValue::from_str(KEY));
    }
}

fn after_panic(message: &str) {
    web_sys::console::error_1(&JsValue::from_str(message));
    let attempt = recovering() + 1;
    let then = Function::new_with_args("key, message, attempt, max", AFTER_PANIC);
    let args = js_sys::Array::of4(
        &JsValue::from_str(KEY),
        &JsValue::from_str(message),
        &JsValue::from(attempt),
        &JsValue::from(MAX_RELOADS),
    );
    let _ = then.apply(&JsValue::NULL, &args);
}
