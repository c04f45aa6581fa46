//! AMI framing (protocols.md §3.1): bytes from the socket in, the banner and messages out;
//! actions out as bytes. Pure: no I/O, so any split of a stream into reads gives the same
//! messages (property-tested) and hostile input is a clear error, never unbounded memory.
//!
//! On the wire: the server's first line is `Asterisk Call Manager/<version>`; after it
//! every message is `Key: Value` lines, each ended by CRLF (a bare LF is accepted), and the
//! message by an empty line. Keys are case-insensitive and may repeat (`Variable:`); a line
//! that does not start with a header name and a colon (old `Command` output) is kept under
//! the key `Output`.

/// Asterisk's own limit on headers in one message (`AST_MAX_MANHEADERS`).
pub const MAX_HEADERS: usize = 128;
/// The most a message (or the banner) may take before it is complete. Asterisk's biggest
/// single messages (a `CoreShowChannels` entry, a long `Command` output line) are a few KB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// One AMI message: its headers in order, repeats kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<(String, String)>,
}

/// What the decoder read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The server's greeting, with the AMI version it states (`13.0.0`, `1.3`, ...).
    Banner(String),
    /// A response or event.
    Message(Message),
}

/// Why a stream cannot be read as AMI. The connection should be dropped (and redialled).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the server did not greet as an Asterisk manager: {0:?}")]
    NotAmi(String),
    #[error("a message went past {limit} bytes without ending")]
    TooLarge { limit: usize },
    #[error("a message has more than {MAX_HEADERS} headers")]
    TooManyHeaders,
}

