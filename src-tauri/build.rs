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
    link_flite_voice_early();
}

/// Debian's WebKitGTK links flite's voices for speech synthesis, and one of them,
/// libflite_cmu_time_awb, has ~31,000 relocations against its own symbols. The loader looks
/// each up through the process's global scope in order, where that voice came late (83rd of
/// 170 objects: a dependency of a dependency), so it alone made half of all the symbol
/// lookups before `main` (perf: the loader's `do_lookup_x` was most of the ~60 ms from exec
/// to `main`). Needed by us directly it is 19th, after our own libraries: in 12 alternating
/// starts of the two builds, the Tauri set-up came at 77 -> 59 ms after spawn and the first
/// paint at 410 -> 387 ms (medians). Only where WebKit needs it: a WebKit built without
/// flite gets no new dependency.
fn link_flite_voice_early() {
    const VOICE: &str = "libflite_cmu_time_awb.so.1";
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let Ok(out) = std::process::Command::new("pkg-config")
        .args(["--variable=libdir", "webkit2gtk-4.1"])
        .output()
    else {
        return;
    };
    let libdir = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let webkit = std::fs::read(libdir.join("libwebkit2gtk-4.1.so.0")).unwrap_or_default();
    // The library's name in WebKit's dynamic string table means WebKit needs it.
    let needed = webkit
        .windows(VOICE.len() + 1)
        .any(|w| w[..VOICE.len()] == *VOICE.as_bytes() && w[VOICE.len()] == 0);
    if needed && libdir.join(VOICE).exists() {
        // Not as-needed: nothing of ours calls it; it is here for its place in the order.
        println!("cargo:rustc-link-arg-bins=-Wl,--push-state,--no-as-needed,-l:{VOICE},--pop-state");
    }
}
