//! An AMI connection (tokio): greeting, login (plain or MD5 challenge), actions matched to
//! their responses by `ActionID`, list actions gathered until their completion event, and
//! every other event handed to the caller in order.
//!
//! One task owns the socket: it reads frames ([`super::frame`]) and routes them, and
//! writes the actions callers queue. A caller waits on a oneshot for its action's answer.
//! Reconnecting and resynchronising are the provider's job: a closed connection fails the
//! waiting actions with [`AmiError::Closed`] and ends the event stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::frame::{Decoder, Frame, FrameError, Message};

/// How long an action may wait for its answer.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an action or the connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmiError {
    #[error("the PBX could not be reached: {0}")]
    Connect(String),
    #[error("the PBX's manager interface: {0}")]
    Frame(#[from] FrameError),
    #[error("the PBX refused the login: {0}")]
    LoginRefused(String),
    #[error("the PBX answered {action} with an error: {message}")]
    Refused { action: String, message: String },
    #[error("no answer from the PBX to {0} in time")]
    Timeout(String),
    #[error("the connection to the PBX closed")]
    Closed,
}

/// An action's answer: the response, and for list actions the events that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub response: Message,
    pub events: Vec<Message>,
}

struct Pending {
    tx: oneshot::Sender<Answer>,
    /// Gathering a list: the response so far.
    list: Option<Answer>,
}

type Waiting = Arc<std::sync::Mutex<HashMap<String, Pending>>>;

/// A logged-in connection; cheap to clone.
#[derive(Clone)]
pub struct AmiClient {
    out: mpsc::UnboundedSender<Vec<u8>>,
    waiting: Waiting,
    next_id: Arc<AtomicU64>,
    /// Set to close the connection.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The AMI version the server greeted with.
    pub version: String,
}

impl std::fmt::Debug for AmiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiClient")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// How to log in.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    pub secret: String,
    /// MD5 challenge-response instead of the secret in clear.
    pub md5: bool,
}

/// Does this response start a list (events follow, up to a completion event)?
fn starts_list(response: &Message) -> bool {
    response
        .get("EventList")
        .is_some_and(|v| v.eq_ignore_ascii_case("start"))
        || response
            .get("Message")
            .is_some_and(|m| m.to_ascii_lowercase().contains("will follow"))
}

/// Does this event end its list? Current Asterisk says `EventList: Complete`; older ones
/// only name the event `...Complete`.
fn ends_list(event: &Message) -> bool {
    event
        .get("EventList")
        .is_some_and(|v| v.eq_ignore_ascii_case("complete"))
        || event.event().is_some_and(|e| e.ends_with("Complete"))
}

impl AmiClient {
    /// Connect to `addr` (`host:port`), read the greeting and log in; events arrive on the
    /// returned receiver until the connection closes.
    pub async fn connect(addr: &str, login: &Login) -> Result<(Self, mpsc::UnboundedReceiver<Message>), AmiError> {
        let (client, events) = Self::open(addr).await?;
        client.login(login).await?;
        Ok((client, events))
    }

