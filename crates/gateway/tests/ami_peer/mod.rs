//! A scripted AMI peer: it stands in for Asterisk, which Debian 12 does not package, so
//! nothing real can run here. Built from the wire format in protocols.md §3 (greeting,
//! `Key: Value` lines to an empty line, `ActionID` echoed, list actions as `EventList:
//! start` … `Complete`) and checked against real Asterisk transcripts elsewhere
//! (`crates/telephony/tests/ami_fixtures.rs` replays panoramisk's).
//!
//! It answers the session's own actions (Challenge, Login with MD5 or plain secret, Ping,
//! CoreShowChannels, QueueStatus, Logoff) from a model of its channels, and hands every
//! other action to the test, which answers it and then plays the events the real PBX
//! would. Events it plays update the model, so a resync after a reconnect sees what the
//! PBX has. The test can drop the connection, refuse new ones, and stop answering pings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_telephony::asterisk::frame::{Decoder, Frame, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A channel as `CoreShowChannel` lists it.
#[derive(Debug, Clone, Default)]
struct Chan {
    name: String,
    linkedid: String,
    exten: String,
    caller: String,
    bridge: String,
    queued: bool,
}

type Conns = Arc<Mutex<Vec<mpsc::UnboundedSender<Vec<u8>>>>>;

#[derive(Default)]
struct Model {
    channels: BTreeMap<String, Chan>,
}

/// The peer.
pub struct Pbx {
    pub port: u16,
    model: Arc<Mutex<Model>>,
    /// Logged-in connections: events go to each, as Asterisk sends them to every manager.
    conns: Conns,
    accepting: Arc<AtomicBool>,
    pongs: Arc<AtomicBool>,
    /// Successful logins so far.
    pub logins: Arc<AtomicUsize>,
    actions: mpsc::UnboundedReceiver<Message>,
}

