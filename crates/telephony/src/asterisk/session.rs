//! The provider's standing connection to the PBX: connect and log in, resynchronise,
//! then pump events into the [`Tracker`] and its call events to the gateway, with a
//! keep-alive `Ping`; when anything fails, reconnect after a wait that doubles from 1 s to
//! the configured ceiling, and resynchronise again. A refused login is not retried
//! quickly: it waits the ceiling, and [`Session::problem`] says why meanwhile.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::calls::Tracker;
use super::client::{AmiClient, AmiError, Login};
use super::frame::Message;
use crate::registry::Clock;
use crate::{EventSink, ProviderEvent};

/// Where to connect and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// The manager user.
    pub username: String,
    /// Its secret.
    pub secret: String,
    /// MD5 challenge login.
    pub md5: bool,
    /// Keep-alive interval.
    pub ping: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

/// The standing connection; actions go through [`Session::client`].
#[derive(Debug)]
pub struct Session {
    client: watch::Receiver<Option<AmiClient>>,
    problem: Arc<Mutex<Option<String>>>,
    stop: watch::Sender<bool>,
    target: Target,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Session {
    /// Start connecting to `target`; events about calls go to `sink`.
    pub fn start(target: Target, tracker: Arc<Mutex<Tracker>>, sink: EventSink, clock: Arc<dyn Clock>) -> Self {
        let (client_tx, client) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let problem = Arc::new(Mutex::new(Some("connecting to the PBX".to_owned())));
        tokio::spawn(run(
            target.clone(),
            tracker,
            sink,
            clock,
            client_tx,
            stop_rx,
            problem.clone(),
        ));
        Self {
            client,
            problem,
            stop,
            target,
        }
    }

    /// The settings this session connects with.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The logged-in connection, waiting up to `wait` for one.
    pub async fn client(&self, wait: Duration) -> Result<AmiClient, AmiError> {
        let mut rx = self.client.clone();
        let got = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match got {
            Ok(Ok(c)) => c.clone().ok_or(AmiError::Closed),
            _ => Err(AmiError::Connect(
                self.problem().unwrap_or_else(|| "not connected".into()),
            )),
        }
    }

    /// Why there is no connection now, if there is none.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn send_all(sink: &EventSink, events: Vec<switchboard_core::NormalizedCallEvent>) -> bool {
    for e in events {
        if sink.send(ProviderEvent::Call(e)).await.is_err() {
            return false;
        }
    }
    true
}

/// List `action`'s events named `event`.
async fn list(client: &AmiClient, action: &str, event: &str) -> Result<Vec<Message>, AmiError> {
    let answer = client.send(Message::new().with("Action", action)).await?;
    Ok(answer
        .events
        .into_iter()
        .filter(|m| m.event().is_some_and(|e| e.eq_ignore_ascii_case(event)))
        .collect())
}

async fn run(
    target: Target,
    tracker: Arc<Mutex<Tracker>>,
    sink: EventSink,
    clock: Arc<dyn Clock>,
    client_tx: watch::Sender<Option<AmiClient>>,
    mut stop: watch::Receiver<bool>,
    problem: Arc<Mutex<Option<String>>>,
) {
    let login = Login {
        username: target.username.clone(),
        secret: target.secret.clone(),
        md5: target.md5,
    };
    let set_problem = |p: Option<String>| *problem.lock().unwrap_or_else(|p| p.into_inner()) = p;
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match AmiClient::connect(&target.addr, &login).await {
            Ok((client, mut events)) => {
                tracing::info!(pbx = %target.addr, version = %client.version, "logged in to the PBX's manager interface");
                backoff = Duration::from_secs(1);
                // What the PBX has now, against what we remember.
                let snapshot = async {
                    let channels = list(&client, "CoreShowChannels", "CoreShowChannel").await?;
                    let queued = list(&client, "QueueStatus", "QueueEntry").await?;
                    Ok::<_, AmiError>((channels, queued))
                };
                match snapshot.await {
                    Ok((channels, queued)) => {
                        let out = tracker.lock().unwrap_or_else(|p| p.into_inner()).resync(
                            &channels,
                            &queued,
                            clock.now_ms(),
                        );
                        if !send_all(&sink, out).await {
                            return;
                        }
                        set_problem(None);
                        let _ = client_tx.send(Some(client.clone()));
                        let mut ping = tokio::time::interval(target.ping);
                        ping.tick().await;
                        let why = loop {
                            tokio::select! {
                                ev = events.recv() => match ev {
                                    Some(m) => {
                                        let out = tracker
                                            .lock()
                                            .unwrap_or_else(|p| p.into_inner())
                                            .on_event(&m, clock.now_ms());
                                        if !send_all(&sink, out).await {
                                            return;
                                        }
                                    }
                                    None => break "the PBX closed the connection".to_owned(),
                                },
                                _ = ping.tick() => {
                                    if let Err(e) = client.send(Message::new().with("Action", "Ping")).await {
                                        break format!("keep-alive failed: {e}");
                                    }
                                }
                                _ = stop.changed() => return,
                            }
                        };
                        tracing::warn!(pbx = %target.addr, reason = %why, "lost the PBX's manager interface; reconnecting");
                        let _ = client_tx.send(None);
                        set_problem(Some(why));
                        client.close();
                        Duration::ZERO
                    }
                    Err(e) => {
                        set_problem(Some(format!("resynchronising with the PBX failed: {e}")));
                        client.close();
                        backoff
                    }
                }
            }
            Err(AmiError::LoginRefused(m)) => {
                tracing::error!(pbx = %target.addr, message = %m, "the PBX refused the manager login");
                set_problem(Some(format!("the PBX refused the login: {m}")));
                target.max_backoff
            }
            Err(e) => {
                set_problem(Some(e.to_string()));
                backoff
            }
        };
        let wait = if wait.is_zero() {
            Duration::from_millis(200)
        } else {
            wait
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(target.max_backoff);
    }
}