    /// Connect and read the greeting, without logging in.
    pub async fn open(addr: &str) -> Result<(Self, mpsc::UnboundedReceiver<Message>), AmiError> {
        let stream = tokio::time::timeout(ACTION_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| AmiError::Connect(format!("{addr}: timed out")))?
            .map_err(|e| AmiError::Connect(format!("{addr}: {e}")))?;
        let (mut rd, mut wr) = stream.into_split();
        let mut decoder = Decoder::new();
        let mut buf = vec![0u8; 16 * 1024];
        // The greeting comes first, alone.
        let version = loop {
            if let Some(frame) = decoder.next_frame()? {
                match frame {
                    Frame::Banner(v) => break v,
                    Frame::Message(_) => return Err(AmiError::Closed),
                }
            }
            let n = tokio::time::timeout(ACTION_TIMEOUT, rd.read(&mut buf))
                .await
                .map_err(|_| AmiError::Timeout("the greeting".into()))?
                .map_err(|_| AmiError::Closed)?;
            if n == 0 {
                return Err(AmiError::Closed);
            }
            decoder.push(&buf[..n]);
        };

        let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let waiting: Waiting = Arc::default();
        let (closing, mut closed_w) = tokio::sync::watch::channel(false);
        let mut closed_r = closed_w.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    bytes = out_rx.recv() => match bytes {
                        Some(b) if wr.write_all(&b).await.is_ok() => {}
                        _ => return,
                    },
                    _ = closed_w.changed() => return,
                }
            }
        });
        let routes = waiting.clone();
        tokio::spawn(async move {
            let fail_all = |routes: &Waiting| {
                if let Ok(mut w) = routes.lock() {
                    w.clear(); // dropping the senders fails the waiters with Closed
                }
            };
            loop {
                loop {
                    match decoder.next_frame() {
                        Ok(Some(Frame::Message(m))) => route(&routes, &events_tx, m),
                        Ok(Some(Frame::Banner(_))) => {}
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "AMI stream unreadable; closing");
                            fail_all(&routes);
                            return;
                        }
                    }
                }
                let read = tokio::select! {
                    r = rd.read(&mut buf) => r,
                    _ = closed_r.changed() => Ok(0),
                };
                match read {
                    Ok(0) | Err(_) => {
                        fail_all(&routes);
                        return;
                    }
                    Ok(n) => decoder.push(&buf[..n]),
                }
            }
        });

        let client = Self {
            out,
            waiting,
            next_id: Arc::new(AtomicU64::new(1)),
            closing: Arc::new(closing),
            version,
        };
        Ok((client, events))
    }

    /// Close the connection: waiting actions fail with [`AmiError::Closed`] and the event
    /// stream ends.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Log in: plain, or by MD5 challenge-response.
    pub async fn login(&self, login: &Login) -> Result<(), AmiError> {
        let action = if login.md5 {
            let challenge = self
                .send(Message::new().with("Action", "Challenge").with("AuthType", "MD5"))
                .await?;
            let c = challenge.response.get("Challenge").unwrap_or_default().to_owned();
            let digest = <md5::Md5 as md5::Digest>::digest(format!("{c}{}", login.secret).as_bytes());
            let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            Message::new()
                .with("Action", "Login")
                .with("AuthType", "MD5")
                .with("Username", &login.username)
                .with("Key", &key)
                .with("Events", "on")
        } else {
            Message::new()
                .with("Action", "Login")
                .with("Username", &login.username)
                .with("Secret", &login.secret)
                .with("Events", "on")
        };
        match self.send(action).await {
            Ok(_) => Ok(()),
            Err(AmiError::Refused { message, .. }) => Err(AmiError::LoginRefused(message)),
            Err(e) => Err(e),
        }
    }

    /// Send an action (an `ActionID` is added) and wait for its answer; a `Response:
    /// Error` is [`AmiError::Refused`] with the PBX's message.
    pub async fn send(&self, action: Message) -> Result<Answer, AmiError> {
        let name = action.get("Action").unwrap_or("action").to_owned();
        let id = format!("sb-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id.clone(), Pending { tx, list: None });
        }
        let mut with_id = Message::new();
        for (k, v) in action
            .fields()
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("ActionID"))
        {
            with_id.push(k, v);
        }
        with_id.push("ActionID", &id);
        self.out.send(with_id.encode()).map_err(|_| AmiError::Closed)?;
        let answer = match tokio::time::timeout(ACTION_TIMEOUT, rx).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => return Err(AmiError::Closed),
            Err(_) => {
                if let Ok(mut w) = self.waiting.lock() {
                    w.remove(&id);
                }
                return Err(AmiError::Timeout(name));
            }
        };
        if answer
            .response
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case("error"))
        {
            return Err(AmiError::Refused {
                action: name,
                message: answer.response.get("Message").unwrap_or_default().to_owned(),
            });
        }
        Ok(answer)
    }
}

/// A frame from the server: a response or list event to its waiting action, anything else
/// to the event stream.
fn route(routes: &Waiting, events: &mpsc::UnboundedSender<Message>, m: Message) {
    let Ok(mut w) = routes.lock() else { return };
    let id = m.action_id().map(str::to_owned);
    let pending = id.as_deref().and_then(|id| w.get_mut(id));
    match (pending, m.response().is_some()) {
        (Some(p), true) if p.list.is_none() => {
            if starts_list(&m) && !m.response().is_some_and(|r| r.eq_ignore_ascii_case("error")) {
                p.list = Some(Answer {
                    response: m,
                    events: vec![],
                });
            } else if let Some(p) = id.and_then(|id| w.remove(&id)) {
                let _ = p.tx.send(Answer {
                    response: m,
                    events: vec![],
                });
            }
        }
        (Some(p), false) if p.list.is_some() => {
            let done = ends_list(&m);
            if let Some(list) = p.list.as_mut() {
                list.events.push(m);
            }
            if done {
                if let Some(p) = id.and_then(|id| w.remove(&id)) {
                    if let Some(list) = p.list {
                        let _ = p.tx.send(list);
                    }
                }
            }
        }
        _ => {
            drop(w);
            let _ = events.send(m);
        }
    }
}
