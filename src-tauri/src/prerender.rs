//! The first frame in the page's own HTML. The UI (wasm) is fetched, compiled and run only
//! after the page has loaded, and its first render takes a while more; the shell renders
//! that same first frame (the UI's components, built natively with Yew's server renderer)
//! from the cache it has just read, and serves it inside `index.html`. The cached queue is
//! then in WebKit's first paint. The module's first render takes those elements over
//! (Yew's hydration: see `switchboard_ui::start`), so there is one UI, not two to keep
//! alike, and WebKit lays the console out and paints it once.

use switchboard_core::desktop::Boot;

/// The HTML of the first frame `boot` gives at `now_ms`, with times of day at
/// `utc_offset_ms`, or `None` if it could not be rendered (the page then starts empty, as
/// it did before there was a prerender).
pub fn first_frame(boot: &Boot, now_ms: i64, utc_offset_ms: i64) -> Option<String> {
    let first = switchboard_ui::First {
        boot: Some(boot.clone()),
        now: now_ms,
        queue_prerendered: false,
    };
    // Yew's renderer runs on a Tokio local set; a thread of its own keeps it clear of
    // whatever runtime the caller may be in (block_on inside one panics). Running it on
    // the caller's thread when it is in none saved no memory in bench desktop's turns.
    std::thread::scope(|s| {
        s.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().build().ok()?;
            let local = tokio::task::LocalSet::new();
            Some(local.block_on(&rt, switchboard_ui::prerender(first, utc_offset_ms)))
        })
        .join()
        .ok()
        .flatten()
    })
}

/// `page` with `frame` as the first thing in its body, or `None` if `page` has no
/// `<body>` tag to put it in.
pub fn into_page(page: &[u8], frame: &str) -> Option<Vec<u8>> {
    let tag = b"<body>";
    let at = page.windows(tag.len()).position(|w| w == tag)? + tag.len();
    let mut out = Vec::with_capacity(page.len() + frame.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(frame.as_bytes());
    out.extend_from_slice(&page[at..]);
    Some(out)
}

/// The local time zone's offset from UTC now, as the page's clock would give it.
pub fn utc_offset_ms() -> i64 {
    i64::from(chrono::Local::now().offset().local_minus_utc()) * 1000
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use switchboard_core::desktop::{CallSummary, ConnectionState, ConsoleState, Session};
    use switchboard_core::{Agent, AgentRole, AgentStatus, BusinessId, CallRecord, CallSid, CallStatus, Direction};

    /// 2026-11-27 13:05:00 UTC, in ms.
    const AT: i64 = 1_795_784_700_000;

    fn waiting(lead: Option<&str>, created_at: i64, random: u128) -> CallSummary {
        let sid = CallSid::from_parts(created_at as u64, random);
        let business = BusinessId::try_from(1).unwrap();
        let mut call = CallRecord::outbound(sid, business, "+14155550100".into(), "+14155550199".into(), created_at);
        call.direction = Direction::Inbound;
        call.status = CallStatus::Queued;
        CallSummary {
            call,
            lead_name: lead.map(str::to_owned),
        }
    }

    fn signed_in(queue: Vec<CallSummary>) -> Boot {
        Boot {
            state: ConsoleState {
                session: Some(Session {
                    gateway_url: "http://127.0.0.1:9".into(),
                    agent: Agent {
                        id: 7.try_into().unwrap(),
                        name: "alice".into(),
                        display_name: "Alice Agent".into(),
                        role: AgentRole::Agent,
                        status: AgentStatus::Available,
                        status_at: AT,
                    },
                    remembered: true,
                }),
                // A start from the cache: offline until the stream connects.
                connection: ConnectionState {
                    online: false,
                    last_sync_at: Some(AT),
                    detail: None,
                    changes: 0,
                },
                ..Default::default()
            },
            queue,
            ..Default::default()
        }
    }

    #[test]
    fn the_cached_queue_is_in_the_first_frame() {
        let boot = signed_in(vec![
            waiting(Some("Dana <Lead> & Co"), AT - 95_000, 1),
            waiting(None, AT - 5_000, 2),
        ]);
        let html = first_frame(&boot, AT, 0).expect("rendered");
        assert!(
            html.starts_with(r#"<div id="prerendered" inert style="display:contents">"#),
            "{html}"
        );
        // The queue panel with both callers, oldest first, and how long each has waited.
        let dana = html
            .find("Dana &lt;Lead&gt; &amp; Co")
            .expect("the lead's name, escaped");
        let unknown = html.find("Unknown caller").expect("the caller without a lead");
        assert!(dana < unknown, "oldest first");
        assert!(html.contains(r#"id="queue""#) && html.contains("queue-item"), "{html}");
        assert!(
            html.contains(">1:35<") && html.contains(">0:05<"),
            "waiting timers: {html}"
        );
        // Offline, answering is off; the banner says when the cache last synced.
        assert!(html.contains("Answering needs the gateway"), "{html}");
        assert!(html.contains("last synced 13:05"), "{html}");
        // The agent's own name in the top bar.
        assert!(html.contains("Alice Agent"), "{html}");
    }

    #[tokio::test]
    async fn it_renders_from_inside_a_runtime_too() {
        let html = first_frame(&signed_in(vec![waiting(None, AT - 1_000, 3)]), AT, 0).expect("rendered");
        assert!(html.contains("Unknown caller"), "{html}");
    }

    #[test]
    fn times_of_day_are_local() {
        let boot = signed_in(vec![]);
        let html = first_frame(&boot, AT, 2 * 3_600_000).expect("rendered");
        assert!(html.contains("last synced 15:05"), "{html}");
        let html = first_frame(&boot, AT, -(13 * 3_600_000 + 30 * 60_000)).expect("rendered");
        assert!(html.contains("last synced 23:35"), "the day before: {html}");
        assert!(html.contains("No callers waiting."), "{html}");
    }

    #[test]
    fn signed_out_the_first_frame_is_the_sign_in() {
        let html = first_frame(&Boot::default(), AT, 0).expect("rendered");
        assert!(!html.contains("queue-item"), "{html}");
        assert!(html.contains(r#"id="signin-url""#), "the sign-in form: {html}");
    }

    #[test]
    fn the_frame_goes_first_in_the_body() {
        let page = b"<html><head><title>x</title></head>\n<body><script>s()</script></body></html>";
        let out = into_page(page, "<p>frame</p>").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<html><head><title>x</title></head>\n<body><p>frame</p><script>s()</script></body></html>"
        );
        assert_eq!(into_page(b"<html>no body</html>", "<p>frame</p>"), None);
    }
}
