//! What a PBX (or anything listening on its manager port) can send the gateway: any bytes,
//! in reads of any size. The first byte sets the read size, the rest is the stream, tried
//! with and without a proper greeting in front.
//!
//! Nothing may panic or hold more than one message's limit; a refusal ends the stream,
//! as the client drops the connection then. Every message has at most MAX_HEADERS headers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_telephony::asterisk::frame::{Decoder, Frame, MAX_HEADERS};

fn run(stream: &[u8], step: usize) {
    let mut d = Decoder::new();
    for chunk in stream.chunks(step) {
        d.push(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(Frame::Message(m))) => assert!(m.fields().len() <= MAX_HEADERS),
                Ok(Some(Frame::Banner(_))) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
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
