//! # switchboard-e2e
//!
//! Cross-process tests live in `e2e/`: they start the gateway binary, an X server, the
//! desktop app through tauri-driver, and drive the window like an agent would. The
//! library is empty on purpose; the tests are the point.
