//! Compiles the shim against the system's libwebrtc-audio-processing (Debian package
//! `libwebrtc-audio-processing-dev`, which `cargo xtask setup` installs) and links it.

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cc");
    let library = pkg_config::Config::new()
        .atleast_version("0.3")
        .probe("webrtc-audio-processing")
        .unwrap_or_else(|e| {
            panic!(
                "libwebrtc-audio-processing not found ({e}); on Debian: apt-get install libwebrtc-audio-processing-dev"
            )
        });
    let mut build = cc::Build::new();
    // The library's header has an unused parameter; the warning is about its code, not ours.
    build
        .cpp(true)
        .file("src/shim.cc")
        .flag_if_supported("-std=c++11")
        .flag_if_supported("-Wno-unused-parameter");
    for path in &library.include_paths {
        build.include(path);
    }
    for (name, value) in &library.defines {
        build.define(name, value.as_deref());
    }
    build.compile("switchboard_apm_shim");
}
