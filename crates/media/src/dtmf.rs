//! DTMF as RFC 4733 telephone-events: the 4-byte payload, the packet train a key press
//! becomes, and a receiver that turns packets back into keys once each.
//!
//! Payload layout (RFC 4733 §2.3): event (8 bits) | E (1) | R (1) | volume (6) |
//! duration (16, in RTP timestamp units of the telephone-event clock).

use crate::MediaError;

/// How long a key is held, and the pause after it, as most PBXs and Chrome send them.
pub const TONE_MS: u32 = 100;
/// Silence between two keys of one string.
pub const GAP_MS: u32 = 50;
/// Packet interval during an event.
pub const PACKET_MS: u32 = 20;
/// Volume field: power level in -dBm0 (10 means -10 dBm0).
pub const VOLUME: u8 = 10;

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// 0-9, 10 = `*`, 11 = `#`, 12-15 = A-D.
    pub event: u8,
    /// Set on the final packets of the event.
    pub end: bool,
    /// Power level, 0-63 (-dBm0).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The 4 bytes on the wire.
    pub fn encode(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, (u8::from(self.end) << 7) | (self.volume & 0x3f), d0, d1]
    }

    /// Parse a payload; `None` when it is shorter than 4 bytes.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let b: [u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

/// The event code of a keypad key.
pub fn event_code(key: char) -> Result<u8, MediaError> {
    Ok(match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => key as u8 - b'A' + 12,
        'a'..='d' => key as u8 - b'a' + 12,
        other => return Err(MediaError::InvalidDtmf(other)),
    })
}

/// The keypad key of an event code.
pub fn key(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + event - 12) as char,
        _ => return None,
    })
}

/// Check a whole string before anything is sent, so a bad key sends nothing.
pub fn validate(keys: &str) -> Result<Vec<u8>, MediaError> {
    keys.chars().filter(|c| !c.is_whitespace()).map(event_code).collect()
}

/// One packet of a key press: its payload, whether it starts the event (RTP marker) and
/// how many packet intervals after the event start it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: TelephoneEvent,
    pub marker: bool,
}

/// The packets of one key press at `clock_rate` (the telephone-event clock of the SDP):
/// one every 20 ms while the tone lasts, the first with the marker, then the end packet
/// three times (RFC 4733 §2.5.1.4) so one loss does not hang the tone. All carry the same
/// RTP timestamp, the event start.
pub fn key_press(event: u8, clock_rate: u32) -> Vec<EventPacket> {
    let step = clock_rate * PACKET_MS / 1000;
    let steps = TONE_MS / PACKET_MS;
    let mut out: Vec<EventPacket> = (1..=steps)
        .map(|k| EventPacket {
            payload: TelephoneEvent {
                event,
                end: false,
                volume: VOLUME,
                duration: (k * step) as u16,
            },
            marker: k == 1,
        })
        .collect();
    let last = TelephoneEvent {
        event,
        end: true,
        volume: VOLUME,
        duration: (steps * step) as u16,
    };
    out.extend(std::iter::repeat_n(
        EventPacket {
            payload: last,
            marker: false,
        },
        3,
    ));
    out
}

/// Turns received telephone-event packets into key presses, each reported once however many
/// packets (and retransmitted end packets) it took.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last_timestamp: Option<u32>,
}

impl DtmfReceiver {
    /// Feed one packet (its RTP timestamp and payload); returns the key when it starts a new
    /// event.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::decode(payload)?;
        if self.last_timestamp == Some(timestamp) {
            return None;
        }
        self.last_timestamp = Some(timestamp);
        key(event.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_layout_matches_rfc_4733() {
        // Key 5, end bit set, volume 10, duration 800: 05 | 1 0 001010 | 0x0320.
        let e = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.encode(), [0x05, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::decode(&[0x05, 0x8a, 0x03, 0x20]), Some(e));
        // '#' without end bit, volume 63, duration 160.
        let e = TelephoneEvent {
            event: 11,
            end: false,
            volume: 63,
            duration: 160,
        };
        assert_eq!(e.encode(), [0x0b, 0x3f, 0x00, 0xa0]);
        assert_eq!(TelephoneEvent::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn keys_map_both_ways() {
        for k in "0123456789*#ABCD".chars() {
            assert_eq!(key(event_code(k).expect("a key")), Some(k));
        }
        assert!(matches!(event_code('x'), Err(MediaError::InvalidDtmf('x'))));
        assert!(validate("12x").is_err());
        assert_eq!(validate("1 2#").expect("valid"), vec![1, 2, 11]);
    }

    #[test]
    fn a_key_press_is_five_packets_and_three_ends() {
        let packets = key_press(7, 48_000);
        assert_eq!(packets.len(), 8);
        assert!(packets[0].marker && packets[1..].iter().all(|p| !p.marker));
        let durations: Vec<u16> = packets.iter().map(|p| p.payload.duration).collect();
        assert_eq!(durations, vec![960, 1920, 2880, 3840, 4800, 4800, 4800, 4800]);
        assert_eq!(packets.iter().filter(|p| p.payload.end).count(), 3);
        // At the 8 kHz clock, 20 ms is 160 units.
        assert_eq!(key_press(1, 8000)[0].payload.duration, 160);
    }

    #[test]
    fn receiver_reports_each_press_once() {
        let mut rx = DtmfReceiver::default();
        let mut keys = String::new();
        for (ts, ev) in [(1000u32, 4u8), (9000, 2)] {
            for p in key_press(ev, 8000) {
                keys.extend(rx.receive(ts, &p.payload.encode()));
            }
        }
        assert_eq!(keys, "42");
    }
}