fn text(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in fields {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

impl Pbx {
    /// Listen on loopback; logins must give `username` and `secret`.
    pub async fn start(username: &str, secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let model = Arc::new(Mutex::new(Model::default()));
        let conns: Conns = Arc::default();
        let accepting = Arc::new(AtomicBool::new(true));
        let pongs = Arc::new(AtomicBool::new(true));
        let logins = Arc::new(AtomicUsize::new(0));
        let (actions_tx, actions) = mpsc::unbounded_channel();
        let (user, secret) = (username.to_owned(), secret.to_owned());
        {
            let (model, conns, accepting, pongs, logins) = (
                model.clone(),
                conns.clone(),
                accepting.clone(),
                pongs.clone(),
                logins.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    if !accepting.load(Ordering::SeqCst) {
                        drop(stream);
                        continue;
                    }
                    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
                    let conns = conns.clone();
                    let served = serve(
                        stream,
                        tx.clone(),
                        rx,
                        model.clone(),
                        pongs.clone(),
                        (logins.clone(), conns.clone()),
                        actions_tx.clone(),
                        (user.clone(), secret.clone()),
                    );
                    tokio::spawn(async move {
                        served.await;
                        conns.lock().unwrap().retain(|c| !c.same_channel(&tx));
                    });
                }
            });
        }
        Self {
            port,
            model,
            conns,
            accepting,
            pongs,
            logins,
            actions,
        }
    }

    /// The next action the gateway sent (not the session's own), within 10 s.
    pub async fn action(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), self.actions.recv())
            .await
            .expect("an action from the gateway within 10 s")
            .expect("the peer is running")
    }

    /// Play an event: it goes to the connected client (if any) and updates the model.
    pub fn emit(&self, fields: &[(&str, &str)]) {
        self.apply(fields);
        let mut all = vec![("Privilege", "call,all")];
        all.splice(0..0, fields.iter().take(1).copied());
        all.extend(fields.iter().skip(1).copied());
        for tx in self.conns.lock().unwrap().iter() {
            let _ = tx.send(text(&all));
        }
    }

    fn apply(&self, fields: &[(&str, &str)]) {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let mut m = self.model.lock().unwrap();
        let uid = get("Uniqueid");
        match get("Event").as_str() {
            "Newchannel" => {
                m.channels.insert(
                    uid,
                    Chan {
                        name: get("Channel"),
                        linkedid: get("Linkedid"),
                        exten: get("Exten"),
                        caller: get("CallerIDNum"),
                        ..Chan::default()
                    },
                );
            }
            "Hangup" => {
                m.channels.remove(&uid);
            }
            "BridgeEnter" => {
                if let Some(c) = m.channels.get_mut(&uid) {
                    c.bridge = get("BridgeUniqueid");
                }
            }
            "BridgeLeave" => {
                if let Some(c) = m.channels.get_mut(&uid) {
                    c.bridge.clear();
                }
            }
            "QueueCallerJoin" => {
                if let Some(c) = m.channels.get_mut(&uid) {
                    c.queued = true;
                }
            }
            "QueueCallerLeave" | "QueueCallerAbandon" => {
                if let Some(c) = m.channels.get_mut(&uid) {
                    c.queued = false;
                }
            }
            _ => {}
        }
    }

    /// While the gateway is not connected: the PBX's calls go on without it.
    pub fn offline(&self, fields: &[(&str, &str)]) {
        assert!(!self.connected(), "the gateway is still connected");
        self.apply(fields);
    }

    /// Close the gateway's connection; with `refuse`, turn new ones away until `accept`.
    pub fn drop_connection(&self, refuse: bool) {
        self.accepting.store(!refuse, Ordering::SeqCst);
        for tx in self.conns.lock().unwrap().drain(..) {
            let _ = tx.send(Vec::new()); // an empty write closes (see `serve`)
        }
    }

    pub fn accept(&self) {
        self.accepting.store(true, Ordering::SeqCst);
    }

    /// Stop (or start again) answering the keep-alive.
    pub fn answer_pings(&self, on: bool) {
        self.pongs.store(on, Ordering::SeqCst);
    }

    /// Is a gateway connected and logged in?
    pub fn connected(&self) -> bool {
        self.conns.lock().unwrap().iter().any(|c| !c.is_closed())
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    stream: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    model: Arc<Mutex<Model>>,
    pongs: Arc<AtomicBool>,
    (logins, conns): (Arc<AtomicUsize>, Conns),
    actions: mpsc::UnboundedSender<Message>,
    (user, secret): (String, String),
) {
    let (mut rd, mut wr) = stream.into_split();
    tokio::spawn(async move {
        let _ = wr.write_all(b"Asterisk Call Manager/13.0.0\r\n").await;
        while let Some(bytes) = rx.recv().await {
            if bytes.is_empty() || wr.write_all(&bytes).await.is_err() {
                return; // dropping the write half closes the socket
            }
        }
    });
    // The client writes actions only; our decoder wants a greeting first.
    let mut dec = Decoder::new();
    dec.push(b"Asterisk Call Manager/13.0.0\r\n");
    let mut buf = vec![0u8; 8192];
    let challenge = "7394051862";
    loop {
        while let Ok(Some(frame)) = dec.next_frame() {
            let Frame::Message(m) = frame else { continue };
            let id = m.action_id().unwrap_or_default().to_owned();
            let reply = |fields: &[(&str, &str)]| {
                let mut all = vec![fields[0], ("ActionID", id.as_str())];
                all.extend(fields.iter().skip(1).copied());
                let _ = tx.send(text(&all));
            };
            match m.get("Action").unwrap_or_default().to_ascii_lowercase().as_str() {
                "challenge" => reply(&[("Response", "Success"), ("Challenge", challenge)]),
                "login" => {
                    let ok = m.get("Username") == Some(user.as_str())
                        && match m.get("AuthType") {
                            Some(t) if t.eq_ignore_ascii_case("md5") => {
                                let d = <md5::Md5 as md5::Digest>::digest(format!("{challenge}{secret}").as_bytes());
                                let key: String = d.iter().map(|b| format!("{b:02x}")).collect();
                                m.get("Key") == Some(key.as_str())
                            }
                            _ => m.get("Secret") == Some(secret.as_str()),
                        };
                    if ok {
                        logins.fetch_add(1, Ordering::SeqCst);
                        conns.lock().unwrap().push(tx.clone());
                        reply(&[("Response", "Success"), ("Message", "Authentication accepted")]);
                        let _ = tx.send(text(&[
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Status", "Fully Booted"),
                        ]));
                    } else {
                        reply(&[("Response", "Error"), ("Message", "Authentication failed")]);
                        let _ = tx.send(Vec::new());
                        return;
                    }
                }
                "ping" if pongs.load(Ordering::SeqCst) => reply(&[("Response", "Success"), ("Ping", "Pong")]),
                "ping" => {}
                "logoff" => {
                    reply(&[("Response", "Goodbye"), ("Message", "Thanks for all the fish.")]);
                    let _ = tx.send(Vec::new());
                    return;
                }
                "coreshowchannels" => {
                    reply(&[
                        ("Response", "Success"),
                        ("EventList", "start"),
                        ("Message", "Channels will follow"),
                    ]);
                    let chans: Vec<(String, Chan)> = model.lock().unwrap().channels.clone().into_iter().collect();
                    for (uid, c) in &chans {
                        let _ = tx.send(text(&[
                            ("Event", "CoreShowChannel"),
                            ("ActionID", &id),
                            ("Channel", &c.name),
                            ("ChannelState", "6"),
                            ("ChannelStateDesc", "Up"),
                            ("CallerIDNum", &c.caller),
                            ("Exten", &c.exten),
                            ("Uniqueid", uid),
                            ("Linkedid", &c.linkedid),
                            ("BridgeId", &c.bridge),
                        ]));
                    }
                    let n = chans.len().to_string();
                    let _ = tx.send(text(&[
                        ("Event", "CoreShowChannelsComplete"),
                        ("ActionID", &id),
                        ("EventList", "Complete"),
                        ("ListItems", &n),
                    ]));
                }
                "queuestatus" => {
                    reply(&[
                        ("Response", "Success"),
                        ("EventList", "start"),
                        ("Message", "Queue status will follow"),
                    ]);
                    let queued: Vec<(String, Chan)> = model
                        .lock()
                        .unwrap()
                        .channels
                        .iter()
                        .filter(|(_, c)| c.queued)
                        .map(|(u, c)| (u.clone(), c.clone()))
                        .collect();
                    for (i, (uid, c)) in queued.iter().enumerate() {
                        let pos = (i + 1).to_string();
                        let _ = tx.send(text(&[
                            ("Event", "QueueEntry"),
                            ("ActionID", &id),
                            ("Queue", "sales"),
                            ("Position", &pos),
                            ("Channel", &c.name),
                            ("Uniqueid", uid),
                            ("CallerIDNum", &c.caller),
                        ]));
                    }
                    let _ = tx.send(text(&[
                        ("Event", "QueueStatusComplete"),
                        ("ActionID", &id),
                        ("EventList", "Complete"),
                    ]));
                }
                _ => {
                    reply(&[("Response", "Success"), ("Message", "Accepted")]);
                    let _ = actions.send(m);
                }
            }
        }
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => dec.push(&buf[..n]),
        }
    }
}
