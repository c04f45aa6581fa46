//! The real LiveKit services for tests: Redis, `livekit-server` and (when asked)
//! `livekit-sip`, built by `cargo xtask setup` (see xtask's go_tools), started on loopback
//! ports with a generated key, each waited for until it answers, all stopped when dropped.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// Where xtask put the Go-built services.
pub fn go_bin() -> PathBuf {
    std::env::var_os("SWITCHBOARD_GO_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/switchboard/go/bin")))
        .expect("SWITCHBOARD_GO_TOOLS or HOME")
}

/// A running LiveKit deployment on loopback.
#[derive(Debug)]
pub struct LiveKitStack {
    /// `ws://127.0.0.1:PORT`, what clients and the server API use.
    pub url: String,
    /// The API key and secret the server accepts.
    pub key: String,
    pub secret: String,
    /// The SIP service's UDP/TCP port, when it runs.
    pub sip_port: Option<u16>,
    /// Where the services write their logs (kept for a failing test to print).
    pub dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Drop for LiveKitStack {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool, child: &mut Child) {
    let until = Instant::now() + deadline;
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it was ready ({status})");
        }
        assert!(Instant::now() < until, "{what} was not ready within {deadline:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_ok(host: &str, port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((host, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut out);
    out.starts_with("HTTP/1.") && out.contains(" 200 ")
}

impl LiveKitStack {
    /// Start Redis and the server (and the SIP service with `sip`). `webhook_urls` are
    /// where the server posts its webhooks, signed with the generated key.
    pub fn start(sip: bool, webhook_urls: &[String]) -> Self {
        Self::start_in(sip, webhook_urls, None)
    }

