//! Debian's Chromium as an independent WebRTC peer: headless, driven through chromedriver,
//! its fake audio capture playing a WAV file, and a loopback HTTP server for the pages it
//! loads (a page from `http://127.0.0.1` is a secure context, as `getUserMedia` needs).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::free_port;

/// A headless Chromium session. The browser and its driver end when dropped.
#[derive(Debug)]
pub struct Chromium {
    _driver: Child,
    /// The WebDriver session.
    pub browser: Client,
}

impl Chromium {
    /// Start chromedriver and a headless Chromium whose microphone plays `mic` (a WAV
    /// file, looped) with permission prompts answered yes.
    pub async fn start(mic: &Path) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian chromium-driver; cargo xtask setup installs it)");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    format!("--use-file-for-fake-audio-capture={}", mic.display()),
                    "--autoplay-policy=no-user-gesture-required",
                    // Plain host candidates: our stack does not resolve Chrome's mDNS names.
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                ]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("an object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        // chromedriver has no readiness signal but accepting the session.
        let browser = loop {
            match ClientBuilder::native().capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "chromedriver did not start: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        Self {
            _driver: driver,
            browser,
        }
    }

    /// Run `script` (WebDriver's async script: it calls `arguments[arguments.length - 1]`
    /// with its answer) and return the answer, which must be a string; an answer starting
    /// with `error` fails the test.
    pub async fn run(&self, script: &str, args: Vec<serde_json::Value>) -> String {
        let answer = self.browser.execute_async(script, args).await.expect("the script ran");
        let answer = answer.as_str().unwrap_or_default().to_owned();
        assert!(
            !answer.is_empty() && !answer.starts_with("error"),
            "Chromium answered: {answer:?}"
        );
        answer
    }

    /// End the browser session.
    pub async fn close(self) {
        let _ = self.browser.close().await;
    }
}

/// One file a [`serve`]d site answers with: its path, content type and body.
pub type Page = (&'static str, &'static str, Vec<u8>);

/// Serve `pages` on a loopback port until the test ends (404 for other paths). Returns
/// the site's base URL, ending in `/`.
pub async fn serve(pages: Vec<Page>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let pages = std::sync::Arc::new(pages);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let pages = pages.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, kind, body) = match pages.iter().find(|(p, _, _)| *p == path) {
                    Some((_, kind, body)) => ("200 OK", *kind, body.as_slice()),
                    None => ("404 Not Found", "text/plain", b"not found".as_slice()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body).await;
            });
        }
    });
    format!("http://{addr}/")
}
