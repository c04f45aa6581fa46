//! What a PBX (or anything listening on its manager port) can send the gateway: any bytes,
//! in reads of any size. The first byte sets the read size, the rest is the stream, tried
//! with and without a proper greeting in front.
//!
//! Nothing may panic or hold more than one message's limit; a refusal ends the stream,
//! as the client drops the connection then. Every message has at most MAX_HEADERS headers.
//!
//! Every message then goes through the event parser (the tracker that turns channel
//! events into call events, with one business number so inbound calls can start), and
//! the messages so far are also replayed as a resync: no panic, and every call event it
//! makes names the PBX's call id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_telephony::asterisk::calls::Tracker;
use switchboard_telephony::asterisk::frame::{Decoder, Frame, Message, MAX_HEADERS};

fn run(stream: &[u8], step: usize) {
    let mut d = Decoder::new();
    let mut tracker = Tracker::new(vec!["+14155550177".into()], Some("https://pbx.test/rec".into()));
    let mut seen: Vec<Message> = Vec::new();
    let check = |events: Vec<switchboard_core::NormalizedCallEvent>| {
        for e in events {
            assert!(e.vendor_call_id.is_some());
        }
    };
    'stream: for chunk in stream.chunks(step) {
        d.push(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    assert!(m.fields().len() <= MAX_HEADERS);
                    check(tracker.on_event(&m, 1_700_000_000_000));
                    if seen.len() < 64 {
                        seen.push(m);
                    }
                }
                Ok(Some(Frame::Banner(_))) => {}
                Ok(None) => break,
                // The client drops the connection here.
                Err(_) => break 'stream,
            }
        }
    }
    check(tracker.resync(&seen, &seen, 1_700_000_100_000));
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(first).max(1);
    run(rest, step);
    let mut greeted = b"Asterisk Call Manager/13.0.0\r\n".to_vec();
    greeted.extend_from_slice(rest);
    run(&greeted, step);
});
