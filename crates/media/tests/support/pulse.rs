//! A PulseAudio daemon for tests: a sound server with one sine-tone microphone (the monitor
//! of a null sink that a sine plays into; module-sine-source hands out two-second blocks,
//! not a steady stream) and one null speaker, reached through ALSA's pulse plugin. Killing it is how a test makes a
//! device disappear mid-call, the way a Bluetooth or USB headset vanishes on a desktop.
//!
//! Shared by the media crate's ALSA test and the desktop end-to-end tests (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// One running daemon; killed on drop.
pub struct Pulse {
    child: Option<Child>,
    /// The native-protocol socket clients connect to.
    pub socket: PathBuf,
}

impl Pulse {
    /// Start a daemon under `dir/<name>` whose microphone (`<name>_voice.monitor`) plays a sine at
    /// `hz` and whose speaker (`<name>`) discards; returns once a client can connect.
    pub fn start(dir: &Path, name: &str, hz: u32) -> Self {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).expect("pulse home");
        let socket = dir.join(format!("{name}.socket"));
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "--log-target=stderr",
                "--log-level=error",
            ])
            .arg(format!(
                "--load=module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .arg(format!(
                "--load=module-null-sink sink_name={name} rate=48000 channels=1"
            ))
            .arg(format!(
                "--load=module-null-sink sink_name={name}_voice rate=48000 channels=1"
            ))
            .arg(format!("--load=module-sine sink={name}_voice frequency={hz}"))
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &home)
            .env("XDG_CONFIG_HOME", &home)
            // Each daemon would claim org.PulseAudio1 on the session bus and the second
            // one would quit; these daemons need no bus.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .spawn()
            .expect("pulseaudio is installed (cargo xtask setup)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "pulseaudio did not listen on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child: Some(child),
            socket,
        }
    }

    /// An ALSA duplex PCM `pcm_name` on this server, listed as `description`. The server is
    /// named in the PCM rather than through `PULSE_SERVER`: Debian's ALSA hook makes
    /// PulseAudio the default device whenever the standard server is reachable, and tests
    /// choose their default themselves.
    pub fn alsa_pcm(&self, pcm_name: &str, description: &str) -> String {
        let name = self
            .socket
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("socket named after the daemon");
        let server = format!("unix:{}", self.socket.display());
        format!(
            "pcm.{pcm_name} {{\n    type asym\n    capture.pcm {{ type pulse server \"{server}\" device \"{name}_voice.monitor\" }}\n    playback.pcm {{ type pulse server \"{server}\" device \"{name}\" }}\n    hint {{ show on description \"{description}\" }}\n}}\n"
        )
    }

    /// The device goes away: kill the daemon and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Already dead is fine; `wait` makes sure it is gone before we go on.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        self.kill();
    }
}
