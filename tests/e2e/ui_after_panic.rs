//! What the UI's page does once the UI's code has panicked (`ui/src/after_panic.js`, run
//! by `ui/src/recover.rs`), run in Node with the few browser objects it touches stubbed:
//! it reports the panic to the shell, then reloads, and past the limit of reloads in a row
//! puts a message on the page instead, whether or not the report got through. The window
//! test `desktop_console` sees the reload recover a real UI; this covers the paths a real
//! window does not reach (giving up, a report that fails).

#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs the script's body as the page would (key, message, attempt, max = 3), with the
/// report answered `ok` or refused; prints what it did as JSON once its timers have run.
const HARNESS: &str = r#"
const body = require("fs").readFileSync(process.env.SCRIPT, "utf8");
const attempt = Number(process.env.ATTEMPT), ok = process.env.REPORT === "ok";
const stored = {}, did = [];
globalThis.sessionStorage = { setItem: (k, v) => { stored[k] = v; } };
globalThis.location = { reload: () => did.push("reload") };
globalThis.document = {
  createElement: (tag) => ({ tag, style: {}, setAttribute(k, v) { this[k] = v; }, append(...c) { this.children = c; } }),
  body: { replaceChildren: (p) => did.push({ shown: p.id, role: p.role, text: p.children.map((c) => c.textContent) }) },
};
globalThis.window = { __TAURI__: { core: { invoke: (cmd, args) => {
  did.push({ invoked: cmd, args });
  return ok ? Promise.resolve(null) : Promise.reject(new Error("no such command"));
} } } };
const timers = [];
globalThis.setTimeout = (f, ms) => timers.push([f, ms]);
new Function("key, message, attempt, max", body)("switchboard.recoveries", "panicked at x.rs:1:1:\nboom", attempt, 3);
setImmediate(() => {
  for (const [f] of timers) f();
  console.log(JSON.stringify({ stored, did, timers: timers.map(([, ms]) => ms) }));
});
"#;

fn after_panic(attempt: u32, report: &str) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/after_panic.js");
    let out = Command::new("node")
        .arg("-e")
        .arg(HARNESS)
        .env("SCRIPT", &script)
        .env("ATTEMPT", attempt.to_string())
        .env("REPORT", report)
        .output()
        .expect("node (cargo xtask setup installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_panic_is_reported_then_the_page_reloads_up_to_three_times_then_says_so() {
    for attempt in 1..=3 {
        let v = after_panic(attempt, "ok");
        assert_eq!(v["stored"]["switchboard.recoveries"], attempt.to_string(), "{v}");
        assert_eq!(v["did"][0]["invoked"], "ui_panicked", "{v}");
        assert_eq!(v["did"][0]["args"]["attempt"], attempt, "{v}");
        assert!(v["did"][0]["args"]["message"].as_str().unwrap().contains("boom"), "{v}");
        // Once, though both the answer and the 2 s fallback come.
        assert_eq!(v["did"][1], "reload", "{v}");
        assert_eq!(v["did"].as_array().unwrap().len(), 2, "{v}");
        assert_eq!(v["timers"], serde_json::json!([2000]), "{v}");
    }
    let v = after_panic(4, "ok");
    assert_eq!(v["did"][1]["shown"], "ui-failed", "{v}");
    assert_eq!(v["did"][1]["role"], "alert", "{v}");
    let text = v["did"][1]["text"].to_string();
    assert!(text.contains("restarted 3 times") && text.contains("boom"), "{v}");
    assert!(!v["did"].to_string().contains("reload"), "no fourth reload: {v}");
}

#[test]
fn a_report_that_fails_still_reloads() {
    let v = after_panic(1, "refused");
    assert_eq!(v["did"][0]["invoked"], "ui_panicked", "{v}");
    assert_eq!(v["did"][1], "reload", "{v}");
    assert_eq!(v["did"].as_array().unwrap().len(), 2, "{v}");
}