impl Message {
    /// An empty message (build an action with [`Message::with`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a header (builder style).
    #[must_use]
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.push(key, value);
        self
    }

    /// Add a header.
    pub fn push(&mut self, key: &str, value: &str) {
        self.fields.push((key.to_owned(), value.to_owned()));
    }

    /// The first value of `key`, whatever its case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// All headers in order.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The event's name, for events.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// `Success`, `Error`, `Follows` or `Goodbye`, for responses.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    /// The id that ties responses and list events to their action.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The message as bytes on the wire. Line breaks inside a value would end the message
    /// early (and let a value inject headers), so they become spaces.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.fields.len() * 24);
        for (k, v) in &self.fields {
            for part in [k.as_str(), ": ", v.as_str()] {
                out.extend(part.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// A header name: what Asterisk writes before a colon. Anything else before a colon (the
/// time in a line of `Command` output) makes the line output.
fn is_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Bytes in, frames out; see the module docs.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the next unread line starts in `buf`.
    start: usize,
    greeted: bool,
    current: Message,
}

impl Decoder {
    /// A decoder for a new connection (it expects the banner first).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add what the socket read.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            let Some(line) = self.next_line()? else {
                self.compact();
                return Ok(None);
            };
            if !self.greeted {
                self.greeted = true;
                let version = line
                    .strip_prefix("Asterisk Call Manager/")
                    .ok_or_else(|| FrameError::NotAmi(line.chars().take(80).collect()))?;
                return Ok(Some(Frame::Banner(version.trim().to_owned())));
            }
            if line.is_empty() {
                if self.current.fields.is_empty() {
                    continue; // stray blank lines between messages
                }
                return Ok(Some(Frame::Message(std::mem::take(&mut self.current))));
            }
            if self.current.fields.len() >= MAX_HEADERS {
                return Err(FrameError::TooManyHeaders);
            }
            match line.split_once(':').filter(|(k, _)| is_key(k)) {
                Some((k, v)) => self.current.push(k, v.strip_prefix(' ').unwrap_or(v).trim_end()),
                None => self.current.push("Output", &line),
            }
        }
    }

    /// The next CRLF- (or LF-) ended line, without its ending; lossy UTF-8.
    fn next_line(&mut self) -> Result<Option<String>, FrameError> {
        let rest = &self.buf[self.start..];
        let Some(at) = rest.iter().position(|&b| b == b'\n') else {
            // What is pending (the unfinished message so far plus this partial line) is
            // bounded, whatever the reads look like.
            if rest.len() + self.pending_bytes() > MAX_MESSAGE_BYTES {
                return Err(FrameError::TooLarge {
                    limit: MAX_MESSAGE_BYTES,
                });
            }
            return Ok(None);
        };
        let mut line = &rest[..at];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let text = String::from_utf8_lossy(line).into_owned();
        self.start += at + 1;
        if text.len() + self.pending_bytes() > MAX_MESSAGE_BYTES {
            return Err(FrameError::TooLarge {
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(Some(text))
    }

    fn pending_bytes(&self) -> usize {
        self.current.fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
    }

    /// Drop what has been read, so the buffer holds only the unread tail.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn all(d: &mut Decoder) -> Vec<Frame> {
        let mut out = vec![];
        while let Some(f) = d.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    const LOGIN: &[u8] = b"Asterisk Call Manager/13.0.0\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n";

    #[test]
    fn banner_then_messages_with_case_insensitive_repeated_keys() {
        let mut d = Decoder::new();
        d.push(LOGIN);
        d.push(b"event: VarSet\r\nvariable: A=1\r\nVARIABLE: B=2\r\nValue: a: b\r\n\r\n");
        let frames = all(&mut d);
        assert_eq!(frames[0], Frame::Banner("13.0.0".into()));
        let Frame::Message(ok) = &frames[1] else { panic!() };
        assert_eq!((ok.response(), ok.action_id()), (Some("Success"), Some("1")));
        let Frame::Message(booted) = &frames[2] else { panic!() };
        assert_eq!(booted.event(), Some("FullyBooted"));
        let Frame::Message(var) = &frames[3] else { panic!() };
        assert_eq!(var.event(), Some("VarSet"));
        assert_eq!(var.get_all("Variable").collect::<Vec<_>>(), ["A=1", "B=2"]);
        assert_eq!(var.get("value"), Some("a: b"), "only the first colon splits");
    }

    #[test]
    fn old_banners_bare_newlines_and_command_output() {
        let mut d = Decoder::new();
        d.push(
            b"Asterisk Call Manager/1.3\nResponse: Follows\nPrivilege: Command\nNo such command\nbuilt on 2014-08-06 19:30:37 UTC\n--END COMMAND--\n\n",
        );
        let frames = all(&mut d);
        assert_eq!(frames[0], Frame::Banner("1.3".into()));
        let Frame::Message(m) = &frames[1] else { panic!() };
        assert_eq!(
            m.get_all("Output").collect::<Vec<_>>(),
            ["No such command", "built on 2014-08-06 19:30:37 UTC", "--END COMMAND--"]
        );
    }

    #[test]
    fn something_else_on_the_port_is_refused() {
        let mut d = Decoder::new();
        d.push(b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(matches!(d.next_frame(), Err(FrameError::NotAmi(_))));
    }

    #[test]
    fn endless_lines_and_messages_stop_at_the_limit() {
        let mut d = Decoder::new();
        d.push(b"Asterisk Call Manager/13.0.0\r\n");
        assert!(matches!(d.next_frame(), Ok(Some(Frame::Banner(_)))));
        // One line that never ends.
        let chunk = vec![b'x'; 4096];
        let mut err = None;
        for _ in 0..32 {
            d.push(&chunk);
            if let Err(e) = d.next_frame() {
                err = Some(e);
                break;
            }
        }
        assert_eq!(
            err,
            Some(FrameError::TooLarge {
                limit: MAX_MESSAGE_BYTES
            })
        );
        // A message of many short headers that never ends.
        let mut d = Decoder::new();
        d.push(b"Asterisk Call Manager/13.0.0\r\nEvent: X\r\n");
        let mut headers = 0;
        let e = loop {
            d.push(b"K: v\r\n");
            headers += 1;
            match d.next_frame() {
                Err(e) => break e,
                Ok(_) => assert!(headers < 1000),
            }
        };
        assert_eq!(e, FrameError::TooManyHeaders);
    }

    #[test]
    fn values_cannot_inject_headers() {
        let action = Message::new()
            .with("Action", "Originate")
            .with("Variable", "X=1\r\nAction: Hangup");
        let mut d = Decoder::new();
        d.push(b"Asterisk Call Manager/13.0.0\r\n");
        d.push(&action.encode());
        let frames = all(&mut d);
        let Frame::Message(m) = &frames[1] else { panic!() };
        assert_eq!(m.get_all("Action").count(), 1);
        assert_eq!(m.get("Variable"), Some("X=1  Action: Hangup"));
    }

    fn message() -> impl Strategy<Value = Message> {
        let key = "[A-Za-z][A-Za-z0-9-]{0,15}";
        let value = "[ -~]{0,40}".prop_map(|v: String| v.trim().to_owned());
        prop::collection::vec((key, value), 1..12).prop_map(|fields| {
            let mut m = Message::new();
            for (k, v) in fields {
                m.push(&k, &v);
            }
            m
        })
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_gives_the_same_messages(
            messages in prop::collection::vec(message(), 1..8),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let mut stream = b"Asterisk Call Manager/13.0.0\r\n".to_vec();
            for m in &messages {
                stream.extend(m.encode());
            }
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            at.sort_unstable();
            at.dedup();
            let mut d = Decoder::new();
            let mut got = vec![];
            let mut from = 0;
            for cut in at.into_iter().chain([stream.len()]) {
                d.push(&stream[from..cut]);
                from = cut;
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            prop_assert_eq!(&got[0], &Frame::Banner("13.0.0".into()));
            let decoded: Vec<&Message> = got[1..].iter().map(|f| match f {
                Frame::Message(m) => m,
                Frame::Banner(_) => panic!("a second banner"),
            }).collect();
            prop_assert_eq!(decoded, messages.iter().collect::<Vec<_>>());
        }
    }
}
