//! The jitter buffer under a simulated network: seeded loss, delay variation and the
//! reordering it causes, duplicates. Checked: nothing is lost or played twice without being
//! counted, playout order is sequence order, losses inside the stream are concealed, and
//! after adapting, few packets come too late for their slot.

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_media::jitter::{JitterBuffer, JitterConfig, Playout};

#[derive(Debug, Clone)]
struct Net {
    first_seq: u16,
    /// Per packet: lost?, one-way delay in ms, duplicated?
    packets: Vec<(bool, f64, bool)>,
}

fn network(max_delay_var: f64, loss: f64) -> impl Strategy<Value = Net> {
    (
        any::<u16>(),
        prop::collection::vec((0.0..1.0f64, 0.0..max_delay_var, 0.0..1.0f64), 400..800),
    )
        .prop_map(move |(first_seq, raw)| Net {
            first_seq,
            packets: raw
                .into_iter()
                .map(|(l, d, dup)| (l < loss, 10.0 + d, dup < 0.02))
                .collect(),
        })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Played(u16),
    Concealed,
    Stretched,
    Silent,
}

struct Outcome {
    /// Every tick's outcome with the buffer's shrink counter after it.
    slots: Vec<(Slot, u64)>,
    played: Vec<u16>,
    late_after_warmup: u64,
    sent_after_warmup: usize,
}

fn run(net: &Net, jb: &mut JitterBuffer) -> Outcome {
    // (arrival time, seq index, payload)
    let mut arrivals: Vec<(f64, usize)> = Vec::new();
    for (i, &(lost, delay, dup)) in net.packets.iter().enumerate() {
        if lost {
            continue;
        }
        let t = i as f64 * 20.0 + delay;
        arrivals.push((t, i));
        if dup {
            arrivals.push((t + 1.0, i));
        }
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Outcome {
        slots: vec![],
        played: vec![],
        late_after_warmup: 0,
        sent_after_warmup: 0,
    };
    let mut k = 0;
    let ticks = net.packets.len() + 40;
    let warmup_ms = 2000.0;
    let mut late_at_warmup = None;
    for tick in 0..ticks {
        let now = tick as f64 * 20.0;
        while k < arrivals.len() && arrivals[k].0 <= now {
            let (t, i) = arrivals[k];
            let seq = net.first_seq.wrapping_add(i as u16);
            jb.push(
                seq,
                u32::from(seq).wrapping_mul(960),
                t,
                Bytes::copy_from_slice(&seq.to_be_bytes()),
            );
            k += 1;
        }
        if now >= warmup_ms && late_at_warmup.is_none() {
            late_at_warmup = Some(jb.stats().late);
        }
        let slot = match jb.pop() {
            Playout::Packet { seq, payload } => {
                assert_eq!(
                    payload.as_ref(),
                    seq.to_be_bytes(),
                    "payload belongs to its sequence number"
                );
                out.played.push(seq);
                Slot::Played(seq)
            }
            Playout::Conceal => Slot::Concealed,
            Playout::Stretch => Slot::Stretched,
            Playout::Silence => Slot::Silent,
        };
        out.slots.push((slot, jb.stats().shrunk));
    }
    out.late_after_warmup = jb.stats().late - late_at_warmup.unwrap_or(0);
    out.sent_after_warmup = net.packets.len().saturating_sub((warmup_ms / 20.0) as usize);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_is_accounted_for_and_played_in_order(net in network(120.0, 0.1)) {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let out = run(&net, &mut jb);
        let s = jb.stats();
        // Conservation: each arrival is played, late, a duplicate, dropped on purpose or waiting.
        prop_assert_eq!(s.received, s.played + s.late + s.duplicates + s.shrunk + s.discarded + jb.len() as u64);
        // Order: strictly increasing sequence numbers (modulo the 16-bit wrap).
        for w in out.played.windows(2) {
            let step = w[1].wrapping_sub(w[0]);
            prop_assert!((1..1000).contains(&step), "{} then {}", w[0], w[1]);
        }
        // Only packets that were sent and not lost are played.
        for &seq in &out.played {
            let i = seq.wrapping_sub(net.first_seq) as usize;
            prop_assert!(!net.packets[i].0, "lost packet {} was played", seq);
        }
    }

    #[test]
    fn losses_inside_the_stream_are_concealed(net in network(40.0, 0.15)) {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let out = run(&net, &mut jb);
        // Between two played packets with no pause in between, every missing sequence
        // number took exactly one concealed slot, unless it was dropped on purpose (shrink).
        let mut prev: Option<(u16, u64)> = None;
        let mut conceals = 0u64;
        let mut checked = 0;
        for &(slot, shrunk) in &out.slots {
            match slot {
                Slot::Played(seq) => {
                    if let Some((p, shrunk_before)) = prev {
                        let missing = u64::from(seq.wrapping_sub(p)) - 1;
                        prop_assert_eq!(missing, conceals + (shrunk - shrunk_before), "between {} and {}", p, seq);
                        checked += missing;
                    }
                    prev = Some((seq, shrunk));
                    conceals = 0;
                }
                Slot::Concealed => conceals += 1,
                // Inserted delay, not a missing packet.
                Slot::Stretched => {}
                Slot::Silent => {
                    prev = None;
                    conceals = 0;
                }
            }
        }
        prop_assert!(checked > 0, "15% loss must leave gaps inside the stream");
        let s = jb.stats();
        prop_assert!(s.concealed > 0, "15% loss must conceal something");
    }

    #[test]
    fn after_adapting_few_packets_miss_their_slot(net in network(100.0, 0.05)) {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let out = run(&net, &mut jb);
        // Delay varies by up to 100 ms (5 frames) and the buffer may grow to 12 frames:
        // once adapted, at most 5% of packets may arrive after their slot.
        let allowed = out.sent_after_warmup as u64 / 20 + 2;
        prop_assert!(out.late_after_warmup <= allowed, "late {} > {}", out.late_after_warmup, allowed);
    }
}
