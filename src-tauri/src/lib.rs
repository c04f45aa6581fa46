//! # switchboard-desktop
//!
//! The Tauri shell: it builds a [`switchboard_agent::Console`] before the window opens,
//! exposes it through one-line [`commands`], and adds what only a desktop shell can: a
//! tray icon showing the agent's status, a notification for incoming calls, a single
//! running instance, and `tel:`/`sip:` links opening the dialer.
//!
//! The builder is generic over the Tauri runtime so it can be driven by `tauri::test`.

pub mod commands;
mod prerender;
pub mod probe;
mod tray;

use switchboard_agent::{Console, ConsoleConfig};
use switchboard_core::desktop::{Boot, UiEvent};
use tauri::{Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_plugin_notification::NotificationExt;

/// The keyring service the token is stored under.
pub const KEYRING_SERVICE: &str = "app.switchboard.desktop";

fn data_dir<R: Runtime>(app: &tauri::App<R>) -> std::path::PathBuf {
    // Tests and portable installs point this elsewhere.
    match std::env::var_os("SWITCHBOARD_DESKTOP_DATA_DIR") {
        Some(d) => d.into(),
        None => app
            .path()
            .app_data_dir()
            .unwrap_or_else(|_| std::env::temp_dir().join("switchboard")),
    }
}

/// React to backend events in the shell itself: tray status, incoming-call notification.
fn watch<R: Runtime>(app: &tauri::AppHandle<R>, console: &Console) {
    let app = app.clone();
    let me = console.clone();
    console.forward(move |ev| {
        match &ev {
            UiEvent::AgentChanged(agent) => {
                if me.signed_in_agent() == Some(agent.id) {
                    tray::show_status(&app, agent.status);
                }
            }
            UiEvent::IncomingCall { from, lead_name, .. } => {
                let body = match lead_name {
                    Some(name) => format!("{name} ({from})"),
                    None => from.clone(),
                };
                // Showing a notification is a synchronous D-Bus call that can hang for the
                // bus's activation timeout when the notification daemon is broken: keep it
                // off the event path. No daemon at all is worth a log line, not more.
                let app = app.clone();
                std::thread::spawn(move || {
                    if let Err(e) = app.notification().builder().title("Incoming call").body(body).show() {
                        tracing::debug!(error = %e, "notification not shown");
                    }
                });
            }
            _ => {}
        }
        true
    });
}

/// The window `tauri.conf.json` describes (with `create: false`), opened by us so the page
/// can carry the first frame: its HTML in the page's body ([`prerender`]), shown from the
/// first paint, and its data in `window.__SWITCHBOARD_BOOT__`, set before any of the UI's
/// code runs (see `ui/src/ipc.rs`, `boot`), from which the UI's first render takes that
/// frame over.
fn open_main_window<R: Runtime>(app: &tauri::App<R>, boot: &Boot) -> Result<(), Box<dyn std::error::Error>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == "main")
        .cloned()
        .ok_or("tauri.conf.json describes no \"main\" window")?;
    // JSON is a JavaScript expression: no escaping beyond serde_json's is needed.
    let script = format!("window.__SWITCHBOARD_BOOT__ = {};", serde_json::to_string(boot)?);
    let frame = prerender::first_frame(boot, probe::unix_ms() as i64, prerender::utc_offset_ms());
    if frame.is_none() {
        tracing::warn!("the first frame could not be prerendered: the page starts empty");
    }
    #[cfg(debug_assertions)]
    let frame = mismatched_for_tests(frame);
    probe::mark("prerender");
    // Whether `SHOW_AFTER_LOAD`'s rule has shown the window (page loaded, or too late).
    let shown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shown_late = shown.clone();
    let window = tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?
        .initialization_script(script)
        .on_web_resource_request(move |request, response| {
            let page = matches!(request.uri().path(), "/" | "/index.html");
            if let (true, Some(frame)) = (page, &frame) {
                if let Some(body) = prerender::into_page(response.body(), frame) {
                    *response.body_mut() = body.into();
                }
            }
        })
        // See `SHOW_AFTER_LOAD`.
        .visible(!SHOW_AFTER_LOAD)
        .on_page_load(move |window, payload| {
            if payload.event() == tauri::webview::PageLoadEvent::Finished {
                probe::mark("page");
                // Once: a reload (after a UI panic) must not bring back a window the agent hid.
                show_once(&shown, &window);
            }
        })
        .build()?;
    lighten(&window);
    if SHOW_AFTER_LOAD {
        // A page that never finishes loading must not leave the agent without a window.
        let late = window.clone();
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(SHOW_AT_THE_LATEST).await;
            if show_once(&shown_late, &late) {
                tracing::warn!("the page had not loaded after {SHOW_AT_THE_LATEST:?}: window shown anyway");
            }
        });
    }
    Ok(())
}