    /// As [`Self::start`], with Redis and the server inside network namespace `netns`
    /// (the first of the pair), serving on its address (the second): a test can cut the
    /// network between itself and the server. No SIP service there.
    pub fn start_in(sip: bool, webhook_urls: &[String], netns: Option<(&str, &str)>) -> Self {
        assert!(!(sip && netns.is_some()), "the SIP service runs on loopback only");
        let host = netns.map_or("127.0.0.1", |(_, ip)| ip);
        let command = |program: &std::path::Path| match netns {
            Some((ns, _)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        let bin = go_bin();
        for b in ["livekit-server", "livekit-sip"] {
            assert!(
                bin.join(b).exists(),
                "{b} is missing from {}: run `cargo xtask setup`",
                bin.display()
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let key = "switchboard-test".to_owned();
        let secret = format!("secret-{:016x}{:016x}", rand_u64(), rand_u64());
        let (redis_port, http_port, tcp_port) = (free_port(), free_port(), free_port());
        let rtc = free_port_range(100);
        let mut children = vec![];

        let log = |name: &str| std::fs::File::create(dir.path().join(name)).expect("log file");
        let mut redis = command(std::path::Path::new("redis-server"))
            .args([
                "--port",
                &redis_port.to_string(),
                "--bind",
                host,
                "--save",
                "",
                "--appendonly",
                "no",
                // In a namespace it listens on a non-loopback address, which protected
                // mode refuses without a password; only the server inside reaches it.
                "--protected-mode",
                "no",
            ])
            .stdout(log("redis.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (cargo xtask setup installs it)");
        wait_for(
            "redis",
            Duration::from_secs(20),
            || TcpStream::connect((host, redis_port)).is_ok(),
            &mut redis,
        );
        children.push(redis);

        let hooks = if webhook_urls.is_empty() {
            String::new()
        } else {
            format!(
                "webhook:\n  api_key: {key}\n  urls:\n{}",
                webhook_urls.iter().map(|u| format!("    - {u}\n")).collect::<String>()
            )
        };
        let server_cfg = format!(
            "port: {http_port}\nbind_addresses: [\"{host}\"]\nrtc:\n  tcp_port: {tcp_port}\n  port_range_start: {}\n  port_range_end: {}\n  use_external_ip: false\n  node_ip: {host}\nredis:\n  address: {host}:{redis_port}\nkeys:\n  {key}: {secret}\nlogging:\n  level: info\n{hooks}",
            rtc.0, rtc.1
        );
        std::fs::write(dir.path().join("server.yaml"), server_cfg).expect("server config");
        let mut server = command(&bin.join("livekit-server"))
            .arg("--config")
            .arg(dir.path().join("server.yaml"))
            .stdout(log("server.log"))
            .stderr(log("server.err"))
            .spawn()
            .expect("livekit-server starts");
        wait_for(
            "livekit-server",
            Duration::from_secs(60),
            || http_ok(host, http_port),
            &mut server,
        );
        children.push(server);

        let mut sip_port = None;
        if sip {
            let port = free_port();
            let rtp = free_port_range(100);
            // No admission by idle CPU: on a 2-core machine busy with the test's own
            // builds it refuses calls ("cpu exhausted") that it would carry easily.
            let sip_cfg = format!(
                "api_key: {key}\napi_secret: {secret}\nws_url: ws://127.0.0.1:{http_port}\nredis:\n  address: 127.0.0.1:{redis_port}\nsip_port: {port}\nrtp_port: {}-{}\nuse_external_ip: false\nnat_1_to_1_ip: 127.0.0.1\nlisten_ip: 127.0.0.1\nmax_cpu_utilization: 1.0\nlogging:\n  level: debug\n",
                rtp.0, rtp.1
            );
            std::fs::write(dir.path().join("sip.yaml"), sip_cfg).expect("sip config");
            let mut svc = Command::new(bin.join("livekit-sip"))
                .arg("--config")
                .arg(dir.path().join("sip.yaml"))
                .stdout(log("sip.log"))
                .stderr(log("sip.err"))
                .spawn()
                .expect("livekit-sip starts");
            wait_for(
                "livekit-sip",
                Duration::from_secs(60),
                || TcpStream::connect(("127.0.0.1", port)).is_ok(),
                &mut svc,
            );
            children.push(svc);
            sip_port = Some(port);
        }
        Self {
            url: format!("ws://{host}:{http_port}"),
            key,
            secret,
            sip_port,
            dir,
            children,
        }
    }

    /// A token from this server's key admitting `identity` to `room` for ten minutes,
    /// subscribing, and publishing audio and data when `publish`.
    pub fn room_token(&self, identity: &str, room: &str, publish: bool) -> String {
        use switchboard_telephony::livekit::token::{self, ApiKey, VideoGrant};
        let key = ApiKey {
            key: self.key.clone(),
            secret: switchboard_telephony::secret::Secret::new(self.secret.clone()),
        };
        let grant = VideoGrant {
            room_join: true,
            room: Some(room.to_owned()),
            can_publish: Some(publish),
            can_subscribe: Some(true),
            can_publish_data: Some(publish),
            ..VideoGrant::default()
        };
        token::mint_for(&key, identity, 600, Some(grant), None)
    }

    /// A service's log so far (`server.log`, `sip.log`, ...), for a failing assertion.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// `n` consecutive UDP ports that are free now, from a random start.
fn free_port_range(n: u16) -> (u16, u16) {
    loop {
        let start = 20_000 + (rand_u64() % 30_000) as u16;
        if (start..start + n).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return (start, start + n - 1);
        }
    }
}

/// A port for baresip's `sip_listen`: baresip 1.0 also opens SIP over TLS on the next
/// port up and cannot be told not to, so both must be free (UDP and TCP). Taken below the
/// kernel's ephemeral range (32768+) and below the RTP ranges above, so no socket another
/// test opens meanwhile lands on it; a CI run failed once with "SIP/TLS transport failed:
/// Address already in use" when the next port up was an ephemeral one.
fn sip_port_pair() -> u16 {
    use std::net::{TcpListener, UdpSocket};
    loop {
        let port = 12_000 + (rand_u64() % 7_000) as u16;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 1) {
            return port;
        }
    }
}

/// SIPp's signalling port and the first of its four media ports (audio RTP and RTCP, video
/// RTP and RTCP: it binds all of them), all free now and all distinct. Taken from their own
/// band below baresip's and the RTP ranges above: a media port from the kernel's ephemeral
/// range once landed inside livekit-sip's RTP range, which had bound it for the call
/// ("Unable to bind audio RTP socket ... Address already in use").
fn sipp_ports() -> (u16, u16) {
    use std::net::UdpSocket;
    for _ in 0..1_000 {
        let signalling = 6_000 + (rand_u64() % 2_900) as u16;
        let media = (9_000 + (rand_u64() % 2_900) as u16) & !1;
        let held: Vec<_> = std::iter::once(signalling)
            .chain(media..media + 4)
            .map(|p| UdpSocket::bind(("127.0.0.1", p)))
            .collect();
        if held.iter().all(Result::is_ok) {
            return (signalling, media);
        }
    }
    panic!("no free UDP ports for SIPp in 6000-11999 after 1,000 tries");
}

/// A SIP phone on the PSTN side: Debian's baresip, with a WAV file as its microphone and
/// its speaker recorded (the sndfile module's dump of what it decoded), dialling one call
/// at start. Killed when dropped.
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    /// Its configuration directory and log.
    pub dir: tempfile::TempDir,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Baresip {
    /// Call `uri` as `user` (the caller's number) with `mic` (a WAV file) as microphone.
    pub fn dial(uri: &str, user: &str, mic: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = sip_port_pair();
        let d = dir.path().display();
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\naudio_source aufile,{mic}\naudio_player aubridge,speaker\naudio_alert aubridge,alert\nsnd_path {d}\nmodule_path /usr/lib/baresip/modules\nmodule stdio.so\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\nmodule_app account.so\nmodule_app menu.so\n",
            mic = mic.display()
        );
        std::fs::write(dir.path().join("config"), config).expect("baresip config");
        std::fs::write(
            dir.path().join("accounts"),
            format!("<sip:{user}@127.0.0.1>;regint=0\n"),
        )
        .expect("accounts");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(["-e", &format!("/dial {uri}"), "-t", "120"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("baresip.log")).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip runs (cargo xtask setup installs it)");
        Self { child, dir }
    }

    /// What it played from the far end: the WAV sndfile writes of the decoded audio
    /// (`dump-…-dec.wav`), once the call has ended and the file is closed.
    pub fn heard(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.dir.path())
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-dec.wav")))
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Wait until its log contains `text`.
    pub fn wait_for(&mut self, text: &str, within: Duration) {
        let until = Instant::now() + within;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < until,
                "baresip never said {text:?}; its log:\n{}",
                self.log()
            );
            if let Ok(Some(_)) = self.child.try_wait() {
                assert!(
                    self.log().contains(text),
                    "baresip exited without saying {text:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A narrowband phone's microphone: `secs` of a `hz` tone as a 16-bit 8 kHz mono WAV
/// (what baresip's aufile plays without resampling).
pub fn tone_wav_8k(path: &std::path::Path, hz: f32, secs: u32) -> PathBuf {
    let samples: Vec<f32> = (0..8_000 * secs)
        .map(|i| 0.3 * (std::f32::consts::TAU * hz * i as f32 / 8_000.0).sin())
        .collect();
    wav_8k(path, &samples)
}

/// Samples at 8 kHz (-1..1) as a 16-bit mono WAV file.
pub fn wav_8k(path: &std::path::Path, samples: &[f32]) -> PathBuf {
    let mut data = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        data.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32_767.0) as i16).to_le_bytes());
    }
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    // PCM, mono, 8 kHz, 16 000 bytes/s, block 2, 16 bits.
    wav.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    for v in [8_000u32, 16_000] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    for v in [2u16, 16] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).expect("WAV written");
    path.to_owned()
}

/// A SIP endpoint scripted with Debian's SIPp: `-sn uas` (answers, waits for the BYE) or
/// a scenario of `tests/sipp`, for one call. Every message it sends and receives is in
/// its trace. Killed when dropped.
#[derive(Debug)]
pub struct Sipp {
    child: Child,
    /// The SIP port it listens on.
    pub port: u16,
    /// Its trace files.
    pub dir: tempfile::TempDir,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sipp {
    /// Answer (or refuse) one call on a free loopback port: `scenario` is `"uas"` for
    /// SIPp's own answering scenario, or a file name in `tests/sipp`.
    pub fn uas(scenario: &str) -> Self {
        Self::spawn(scenario, None, &[])
    }

    /// Place one call to `remote` (`host:port`) with `keys` filling the scenario's
    /// `[keyword]`s.
    pub fn uac(scenario: &str, remote: &str, keys: &[(&str, &str)]) -> Self {
        Self::spawn(scenario, Some(remote), keys)
    }

    fn spawn(scenario: &str, remote: Option<&str>, keys: &[(&str, &str)]) -> Self {
        // Ports free when chosen can be taken by another test's process before SIPp binds
        // them; SIPp then exits saying so, and a fresh set is chosen (a few times at most).
        let mut attempt = 1;
        loop {
            match Self::try_spawn(scenario, remote, keys) {
                Ok(me) => return me,
                Err(why) if why.contains("Address already in use") && attempt < 5 => {
                    eprintln!("sipp: {why}; other ports");
                    attempt += 1;
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    fn try_spawn(scenario: &str, remote: Option<&str>, keys: &[(&str, &str)]) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, media) = sipp_ports();
        let mut cmd = Command::new("sipp");
        if let Some(r) = remote {
            cmd.arg(r);
        }
        if scenario == "uas" {
            cmd.args(["-sn", "uas"]);
        } else {
            cmd.arg("-sf")
                .arg(crate::node_dir().with_file_name("sipp").join(scenario));
        }
        for (k, v) in keys {
            cmd.args(["-key", k, v]);
        }
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string(), "-mp", &media.to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "120s", "-trace_msg", "-message_file"])
            .arg(dir.path().join("messages.log"))
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("log"));
        let child = cmd.spawn().expect("sipp runs (cargo xtask setup installs sip-tester)");
        let mut me = Self { child, port, dir };
        if remote.is_none() {
            let until = Instant::now() + Duration::from_secs(20);
            // Listening when its UDP port is taken.
            while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
                if let Ok(Some(status)) = me.child.try_wait() {
                    return Err(format!("sipp exited before listening ({status}): {}", me.stderr()));
                }
                assert!(Instant::now() < until, "sipp did not listen within 20 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(me)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Every SIP message so far.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default()
    }

    /// Wait until a message containing `text` was sent or received.
    pub fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let until = Instant::now() + within;
        loop {
            let m = self.messages();
            if m.contains(text) {
                return m;
            }
            assert!(
                Instant::now() < until,
                "sipp never saw {text:?}; its messages:\n{m}\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for it to finish its one call; whether the scenario completed.
    pub fn finished(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A participant in a LiveKit room played by LiveKit's own SDK (PyPI `livekit`, through
/// `tests/python/livekit_peer.py`): joins with a token, speaks a tone, reports what it
/// hears per 100 ms block. Leaves when dropped (its process ends).
#[derive(Debug)]
pub struct RoomPeer {
    sdk: crate::Oracle,
    /// The join answer: `identity` and the `remote` identities present then.
    pub joined: serde_json::Value,
}

impl RoomPeer {
    /// Join the room `token` admits to at `url`, speaking `tone_hz` (0: publish nothing).
    pub fn join(url: &str, token: &str, tone_hz: u32) -> Self {
        Self::join_in(url, token, tone_hz, None)
    }

    /// As [`Self::join`], from inside network namespace `netns` when given.
    pub fn join_in(url: &str, token: &str, tone_hz: u32, netns: Option<&str>) -> Self {
        let mut sdk = crate::Oracle::start_in("livekit_peer.py", netns);
        let joined = sdk.ask(&serde_json::json!({ "op": "join", "url": url, "token": token, "tone_hz": tone_hz }));
        assert_eq!(joined["ok"], true, "the SDK joins the room: {joined}");
        Self { sdk, joined }
    }

    /// Whether someone whose identity starts with `prefix` was in the room at the join.
    pub fn saw(&self, prefix: &str) -> bool {
        self.joined["remote"]
            .as_array()
            .is_some_and(|r| r.iter().any(|p| p.as_str().is_some_and(|p| p.starts_with(prefix))))
    }

    /// Record for `seconds`; the answer's `dominant` holds each block's frequency.
    pub fn listen(&mut self, seconds: f64) -> serde_json::Value {
        self.sdk.ask(&serde_json::json!({ "op": "listen", "seconds": seconds }))
    }

    /// Listen in windows of `window` seconds until one has at least `blocks` blocks of
    /// `hz`; that window's answer. Panics after `within`.
    pub fn until_hears(&mut self, hz: f64, window: f64, blocks: usize, within: Duration) -> serde_json::Value {
        let until = Instant::now() + within;
        loop {
            let got = self.listen(window);
            if blocks_near(&got["dominant"], hz) >= blocks {
                return got;
            }
            assert!(
                Instant::now() < until,
                "never heard {hz} Hz within {within:?}; last: {got}"
            );
        }
    }

    /// Leave the room.
    pub fn leave(&mut self) {
        let _ = self.sdk.ask(&serde_json::json!({ "op": "leave" }));
    }
}

/// How many 100 ms blocks of a `tests/python/livekit_peer.py` listen answer (its
/// `dominant` list) hold `hz`, within 20 Hz.
pub fn blocks_near(dominant: &serde_json::Value, hz: f64) -> usize {
    dominant.as_array().map_or(0, |a| {
        a.iter()
            .filter(|f| f.as_f64().is_some_and(|f| (f - hz).abs() < 20.0))
            .count()
    })
}
