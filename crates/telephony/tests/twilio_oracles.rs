//! Our Twilio code against Twilio's and SignalWire's own libraries (npm `twilio`,
//! `@signalwire/compatibility-api`), run at test time by `tests/node/oracle.js`:
//!
//! - signatures over generated requests (ports, repeated names, odd characters, JSON
//!   bodies) match both ways: our signature validates in their code and theirs in ours,
//!   and a tampered request is refused by both;
//! - our TwiML equals `twilio.twiml.VoiceResponse`'s for the same verbs, after XML
//!   normalisation.
//!
//! `cargo xtask setup` installs the node packages (`npm ci` in tests/node).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};
use switchboard_telephony::twilio::signature::{sign, sign_as_sent, verify};
use switchboard_telephony::twilio::twiml::{self, Response, Verb};

/// The oracle process: one JSON request per line in, one answer per line out.
struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Oracle {
    fn start() -> Self {
        let dir = switchboard_e2e::node_dir();
        assert!(
            dir.join("node_modules/twilio").exists(),
            "the vendors' libraries are not installed: run `cargo xtask setup` (npm ci in tests/node)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("oracle.js"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdin, stdout }
    }

    fn ask(&mut self, req: &Value) -> Value {
        writeln!(self.stdin, "{req}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("oracle said {line:?}: {e}"));
        assert!(v.get("error").is_none(), "oracle error for {req}: {v}");
        v
    }
}

/// A small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
    fn text(&mut self) -> String {
        let atoms = [
            "a", "Z", "0", "9", " ", "+", "&", "=", "%", "é", "☎", "'", "\"", "<", "/", "?", "#",
        ];
        (0..self.next() % 12).map(|_| self.pick(&atoms)).collect()
    }
}

fn form_body(params: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
        .into_bytes()
}

/// Params as the JS libraries take them: one value, or an array for a repeated name.
fn js_params(params: &[(String, String)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in params {
        match m.get_mut(k) {
            None => {
                m.insert(k.clone(), json!(v));
            }
            Some(Value::Array(a)) => a.push(json!(v)),
            Some(single) => *single = json!([single.clone(), v]),
        }
    }
    Value::Object(m)
}

#[test]
fn signatures_agree_with_twilio_and_signalwire_both_ways() {
    let mut oracle = Oracle::start();
    let mut rng = Rng(0x5eed);
    let hosts = [
        "gw.example.com",
        "gw.example.com:8443",
        "10.0.0.7:8080",
        "user@gw.example.com",
    ];
    let names = [
        "CallSid",
        "CallStatus",
        "From",
        "To",
        "Digits",
        "SequenceNumber",
        "Caller",
        "X",
    ];
    let form = Some("application/x-www-form-urlencoded");
    for case in 0..150 {
        let token = format!("tok{}", rng.next());
        let scheme = rng.pick(&["https", "http"]);
        let host = rng.pick(&hosts);
        let url = format!(
            "{scheme}://{host}/webhooks/twilio/main?call_sid=c{case}&n={}",
            rng.next() % 100
        );
        let params: Vec<(String, String)> = (0..rng.next() % 7)
            .map(|_| (rng.pick(&names).to_owned(), rng.text()))
            .collect();
        let body = form_body(&params);
        let ours = sign(&token, &url, &params);
        let theirs = oracle.ask(&json!({ "op": "sign", "token": token, "url": url, "params": js_params(&params) }));
        assert_eq!(theirs["signature"], ours, "case {case}: {url} {params:?}");
        assert!(
            verify(&token, &url, form, &body, theirs["signature"].as_str()),
            "case {case}"
        );
        let v = oracle.ask(&json!({ "op": "validate", "lib": "twilio", "token": token, "url": url,
                                    "params": js_params(&params), "signature": ours }));
        assert_eq!(
            v["valid"], true,
            "twilio refused our signature, case {case}: {url} {params:?}"
        );
        // SignalWire signs a repeated name's values in the order sent; its library has no
        // signing call, so ours in that order must validate there, and in our verify.
        let as_sent = sign_as_sent(&token, &url, &params);
        let v = oracle.ask(
            &json!({ "op": "validate", "lib": "signalwire", "token": token, "url": url,
                                    "params": js_params(&params), "signature": as_sent }),
        );
        assert_eq!(
            v["valid"], true,
            "signalwire refused our signature, case {case}: {url} {params:?}"
        );
        assert!(verify(&token, &url, form, &body, Some(&as_sent)), "case {case}");
        // Tampered: an added parameter, or a different path.
        let mut tampered = params.clone();
        tampered.push(("Injected".to_owned(), "1".to_owned()));
        assert!(
            !verify(&token, &url, form, &form_body(&tampered), Some(&ours)),
            "case {case}"
        );
        for (lib, sig) in [("twilio", &ours), ("signalwire", &as_sent)] {
            let v = oracle.ask(&json!({ "op": "validate", "lib": lib, "token": token, "url": url,
                                        "params": js_params(&tampered), "signature": sig }));
            assert_eq!(v["valid"], false, "{lib} accepted a tampered request, case {case}");
        }
        assert!(
            !verify(&token, &url, form, &form_body(&tampered), Some(&as_sent)),
            "case {case}"
        );
        let other = url.replace("/main?", "/other?");
        assert!(!verify(&token, &other, form, &body, Some(&ours)));
    }
}

#[test]
fn json_bodies_agree_with_twilio_and_signalwire() {
    let mut oracle = Oracle::start();
    let token = "12345";
    for body in [
        r#"{"property": "value", "boolean": true}"#,
        "{}",
        r#"{"event":"start","n":[1,2,3]}"#,
    ] {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let url = format!("https://gw.example.com/webhooks/twilio/main?bodySHA256={hash}");
        let ours = sign(token, &url, &[]);
        assert!(verify(
            token,
            &url,
            Some("application/json"),
            body.as_bytes(),
            Some(&ours)
        ));
        assert!(!verify(
            token,
            &url,
            Some("application/json"),
            format!("{body} ").as_bytes(),
            Some(&ours)
        ));
        for lib in ["twilio", "signalwire"] {
            let v = oracle.ask(&json!({ "op": "validate_body", "lib": lib, "token": token, "url": url, "body": body, "signature": ours }));
            assert_eq!(v["valid"], true, "{lib}: {body}");
            let changed = format!("{body} ");
            let v = oracle.ask(&json!({ "op": "validate_body", "lib": lib, "token": token, "url": url, "body": changed, "signature": ours }));
            assert_eq!(v["valid"], false, "{lib} accepted a changed body");
        }
    }
}
/// Canonical form of an XML document: one line per element (depth, name, sorted
/// attributes) and per non-blank text, so formatting differences (quotes, attribute
/// order, self-closing tags, which characters are escaped) do not matter.
fn canonical(xml: &str) -> Vec<String> {
    use quick_xml::events::{BytesStart, Event};
    fn element(depth: usize, e: &BytesStart<'_>) -> String {
        let mut attrs: Vec<String> = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                format!(
                    "{}={}",
                    String::from_utf8_lossy(a.key.as_ref()),
                    a.unescape_value().unwrap()
                )
            })
            .collect();
        attrs.sort();
        format!(
            "{depth} <{}> {}",
            String::from_utf8_lossy(e.name().as_ref()),
            attrs.join(" ")
        )
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Text arrives in pieces: plain runs and entity references (`&amp;`, `&#39;`).
    let mut text = String::new();
    loop {
        let event = reader.read_event().unwrap();
        match &event {
            Event::Text(t) => {
                text.push_str(&t.decode().unwrap());
                continue;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let c = match name.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => {
                        let code = other
                            .strip_prefix("#x")
                            .map(|h| u32::from_str_radix(h, 16).unwrap())
                            .or_else(|| other.strip_prefix('#').map(|d| d.parse().unwrap()))
                            .unwrap_or_else(|| panic!("unknown entity {other}"));
                        char::from_u32(code).unwrap()
                    }
                };
                text.push(c);
                continue;
            }
            _ => {}
        }
        if !text.trim().is_empty() {
            out.push(format!("{depth} text {text}"));
        }
        text.clear();
        match event {
            Event::Start(e) => {
                out.push(element(depth, &e));
                depth += 1;
            }
            Event::Empty(e) => out.push(element(depth, &e)),
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn twiml_matches_twilios_voice_response() {
    let mut oracle = Oracle::start();
    let documents: Vec<Vec<Verb>> = vec![
        vec![],
        vec![
            twiml::say("Please hold & we'll connect you <now>"),
            twiml::play("https://gw.example.com/hold.mp3?a=1&b=2", 0),
        ],
        vec![twiml::dial(Some("+14155550100"), twiml::number("+14155550199"))],
        vec![twiml::dial(None, twiml::sip("sip:agent@pbx.example.com;transport=tls"))],
        vec![twiml::connect_stream(
            "wss://gw.example.com/media/twilio?x=1&y=\"2\"",
            &[("call_sid", "call_01H"), ("note", "a&b")],
        )],
        vec![twiml::dial_conference(&twiml::ConferenceSeat {
            name: "call_01H",
            start_on_enter: false,
            end_on_exit: true,
            wait_url: Some("https://gw.example.com/hold.mp3"),
            status_callback: Some("https://gw.example.com/webhooks/twilio/main?call_sid=call_01H&caller=CA1"),
        })],
        vec![twiml::dial_conference(&twiml::ConferenceSeat {
            name: "call_01J",
            start_on_enter: true,
            end_on_exit: true,
            wait_url: None,
            status_callback: None,
        })],
        vec![twiml::play_digits("12#*w9")],
        vec![
            twiml::pause(2),
            twiml::redirect("https://gw.example.com/next"),
            twiml::hangup(),
        ],
    ];
    for verbs in documents {
        let ours = verbs.iter().fold(Response::new(), |r, v| r.verb(v.clone())).render();
        let spec: Vec<Value> = verbs.iter().map(Verb::describe).collect();
        let theirs = oracle.ask(&json!({ "op": "twiml", "verbs": spec }));
        let theirs = theirs["xml"].as_str().unwrap();
        assert_eq!(canonical(&ours), canonical(theirs), "ours:   {ours}\ntheirs: {theirs}");
        assert!(!canonical(&ours).is_empty());
    }
}