/// On Linux the window stays hidden until its page has loaded. Mapped at once, in 5 of 14
/// starts on this project's build machine the app's main thread sat 500 ms in a timed wait
/// inside WebKitGTK's first draw of the view (gdb), while the web process waited as long
/// for that thread (perf sched), which also serves the page (our `tauri://` scheme): first
/// paint ~780 ms instead of ~250. Shown once the page has loaded: 0 of 14, and the window
/// appears already painted.
const SHOW_AFTER_LOAD: bool = cfg!(target_os = "linux");
/// When the window is shown even if its page has not loaded.
const SHOW_AT_THE_LATEST: std::time::Duration = std::time::Duration::from_secs(3);

/// Show `window` unless `shown` says it was shown already; answers whether this call did.
fn show_once<R: Runtime>(shown: &std::sync::atomic::AtomicBool, window: &tauri::WebviewWindow<R>) -> bool {
    if shown.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return false;
    }
    if let Err(e) = window.show() {
        tracing::warn!(error = %e, "could not show the window");
    }
    true
}

/// Debug builds only: with `SWITCHBOARD_TEST_FRAME_MISMATCH` set, the prerendered frame
/// starts with an element the UI does not make, so the UI cannot take the frame over and
/// panics. A window test sees it recover (`ui/src/recover.rs`).
#[cfg(debug_assertions)]
fn mismatched_for_tests(frame: Option<String>) -> Option<String> {
    if std::env::var_os("SWITCHBOARD_TEST_FRAME_MISMATCH").is_none() {
        return frame;
    }
    frame.map(|f| f.replacen('>', r#"><p class="not-from-the-ui"></p>"#, 1))
}

/// WebKitGTK is tuned for a browser by default: caches for back/forward navigation and for
/// pages visited again. This window shows one page for a whole shift, so those caches have
/// nothing to keep (in `bench desktop` they were worth ~3 MiB, within its noise).
#[cfg(target_os = "linux")]
fn lighten<R: Runtime>(window: &tauri::WebviewWindow<R>) {
    let result = window.with_webview(|webview| {
        use webkit2gtk::{CacheModel, SettingsExt, WebContextExt, WebViewExt};
        let view = webview.inner();
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_enable_page_cache(false);
        }
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not apply the WebKit memory settings");
    }
}

#[cfg(not(target_os = "linux"))]
fn lighten<R: Runtime>(_window: &tauri::WebviewWindow<R>) {}

/// How WebKit draws, chosen before it starts. WebKit reads these variables in the app and
/// in its web process, which inherits our environment; a value set by whoever launches us
/// is kept, so `=0` brings WebKit's default back.
///
/// - `WEBKIT_DISABLE_COMPOSITING_MODE=1`: the page is painted straight into the window on
///   the CPU instead of composited in GL layers. Under Mesa's software GL, what machines
///   without a GPU (virtual desktops, VMs) run, the compositor's GL surfaces, textures and
///   threads cost the web process ~58 MiB PSS (168 -> 110 MiB on the sign-in page). This
///   console is text and a few bars: nothing in it needs GL layers. (An earlier look took this mode
///   for frozen windows under Xvfb: it was WebDriver's screenshot, `get_snapshot`, that
///   never returns in it; the window paints, and the tests now read the screen from X.)
/// - `WEBKIT_SKIA_ENABLE_CPU_RENDERING=1`: when compositing is on after all (the launcher
///   set the first to 0), Skia paints the layers on the CPU, which for this page is
///   nearly as fast as its GPU painter, whose GL context and worker cost the web process
///   ~33 MiB PSS under software GL.
/// - `GDK_GL=disable`, only while compositing stays off: GDK's X11 backend otherwise sets
///   up GLX when it opens the display, to choose the window's visuals for GL, though
///   nothing in a window that WebKit paints on the CPU draws with GDK's GL. Under Mesa's
///   software GL that set-up cost the app ~50 ms of its start (GTK ready at 80-110 ms
///   instead of 120-165 ms, the queue painted ~50 ms sooner; memory within 2 MiB, since
///   WebKit still opens its own EGL display). With compositing on, WebKit's UI process
///   draws the page's layers through GDK's GL, so GDK keeps it.
/// - `WEBKIT_DISABLE_DMABUF_RENDERER=1` and `WEBKIT_WEB_RENDER_DEVICE_FILE`, only while
///   compositing stays off: to hand its web process a GPU device and the DMA-BUF formats
///   for composited layers, the app's own process otherwise opens an EGL display when the
///   page starts to load, and under Mesa that loads its GL driver and LLVM into the app.
///   A page painted on the CPU uses neither, and the web process opens its own display
///   anyway. Naming the device ([`render_device`]) and turning that renderer off spares the
///   app the display: in `bench desktop`, in turns with the build before, the window was
///   made 60-83 ms sooner, the queue was visible 0.87-0.91x as late, and the app's
///   processes took 22 MiB less PSS when idle (0.91x).
#[cfg(target_os = "linux")]
fn webkit_defaults() {
    // GLib's setenv, like std's, must not race another thread reading the environment:
    // `run` calls this before the process has started any thread.
    let set_default = |var: &str, value: &str| {
        if let Err(e) = webkit2gtk::glib::setenv(var, value, false) {
            tracing::warn!(error = %e, var, "could not set a WebKit default");
        }
    };
    set_default("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    set_default("WEBKIT_SKIA_ENABLE_CPU_RENDERING", "1");
    if compositing_off(std::env::var("WEBKIT_DISABLE_COMPOSITING_MODE").ok().as_deref()) {
        set_default("GDK_GL", "disable");
        set_default("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
        let nodes = std::fs::read_dir("/dev/dri")
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        set_default("WEBKIT_WEB_RENDER_DEVICE_FILE", &render_device(nodes));
    }
}

/// The GPU device WebKit's web process is told to use, given the names in `/dev/dri`: the
/// first render node (on a machine with one GPU, the one WebKit finds through EGL), or
/// `/dev/null` when the machine has none (no GPU: nothing could be rendered on one). WebKit only looks for a device
/// itself when this is unset or empty.
#[cfg(target_os = "linux")]
fn render_device(names: Vec<String>) -> String {
    // The lowest number (renderD128 before renderD1000, which its name sorts before).
    let first = names
        .into_iter()
        .filter_map(|n| {
            let number = n.strip_prefix("renderD")?.parse::<u32>().ok()?;
            Some((number, n))
        })
        .min();
    first.map_or_else(|| "/dev/null".to_owned(), |(_, n)| format!("/dev/dri/{n}"))
}

/// Does WebKit paint without compositing, given `WEBKIT_DISABLE_COMPOSITING_MODE`? As
/// WebKitGTK reads it: set to anything but "0".
#[cfg(target_os = "linux")]
fn compositing_off(value: Option<&str>) -> bool {
    value.is_some_and(|v| v != "0")
}

#[cfg(not(target_os = "linux"))]
fn webkit_defaults() {}

/// The app, ready to run.
pub fn builder<R: Runtime>() -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            // A second launch (often with a tel: link) focuses this window instead.
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.unminimize();
                let _ = w.set_focus();
            }
            if let Some(link) = argv.iter().find(|a| a.starts_with("tel:") || a.starts_with("sip:")) {
                app.state::<Console>().request_dial(link);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            probe::mark("setup");
            let dir = data_dir(app);
            let console = tauri::async_runtime::block_on(async {
                let console = Console::open(ConsoleConfig {
                    data_dir: dir,
                    keyring_service: KEYRING_SERVICE.into(),
                })
                .await?;
                // Machines without sound (CI, kiosks): files as microphone and speaker.
                if let (Ok(mic), Ok(speaker)) = (
                    std::env::var("SWITCHBOARD_AUDIO_WAV_IN"),
                    std::env::var("SWITCHBOARD_AUDIO_WAV_OUT"),
                ) {
                    console.set_audio_setup(switchboard_agent::AudioSetup::Wav {
                        mic: mic.into(),
                        speaker: speaker.into(),
                    });
                }
                // Provisioning (demo, kiosk): sign in from the environment once; the token
                // then lives in the keyring like any other sign-in.
                let provisioned = match (
                    std::env::var("SWITCHBOARD_SIGN_IN_URL"),
                    std::env::var("SWITCHBOARD_SIGN_IN_TOKEN"),
                ) {
                    (Ok(url), Ok(token)) => match console.sign_in(&url, &token).await {
                        Ok(_) => true,
                        Err(e) => {
                            tracing::warn!(error = %e, "provisioned sign-in failed");
                            false
                        }
                    },
                    _ => false,
                };
                // Offline start is fine: the cache shows at once and sync catches up.
                if !provisioned {
                    if let Err(e) = console.resume_session().await {
                        tracing::warn!(error = %e, "could not restore the last session");
                    }
                }
                Ok::<_, switchboard_core::desktop::DesktopError>(console)
            })?;
            probe::mark("console");
            // The cache is read once here and handed to the page with its scripts, so the
            // first frame already shows the queue; a broken cache starts empty instead.
            let boot = tauri::async_runtime::block_on(console.boot()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not read the cache for the first frame");
                Boot::default()
            });
            probe::mark("boot");
            open_main_window(app, &boot)?;
            probe::mark("window");
            let status = boot.state.session.as_ref().map(|s| s.agent.status);
            tray::create(app.handle(), status)?;
            watch(app.handle(), &console);
            let links = console.clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    links.request_dial(url.as_str());
                }
            });
            // Links that launched us.
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                for url in urls {
                    console.request_dial(url.as_str());
                }
            }
            app.manage(console);
            probe::mark("ready");
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::console_state,
            commands::sign_in,
            commands::sign_in_for_session,
            commands::sign_out,
            commands::subscribe,
            commands::queue,
            commands::history,
            commands::call_detail,
            commands::numbers,
            commands::agents,
            commands::preferred_number,
            commands::answer,
            commands::hold,
            commands::resume_call,
            commands::end_call,
            commands::transfer,
            commands::floor,
            commands::monitor,
            commands::stop_monitor,
            commands::consult,
            commands::consult_step,
            commands::dtmf,
            commands::record,
            commands::dial,
            commands::set_status,
            commands::wrap_up,
            commands::set_muted,
            commands::audio_devices,
            commands::set_audio_device,
            commands::startup_mark,
            commands::ui_panicked,
        ])
}

