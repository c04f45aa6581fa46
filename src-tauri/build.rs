//! tauri-build reads `tauri.conf.json` beside this file: a symlink to the one at the
//! repository root (see the README). The UI must have been built into ui/dist; when it
//! has not (a plain `cargo check`), a placeholder page says how to build it.

fn main() {
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        std::fs::create_dir_all(dist).expect("create ui/dist");
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>Switchboard</title><p>The UI is not built: run <code>cargo xtask ui</code>.</p>",
        )
        .expect("write placeholder");
    }
    tauri_build::build();
}
