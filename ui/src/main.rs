//! The page's entry point: everything is in the library (`lib.rs`), which the shell also
//! builds natively for its prerender.

fn main() {
    switchboard_ui::start();
}