/// Run the desktop app.
pub fn run() {
    probe::start();
    let log = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| "info".into()),
    );
    // A launcher (or WebDriver, in the window tests) may drop the app's output: the log can
    // go to a file instead, appended to so that a restart keeps the run before it.
    let file = std::env::var_os("SWITCHBOARD_LOG_FILE").and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .inspect_err(|e| eprintln!("cannot log to {}: {e}; logging to stdout", path.to_string_lossy()))
            .ok()
    });
    match file {
        Some(file) => log.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init(),
        None => log.init(),
    }
    // Before any thread starts (the environment is written) and after the log is set up.
    webkit_defaults();
    builder::<tauri::Wry>()
        .run(tauri::generate_context!())
        .expect("the desktop app failed to start");
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{compositing_off, render_device};

    #[test]
    fn the_render_device_is_the_first_render_node_or_none() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            render_device(names(&["card0", "renderD129", "by-path", "renderD128"])),
            "/dev/dri/renderD128"
        );
        assert_eq!(
            render_device(names(&["renderD1000", "renderD200"])),
            "/dev/dri/renderD200"
        );
        assert_eq!(render_device(names(&["card0", "by-path"])), "/dev/null");
        assert_eq!(render_device(Vec::new()), "/dev/null");
    }

    #[test]
    fn compositing_is_off_for_any_value_but_zero() {
        assert!(compositing_off(Some("1")));
        assert!(compositing_off(Some("true")));
        assert!(!compositing_off(Some("0")));
        assert!(!compositing_off(None));
    }
}
