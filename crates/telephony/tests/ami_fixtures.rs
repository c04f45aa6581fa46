//! Real Asterisk transcripts against our AMI client: the fixtures shipped in PyPI
//! `panoramisk` 1.4's sdist (`tests/fixtures/*.yaml`, AMI sessions recorded from Asterisk
//! 11), taken with `pip download` at test time. A loopback server replays each one to the
//! client byte for byte, with two edits a replay needs: the `ActionID`s the recording
//! carries become the ones our client sent (a response the recording has without one gets
//! ours, as Asterisk echoes what it is given), and a recording that starts mid-session is
//! preceded by a greeting. The client sends the actions the recording shows (or, where it
//! starts at a response, the action that response answers).
//!
//! Checked for every transcript: each response reaches the action it answers, list events
//! are gathered with theirs, and every other event arrives on the event stream, parsed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_telephony::asterisk::client::{AmiClient, AmiError, Answer, Login};
use switchboard_telephony::asterisk::frame::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `tests/fixtures` of panoramisk 1.4, downloaded by the first run into the project's
/// cache (`~/.cache/switchboard/fixtures`).
fn fixtures() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = home.join(".cache/switchboard/fixtures");
    let out = dir.join("panoramisk-1.4/tests/fixtures");
    if out.exists() {
        return out;
    }
    let pip = home.join(".cache/switchboard/py/bin/pip");
    assert!(
        pip.exists(),
        "no virtualenv at {}: run `cargo xtask setup`",
        pip.display()
    );
    let ok = Command::new(pip)
        .args([
            "download",
            "panoramisk==1.4",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-q",
            "-d",
        ])
        .arg(&dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pip download panoramisk==1.4");
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(dir.join("panoramisk-1.4.tar.gz"))
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "unpacking the sdist");
    out
}

/// The recording's blocks (messages), as text, in order.
fn blocks(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(|b| {
            b.trim_matches('\n')
                .trim_start_matches(' ')
                .trim_start_matches('\n')
                .to_owned()
        })
        .filter(|b| !b.trim().is_empty())
        .collect()
}

fn key_of(line: &str) -> String {
    line.split_once(':')
        .map(|(k, _)| k.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn value_of<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block
        .lines()
        .find(|l| key_of(l) == key)
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim())
}

