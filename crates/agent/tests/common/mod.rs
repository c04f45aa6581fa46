//! Agent test harness: a real gateway process (shared harness of the gateway's tests), a
//! console on a temp data dir, and the real OS keyring (a Secret Service on the session
//! bus; `cargo xtask test` provides one headless).

#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../gateway/tests/support/mod.rs"]
pub mod gw;

use std::time::Duration;

use switchboard_agent::{Console, ConsoleConfig};
use switchboard_core::desktop::UiEvent;

/// The Secret Service must be reachable; say how to get one instead of skipping.
pub fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests use the real OS keyring: run them with `cargo xtask test` (it starts a D-Bus session \
         with an unlocked gnome-keyring), or inside your desktop session"
    );
}

/// A gateway process with one seeded business; restartable on the same port.
pub struct World {
    pub db: gw::TestDb,
    pub seeded: switchboard_gateway::demo::Seeded,
    pub token: String,
    pub bob_token: String,
    pub dir: tempfile::TempDir,
    pub secrets: tempfile::TempDir,
    pub bind: String,
    pub gateway: Option<gw::GatewayProcess>,
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(gw::quiet_sim()).await
    }

    /// With real call audio: the simulator's callers are WebRTC peers on loopback.
    pub async fn start_with_media() -> Self {
        let mut sim = gw::quiet_sim();
        let recordings = std::env::temp_dir().join(format!("sb-recordings-{}", ulid::Ulid::new()));
        sim["media"] = serde_json::json!({ "recordings_dir": recordings, "loopback_only": true });
        Self::start_with(sim).await
    }

    /// With call audio, the gateway inside network namespace `netns` at `ip`.
    pub async fn start_in(netns: &str, ip: &str) -> Self {
        let mut sim = gw::quiet_sim();
        let recordings = std::env::temp_dir().join(format!("sb-recordings-{}", ulid::Ulid::new()));
        sim["media"] = serde_json::json!({ "recordings_dir": recordings });
        let mut w = Self::seeded(sim).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        w.bind = format!("{ip}:{port}");
        w.gateway =
            Some(gw::GatewayProcess::spawn_in_netns(netns, w.db.url(), w.dir.path(), w.secrets.path(), &w.bind).await);
        w
    }

    async fn start_with(sim: serde_json::Value) -> Self {
        let mut w = Self::seeded(sim).await;
        w.up().await;
        w
    }

    /// Seeded, with the gateway not started yet (`up` starts it; `url` is known before).
    pub async fn seeded(sim: serde_json::Value) -> Self {
        require_secret_service();
        let db = gw::TestDb::sqlite().await;
        let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
        let seeded = switchboard_gateway::demo::seed_business(&*store, "Business 1", "sim-1", sim, 100, 10)
            .await
            .unwrap();
        let token = gw::token(&*store, &seeded, "alice").await;
        let bob_token = gw::token(&*store, &seeded, "bob").await;
        drop(store);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            db,
            seeded,
            token,
            bob_token,
            dir: tempfile::tempdir().unwrap(),
            secrets: gw::secrets_dir(),
            bind: format!("127.0.0.1:{port}"),
            gateway: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.bind)
    }

    pub async fn up(&mut self) {
        self.gateway =
            Some(gw::GatewayProcess::spawn_at(self.db.url(), self.dir.path(), self.secrets.path(), &self.bind).await);
    }

    pub async fn down(&mut self) {
        if let Some(mut g) = self.gateway.take() {
            g.kill().await;
        }
    }

    /// A new inbound call through the simulator's signed webhook.
    pub async fn ring(&self, vendor_id: &str) {
        let ev = gw::inbound(
            vendor_id,
            &format!("{vendor_id}-ring"),
            1_000,
            switchboard_core::CallStatus::Ringing,
            "+14155550100",
        );
        let (code, body) = gw::post_webhook(&reqwest::Client::new(), &self.url(), "sim-1", &ev).await;
        assert_eq!(code, 200, "{body}");
    }

    /// The gateway's own count of this business's stream events.
    pub async fn gateway_event_count(&self) -> usize {
        let store = switchboard_gateway::store::connect(self.db.url()).await.unwrap();
        store
            .events_since(self.seeded.business, 0, 100_000)
            .await
            .unwrap()
            .len()
    }
}

pub async fn console(dir: &std::path::Path, service: &str) -> Console {
    Console::open(ConsoleConfig {
        data_dir: dir.to_owned(),
        keyring_service: service.to_owned(),
    })
    .await
    .unwrap()
}

pub fn service() -> String {
    format!("switchboard-test-{}", ulid::Ulid::new())
}

/// A console on `dir`, signed in as alice and online, with its event receiver.
pub async fn signed_in(
    world: &World,
    dir: &std::path::Path,
    svc: &str,
) -> (Console, tokio::sync::broadcast::Receiver<UiEvent>) {
    let c = console(dir, svc).await;
    let mut ui = c.subscribe();
    c.sign_in(&world.url(), &world.token).await.unwrap();
    wait_for(&mut ui, "online", |e| matches!(e, UiEvent::Connection(s) if s.online)).await;
    (c, ui)
}

/// Wait for a UI event matching `f`.
pub async fn wait_for(
    rx: &mut tokio::sync::broadcast::Receiver<UiEvent>,
    what: &str,
    mut f: impl FnMut(&UiEvent) -> bool,
) -> UiEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap();
        if f(&ev) {
            return ev;
        }
    }
}

#[allow(unused_imports)]
pub use gw::eventually;

/// Ring a call in as `vendor_id`, answer it on `console` and wait until its audio is
/// connected; returns the call.
pub async fn answer_with_audio(
    world: &World,
    console: &Console,
    ui: &mut tokio::sync::broadcast::Receiver<UiEvent>,
    vendor_id: &str,
) -> switchboard_core::CallSid {
    world.ring(vendor_id).await;
    let sid = match wait_for(ui, "the call", |e| matches!(e, UiEvent::IncomingCall { .. })).await {
        UiEvent::IncomingCall { call_sid, .. } => call_sid,
        _ => unreachable!(),
    };
    console.answer(&sid).await.unwrap();
    wait_for(
        ui,
        "audio connected",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "connected"),
    )
    .await;
    sid
}
