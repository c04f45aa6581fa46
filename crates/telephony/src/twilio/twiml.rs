//! TwiML documents, written with an XML writer (quick-xml) so every attribute and text is
//! escaped by construction. A document is a tree of [`Verb`]s under `<Response>`; the
//! constructors below are the verbs the Twilio provider uses. Attribute names are
//! camelCase, as in Twilio's own libraries.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// One element: a verb or a noun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verb {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    text: Option<String>,
    children: Vec<Verb>,
}

impl Verb {
    /// An element with no attributes or content.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    /// Add an attribute.
    #[must_use]
    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }

    /// Set the text content.
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Add a child element.
    #[must_use]
    pub fn child(mut self, child: Verb) -> Self {
        self.children.push(child);
        self
    }

    /// The element as data, `{name, attrs, text, children}`: what tests hand to Twilio's
    /// own TwiML builder to compare documents.
    pub fn describe(&self) -> serde_json::Value {
        let attrs: serde_json::Map<String, serde_json::Value> = self
            .attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        let mut v = serde_json::json!({
            "name": self.name,
            "attrs": attrs,
            "children": self.children.iter().map(Self::describe).collect::<Vec<_>>(),
        });
        if let Some(t) = &self.text {
            v["text"] = serde_json::Value::String(t.clone());
        }
        v
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let mut start = BytesStart::new(self.name);
        for (k, v) in &self.attrs {
            start.push_attribute((*k, v.as_str()));
        }
        if self.text.is_none() && self.children.is_empty() {
            return w.write_event(Event::Empty(start));
        }
        w.write_event(Event::Start(start))?;
        if let Some(t) = &self.text {
            w.write_event(Event::Text(BytesText::new(t)))?;
        }
        for c in &self.children {
            c.write(w)?;
        }
        w.write_event(Event::End(BytesEnd::new(self.name)))
    }
}

/// A `<Response>` document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    verbs: Vec<Verb>,
}

impl Response {
    /// An empty response (Twilio ends the call when it runs out of verbs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a verb.
    #[must_use]
    pub fn verb(mut self, v: Verb) -> Self {
        self.verbs.push(v);
        self
    }

    /// The document, with its XML declaration.
    pub fn render(&self) -> String {
        let mut w = Writer::new(Vec::new());
        let mut root = Verb::new("Response");
        root.children.clone_from(&self.verbs);
        // Writing into a Vec cannot fail.
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        let _ = root.write(&mut w);
        String::from_utf8(w.into_inner()).unwrap_or_default()
    }
}

/// `<Say>text</Say>`.
pub fn say(text: &str) -> Verb {
    Verb::new("Say").text(text)
}

/// `<Play loop="n">url</Play>`; 0 repeats until something else happens.
pub fn play(url: &str, repeat: u32) -> Verb {
    Verb::new("Play").attr("loop", repeat.to_string()).text(url)
}

/// `<Play digits="…"/>`: keys played to the call as DTMF tones.
pub fn play_digits(digits: &str) -> Verb {
    Verb::new("Play").attr("digits", digits)
}

/// How one participant sits in a `<Conference>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceSeat<'a> {
    /// The conference's friendly name (ours: the call's `call_sid`).
    pub name: &'a str,
    /// The conference starts (audio mixes) when this participant enters; until then the
    /// others hear `wait_url`.
    pub start_on_enter: bool,
    /// The conference ends, and everyone in it is hung up, when this participant leaves.
    pub end_on_exit: bool,
    /// Music while waiting (Twilio's default when `None`).
    pub wait_url: Option<&'a str>,
    /// Where the conference's events are reported, if this seat may create it.
    pub status_callback: Option<&'a str>,
}

/// `<Dial><Conference …>name</Conference></Dial>`, reporting start, end, join and leave
/// when it has a callback.
pub fn dial_conference(seat: &ConferenceSeat<'_>) -> Verb {
    let flag = |b: bool| if b { "true" } else { "false" };
    let mut c = Verb::new("Conference")
        .attr("beep", "false")
        .attr("startConferenceOnEnter", flag(seat.start_on_enter))
        .attr("endConferenceOnExit", flag(seat.end_on_exit));
    if let Some(url) = seat.wait_url {
        c = c.attr("waitUrl", url);
    }
    if let Some(url) = seat.status_callback {
        c = c
            .attr("statusCallback", url)
            .attr("statusCallbackMethod", "POST")
            .attr("statusCallbackEvent", "start end join leave");
    }
    Verb::new("Dial").child(c.text(seat.name))
}

/// `<Pause length="s"/>`.
pub fn pause(seconds: u32) -> Verb {
    Verb::new("Pause").attr("length", seconds.to_string())
}

/// `<Redirect method="POST">url</Redirect>`.
pub fn redirect(url: &str) -> Verb {
    Verb::new("Redirect").attr("method", "POST").text(url)
}

/// `<Hangup/>`.
pub fn hangup() -> Verb {
    Verb::new("Hangup")
}

/// `<Dial callerId=..>` around one noun.
pub fn dial(caller_id: Option<&str>, noun: Verb) -> Verb {
    let d = Verb::new("Dial");
    let d = match caller_id {
        Some(c) => d.attr("callerId", c),
        None => d,
    };
    d.child(noun)
}

/// `<Number>+1…</Number>`.
pub fn number(e164: &str) -> Verb {
    Verb::new("Number").text(e164)
}

/// `<Sip>sip:…</Sip>`.
pub fn sip(uri: &str) -> Verb {
    Verb::new("Sip").text(uri)
}

/// `<Connect><Stream url=..><Parameter name value/>…</Stream></Connect>`: a bidirectional
/// Media Stream to `url`, with custom parameters Twilio hands back in the `start` message.
pub fn connect_stream(url: &str, parameters: &[(&str, &str)]) -> Verb {
    let mut stream = Verb::new("Stream").attr("url", url);
    for (name, value) in parameters {
        stream = stream.child(Verb::new("Parameter").attr("name", *name).attr("value", *value));
    }
    Verb::new("Connect").child(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_escaped_by_construction() {
        let doc = Response::new()
            .verb(say("Tom & Jerry <3 \"quotes\""))
            .verb(dial(Some("+14155550100"), number("+14155550199")))
            .render();
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Tom &amp; Jerry &lt;3 &quot;quotes&quot;</Say>\
             <Dial callerId=\"+14155550100\"><Number>+14155550199</Number></Dial></Response>"
        );
    }

    #[test]
    fn a_media_stream_carries_its_parameters() {
        let doc = Response::new()
            .verb(connect_stream(
                "wss://gw.example/media?x=1&y=2",
                &[("call_sid", "call_01")],
            ))
            .render();
        assert!(
            doc.contains("<Connect><Stream url=\"wss://gw.example/media?x=1&amp;y=2\"><Parameter name=\"call_sid\" value=\"call_01\"/></Stream></Connect>"),
            "{doc}"
        );
        assert_eq!(
            Response::new().render(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"
        );
    }
}
