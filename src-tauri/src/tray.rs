//! The tray icon: a dot in the agent's status colour, the status in the tooltip, and a menu
//! to bring the window back or quit.

use switchboard_core::AgentStatus;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

const TRAY_ID: &str = "status";

fn label(status: Option<AgentStatus>) -> &'static str {
    match status {
        Some(AgentStatus::Available) => "Available",
        Some(AgentStatus::Busy) => "Busy",
        Some(AgentStatus::WrapUp) => "Wrap-up",
        Some(AgentStatus::Away) => "Away",
        Some(AgentStatus::Offline) | None => "Offline",
    }
}

/// A 32x32 dot in the status colour, drawn here so no image files are needed per status.
fn dot(status: Option<AgentStatus>) -> Image<'static> {
    let (r, g, b) = match status {
        Some(AgentStatus::Available) => (0x1f, 0x8a, 0x4c),
        Some(AgentStatus::Busy | AgentStatus::WrapUp) => (0xd9, 0x8e, 0x1a),
        Some(AgentStatus::Away) => (0x7a, 0x84, 0x94),
        Some(AgentStatus::Offline) | None => (0xb0, 0xb6, 0xc0),
    };
    let size = 32u32;
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x as f32 - 15.5, y as f32 - 15.5);
            let d = (dx * dx + dy * dy).sqrt();
            // Anti-aliased edge.
            let alpha = ((13.0 - d).clamp(0.0, 1.0) * 255.0) as u8;
            rgba.extend_from_slice(&[r, g, b, alpha]);
        }
    }
    Image::new_owned(rgba, size, size)
}

/// Create the tray icon.
pub fn create<R: Runtime>(app: &AppHandle<R>, status: Option<AgentStatus>) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Switchboard", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &quit])?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(dot(status))
        .tooltip(format!("Switchboard — {}", label(status)))
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "show" => {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.show();
                    let _ = w.set_focus();
                }
            }
            "quit" => app.exit(0),
            _ => {}
        })
        .build(app)?;
    Ok(())
}

/// Show a new status.
pub fn show_status<R: Runtime>(app: &AppHandle<R>, status: AgentStatus) {
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_icon(Some(dot(Some(status))));
        let _ = tray.set_tooltip(Some(format!("Switchboard — {}", label(Some(status)))));
    }
}