/// Read one action from the client: the text up to its blank line.
async fn read_action(sock: &mut tokio::net::TcpStream, pending: &mut Vec<u8>) -> String {
    loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&pending[..at]).into_owned();
            pending.drain(..at + 4);
            return text;
        }
        let mut buf = [0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed before sending an action");
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Replay `recording` to one client; returns how many responses and events it sent.
async fn replay(listener: tokio::net::TcpListener, recording: String) -> (usize, usize) {
    let (mut sock, _) = listener.accept().await.unwrap();
    let mut blocks = blocks(&recording);
    let first_line = blocks[0].lines().next().unwrap_or_default().to_owned();
    if first_line.starts_with("Asterisk Call Manager/") {
        sock.write_all(format!("{first_line}\r\n").as_bytes()).await.unwrap();
        let rest = blocks[0]
            .split_once('\n')
            .map(|(_, r)| r.to_owned())
            .unwrap_or_default();
        if rest.trim().is_empty() {
            blocks.remove(0);
        } else {
            blocks[0] = rest;
        }
    } else {
        sock.write_all(b"Asterisk Call Manager/1.3\r\n").await.unwrap();
    }
    let mut pending = vec![];
    let mut ids: Vec<(String, String)> = vec![]; // recording's id -> client's id
    let mut last_client_id: Option<String> = None;
    let (mut responses, mut events) = (0, 0);
    for block in blocks {
        let first = key_of(block.lines().next().unwrap_or_default());
        if first == "action" {
            let theirs = read_action(&mut sock, &mut pending).await;
            let want = value_of(&block, "action").unwrap().to_ascii_lowercase();
            let got = value_of(&theirs, "action").unwrap_or_default().to_ascii_lowercase();
            assert_eq!(got, want, "the client sent the action the recording shows");
            let client_id = value_of(&theirs, "actionid").unwrap().to_owned();
            if let Some(rec) = value_of(&block, "actionid") {
                ids.push((rec.to_owned(), client_id.clone()));
            }
            last_client_id = Some(client_id);
            continue;
        }
        let recorded_id = value_of(&block, "actionid").map(str::to_owned);
        let is_response = first == "response";
        // A recording that starts at a response: the client's action comes first. (An
        // event with an id nobody here sent, like a UserEvent's own `ActionID`, goes as
        // recorded.)
        if let Some(rec) = recorded_id.as_ref().filter(|_| is_response) {
            if !ids.iter().any(|(r, _)| r == rec) {
                let theirs = read_action(&mut sock, &mut pending).await;
                let client_id = value_of(&theirs, "actionid").unwrap().to_owned();
                ids.push((rec.clone(), client_id.clone()));
                last_client_id = Some(client_id);
            }
        }
        let mut lines: Vec<String> = block
            .lines()
            .map(|l| {
                let ours = recorded_id
                    .as_ref()
                    .filter(|_| key_of(l) == "actionid")
                    .and_then(|rec| ids.iter().find(|(r, _)| r == rec));
                match ours {
                    Some((_, ours)) => format!("{}: {ours}", l.split_once(':').unwrap().0),
                    None => l.to_owned(),
                }
            })
            .collect();
        if is_response && recorded_id.is_none() {
            if let Some(ours) = &last_client_id {
                lines.insert(1, format!("ActionID: {ours}"));
            }
        }
        let mut wire = lines.join("\r\n");
        wire.push_str("\r\n\r\n");
        sock.write_all(wire.as_bytes()).await.unwrap();
        // Everything that is not a response is an event to the client, including the
        // one block a capture gap garbled ("[218 bytes missing in capture file]Event: ...").
        if is_response {
            responses += 1;
        } else {
            events += 1;
        }
    }
    sock.shutdown().await.ok();
    (responses, events)
}

/// What the client sends for a recording: its action blocks, or the action its first
/// response answers.
fn client_actions(name: &str, recording: &str) -> Vec<Message> {
    let mut all = blocks(recording);
    if all[0].starts_with("Asterisk Call Manager/") {
        all[0] = all[0].split_once('\n').map(|(_, r)| r.to_owned()).unwrap_or_default();
    }
    let mut actions: Vec<Message> = all
        .iter()
        .filter(|b| key_of(b.lines().next().unwrap_or_default()) == "action")
        .map(|b| {
            let mut m = Message::new();
            for l in b.lines() {
                if let Some((k, v)) = l.split_once(':') {
                    if !k.trim().eq_ignore_ascii_case("actionid") {
                        m.push(k.trim(), v.trim());
                    }
                }
            }
            m
        })
        .collect();
    let answers = all
        .iter()
        .any(|b| key_of(b.lines().next().unwrap_or_default()) == "response");
    if !actions.is_empty() || !answers {
        return actions;
    }
    let implied = match name {
        "ping" => "Ping",
        "queue_status" => "QueueStatus",
        "pjsip_show_endpoint" => "PJSIPShowEndpoint",
        other => panic!("which action does {other} answer?"),
    };
    actions.push(Message::new().with("Action", implied));
    actions
}

struct Outcome {
    responses: usize,
    events: usize,
    answered: usize,
    received: usize,
    results: Vec<Result<Option<Answer>, AmiError>>,
}

async fn run(path: &Path) -> Outcome {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let recording = std::fs::read_to_string(path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(replay(listener, recording.clone()));
    let (client, mut events) = AmiClient::open(&addr).await.unwrap();
    assert!(!client.version.is_empty());
    let (mut answered, mut list_events) = (0, 0);
    let mut results = vec![];
    for action in client_actions(&name, &recording) {
        let is_login = action.get("Action").is_some_and(|a| a.eq_ignore_ascii_case("login"));
        let result = if is_login {
            client
                .login(&Login {
                    username: "nnnnnnnnn".into(),
                    secret: "x".into(),
                    md5: false,
                })
                .await
                .map(|()| None)
        } else {
            client.send(action).await.map(Some)
        };
        match &result {
            Ok(answer) => {
                answered += 1;
                list_events += answer.as_ref().map_or(0, |a| a.events.len());
            }
            Err(AmiError::Refused { .. } | AmiError::LoginRefused(_)) => answered += 1,
            Err(e) => panic!("{name}: {e}"),
        }
        results.push(result);
    }
    let mut streamed = 0;
    while let Some(ev) = events.recv().await {
        assert!(!ev.fields().is_empty(), "{name}: {ev:?}");
        if ev.event().is_none() {
            println!(
                "{name}: a message that is not an event, kept as read: {:?}",
                ev.fields()[0]
            );
        }
        streamed += 1;
    }
    let (responses, events) = server.await.unwrap();
    Outcome {
        responses,
        events,
        answered,
        received: list_events + streamed,
        results,
    }
}

#[tokio::test]
async fn panoramisk_transcripts_replay_through_our_client() {
    let dir = fixtures();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        let o = run(f).await;
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        println!(
            "{name}: {} responses for {} actions, {} events sent, {} received",
            o.responses, o.answered, o.events, o.received
        );
        assert_eq!(o.answered, o.responses, "{name}: every response answers its action");
        assert_eq!(o.received, o.events, "{name}: every event arrives");
        let first = o.results.first();
        match name.as_str() {
            "login_failed" => assert!(
                matches!(first, Some(Err(AmiError::LoginRefused(m))) if m == "Authentication failed"),
                "{name}"
            ),
            "login_ok" => assert!(matches!(first, Some(Ok(None))), "{name}"),
            "ping" => {
                let Some(Ok(Some(a))) = first else { panic!("{name}") };
                assert_eq!(a.response.get("Ping"), Some("Pong"));
            }
            "queue_status" | "pjsip_show_endpoint" => {
                let Some(Ok(Some(a))) = first else { panic!("{name}") };
                assert!(a.events.len() >= 2, "{name}: the list's events go with it");
                let last = a.events.last().unwrap().event().unwrap();
                assert!(last.ends_with("Complete"), "{name}: ends with {last}");
            }
            "command_core_show_version" => {
                let Some(Ok(Some(a))) = first else { panic!("{name}") };
                assert!(
                    a.response.get_all("Output").any(|l| l.starts_with("Asterisk 11.11.0")),
                    "{:?}",
                    a.response
                );
            }
            _ => {}
        }
    }
}

/// MD5 login as Asterisk checks it (manager.c: the key is the hex MD5 of the challenge
/// followed by the secret); the expected key was computed with Python's hashlib. A scripted
/// AMI peer stands in for Asterisk here; it refuses any other key.
#[tokio::test]
async fn md5_challenge_login_sends_the_key_asterisk_expects() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.write_all(b"Asterisk Call Manager/13.0.0\r\n").await.unwrap();
        let mut pending = vec![];
        let challenge = read_action(&mut sock, &mut pending).await;
        assert_eq!(value_of(&challenge, "authtype"), Some("MD5"));
        let id = value_of(&challenge, "actionid").unwrap().to_owned();
        sock.write_all(format!("Response: Success\r\nActionID: {id}\r\nChallenge: 840279613\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let login = read_action(&mut sock, &mut pending).await;
        let id = value_of(&login, "actionid").unwrap().to_owned();
        let ok = value_of(&login, "key") == Some("9348e3ee9482916c27a6ac65a37612f7")
            && value_of(&login, "username") == Some("switchboard")
            && value_of(&login, "secret").is_none();
        let reply = if ok {
            format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n")
        } else {
            format!("Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n")
        };
        sock.write_all(reply.as_bytes()).await.unwrap();
        login
    });
    let login = Login {
        username: "switchboard".into(),
        secret: "mysecret".into(),
        md5: true,
    };
    let (client, _events) = AmiClient::connect(&addr, &login).await.unwrap();
    assert_eq!(client.version, "13.0.0");
    let sent = server.await.unwrap();
    assert!(!sent.contains("mysecret"), "the secret never travels: {sent}");
    // The same peer with a wrong secret: refused, with the PBX's words.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        sock.write_all(b"Asterisk Call Manager/13.0.0\r\n").await.unwrap();
        let mut pending = vec![];
        let c = read_action(&mut sock, &mut pending).await;
        let id = value_of(&c, "actionid").unwrap().to_owned();
        sock.write_all(format!("Response: Success\r\nActionID: {id}\r\nChallenge: 840279613\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let l = read_action(&mut sock, &mut pending).await;
        let id = value_of(&l, "actionid").unwrap().to_owned();
        assert_ne!(value_of(&l, "key"), Some("9348e3ee9482916c27a6ac65a37612f7"));
        sock.write_all(
            format!("Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    });
    let wrong = Login {
        secret: "guess".into(),
        ..login
    };
    let err = AmiClient::connect(&addr, &wrong).await.unwrap_err();
    assert_eq!(err, AmiError::LoginRefused("Authentication failed".into()));
}
