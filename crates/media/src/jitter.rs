//! An adaptive jitter buffer for 20 ms audio packets, clocked by playout.
//!
//! Packets go in as they arrive ([`JitterBuffer::push`], any order, duplicates and late ones
//! included); every 20 ms the playout side takes one [`Playout`] ([`JitterBuffer::pop`]):
//! the next packet, or `Conceal` when it is missing (the decoder then synthesises a frame),
//! or `Silence` while (re)buffering.
//!
//! The target depth follows the measured interarrival jitter (RFC 3550 §6.4.1 estimator)
//! and grows by one frame whenever a packet arrives after its playout slot. When the buffer
//! is two frames short of target, a synthesised frame is inserted (`Stretch`) to add delay,
//! while packets keep arriving to fill it: once a sender has been quiet for `max_conceal`
//! pops, what it left plays out and the gap after it is concealed like any other;
//! when it sits above target at every pop for a second one frame is dropped, so delay falls
//! back after a burst or once a late packet's extra frame is given back.
//!
//! While the sender protects its packets with FEC (it does so when we report loss), the
//! owner asks for one frame of look-ahead ([`JitterBuffer::set_lookahead`]): the packet
//! after a missing one is then here in time to rebuild it from ([`JitterBuffer::following`]),
//! and a single frame short of target is enough to stretch.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{FRAME_MS, SAMPLE_RATE};

/// Limits of the buffer, in 20 ms frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest target depth.
    pub min_frames: usize,
    /// Largest target depth (and the cap on added delay).
    pub max_frames: usize,
    /// Frames concealed on an empty buffer before playout stops and re-buffers.
    pub max_conceal: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            // One frame on a clean network (the target grows with measured jitter and
            // with every late packet): each frame of depth is 20 ms of the caller's delay.
            min_frames: 1,
            max_frames: 12,
            max_conceal: 5,
        }
    }
}

/// What to play for the next 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The packet with this RTP sequence number.
    Packet { seq: u16, payload: Bytes },
    /// The packet is missing: conceal it, from the FEC copy in the packet after it when
    /// that one is here ([`JitterBuffer::following`]), else by Opus PLC.
    Conceal,
    /// Nothing is missing, but the buffer is too shallow for the measured jitter: play one
    /// synthesised frame (Opus PLC) without advancing, which adds 20 ms of delay.
    Stretch,
    /// Nothing to play: buffering, or the sender is silent.
    Silence,
}

/// Counters, for tests, logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub received: u64,
    pub played: u64,
    pub concealed: u64,
    pub late: u64,
    pub duplicates: u64,
    /// Frames dropped on purpose to bring delay back down.
    pub shrunk: u64,
    /// Packets thrown away because a burst overflowed the buffer.
    pub discarded: u64,
    /// Frames inserted to deepen the buffer.
    pub stretched: u64,
    /// Of the concealed frames, those rebuilt from the FEC copy in the packet after them
    /// (counted by the pipeline, which decodes; the rest were guessed).
    pub rebuilt: u64,
}

impl std::ops::AddAssign for JitterStats {
    fn add_assign(&mut self, o: Self) {
        self.received += o.received;
        self.played += o.played;
        self.concealed += o.concealed;
        self.late += o.late;
        self.duplicates += o.duplicates;
        self.shrunk += o.shrunk;
        self.discarded += o.discarded;
        self.stretched += o.stretched;
        self.rebuilt += o.rebuilt;
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    packets: BTreeMap<u64, Bytes>,
    /// Extended (unwrapped) sequence number of the next frame to play.
    next: Option<u64>,
    /// Highest extended sequence number seen, the unwrapping reference.
    highest: Option<u64>,
    /// Nothing at or below this is accepted any more (already played or concealed).
    floor: u64,
    playing: bool,
    empty_pops: usize,
    /// Pops since the last packet arrived.
    idle_pops: usize,
    over_target_pops: usize,
    target: usize,
    /// Extra frames added because packets came late.
    late_bonus: usize,
    /// Extra frames kept so a missing packet's successor is here when its slot comes.
    lookahead: usize,
    jitter_ms: f64,
    last: Option<(f64, u32)>,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            packets: BTreeMap::new(),
            next: None,
            highest: None,
            floor: 0,
            playing: false,
            empty_pops: 0,
            idle_pops: 0,
            over_target_pops: 0,
            target: config.min_frames,
            late_bonus: 0,
            lookahead: 0,
            jitter_ms: 0.0,
            last: None,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Current target depth in frames.
    pub fn target_frames(&self) -> usize {
        self.target
    }

    /// Current interarrival jitter estimate, milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    fn unwrap_seq(&mut self, seq: u16) -> u64 {
        let ext = match self.highest {
            // Start far from zero so sequence numbers before the first one stay positive.
            None => (1u64 << 32) + u64::from(seq),
            Some(h) => {
                let delta = i64::from(seq.wrapping_sub(h as u16) as i16);
                (h as i64 + delta) as u64
            }
        };
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        ext
    }

    /// A packet arrived at `arrival_ms` (any monotonic clock) with RTP `seq` and `timestamp`.
    pub fn push(&mut self, seq: u16, timestamp: u32, arrival_ms: f64, payload: Bytes) {
        self.stats.received += 1;
        self.idle_pops = 0;
        let ext = self.unwrap_seq(seq);
        self.update_jitter(arrival_ms, timestamp);
        if ext < self.floor || self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            self.late_bonus = (self.late_bonus + 1).min(self.config.max_frames);
            self.retarget();
            return;
        }
        if self.packets.insert(ext, payload).is_some() {
            self.stats.duplicates += 1;
        }
        // A burst far beyond the largest depth: keep the newest, the rest is too late anyway.
        while self.packets.len() > self.config.max_frames * 4 {
            if let Some((&oldest, _)) = self.packets.first_key_value() {
                self.packets.remove(&oldest);
                self.stats.discarded += 1;
                self.floor = oldest + 1;
                if self.next.is_some_and(|n| n <= oldest) {
                    self.next = Some(oldest + 1);
                }
            }
        }
    }

    fn update_jitter(&mut self, arrival_ms: f64, timestamp: u32) {
        if let Some((prev_arrival, prev_ts)) = self.last {
            let media_ms = f64::from(timestamp.wrapping_sub(prev_ts) as i32) * 1000.0 / f64::from(SAMPLE_RATE);
            let d = (arrival_ms - prev_arrival) - media_ms;
            self.jitter_ms += (d.abs() - self.jitter_ms) / 16.0;
        }
        self.last = Some((arrival_ms, timestamp));
        self.retarget();
    }

    fn retarget(&mut self) {
        // Cover about three times the mean deviation, plus what lateness taught us. Frames
        // are added for it from half a frame on: rounding up would spend a whole 20 ms
        // frame on a LAN's fraction of a millisecond. Should that fraction still make a
        // packet miss its slot, the late packet adds its frame below.
        let from_jitter = (3.0 * self.jitter_ms / f64::from(FRAME_MS)).round() as usize + 1;
        self.target =
            (from_jitter + self.late_bonus + self.lookahead).clamp(self.config.min_frames, self.config.max_frames);
    }

    /// Keep `frames` more than the jitter needs, so the packet after a lost one has
    /// arrived when the lost one is due (0: play each packet as soon as it may).
    pub fn set_lookahead(&mut self, frames: usize) {
        if frames != self.lookahead {
            self.lookahead = frames;
            self.retarget();
        }
    }

    /// The packet after a frame just concealed, when it is already here: its FEC copy can
    /// rebuild the missing frame (see [`Playout::Conceal`]).
    pub fn following(&self) -> Option<&Bytes> {
        self.next.and_then(|n| self.packets.get(&n))
    }

    /// Take what to play for the next 20 ms.
    pub fn pop(&mut self) -> Playout {
        self.idle_pops = self.idle_pops.saturating_add(1);
        if !self.playing {
            let depth = match (self.packets.first_key_value(), self.packets.last_key_value()) {
                (Some((&first, _)), Some((&last, _))) => (last - first + 1) as usize,
                _ => 0,
            };
            if depth < self.target {
                return Playout::Silence;
            }
            self.playing = true;
            self.next = self.packets.first_key_value().map(|(&k, _)| k);
        }
        let Some(next) = self.next else {
            self.playing = false;
            return Playout::Silence;
        };
        // Too shallow for the jitter we measure (by two frames or more), or short of the
        // look-ahead at all: add a frame of delay. Only while packets come in to deepen it:
        // once the sender has been quiet as long as a gap is concealed, stretching would
        // repeat its last sound for as long as it stays quiet (under jitter the target is
        // deeper than the one or two packets a stopped sender leaves behind), so what is
        // here plays out instead.
        if let Some((&last, _)) = self.packets.last_key_value() {
            let span = (last + 1).saturating_sub(next) as usize;
            let slack = usize::from(self.lookahead == 0);
            let arriving = self.idle_pops <= self.config.max_conceal;
            if span + slack < self.target && arriving && self.packets.contains_key(&next) {
                self.stats.stretched += 1;
                return Playout::Stretch;
            }
        }
        self.shrink_if_deep(next);
        let next = self.next.unwrap_or(next);
        self.next = Some(next + 1);
        self.floor = next + 1;
        if let Some(payload) = self.packets.remove(&next) {
            self.empty_pops = 0;
            self.stats.played += 1;
            // Slowly give back the margin added for late packets.
            if self.stats.played % 250 == 0 && self.late_bonus > 0 {
                self.late_bonus -= 1;
                self.retarget();
            }
            return Playout::Packet {
                seq: next as u16,
                payload,
            };
        }
        if self.packets.is_empty() {
            self.empty_pops += 1;
            if self.empty_pops > self.config.max_conceal {
                // The sender went quiet (hold, mute on a DTX sender, network cut): stop
                // concealing and buffer again from whatever arrives next.
                self.playing = false;
                self.next = None;
                return Playout::Silence;
            }
        }
        self.stats.concealed += 1;
        Playout::Conceal
    }

    /// Drop one frame when the buffer has stayed above target at every pop for a second. A
    /// jittery stream dips to its target now and then, which restarts the count; a stream
    /// that only carries a frame it no longer needs (added for a late packet whose lesson
    /// has since been given back) does not, and loses that frame's delay.
    fn shrink_if_deep(&mut self, next: u64) {
        let depth = self
            .packets
            .last_key_value()
            .map_or(0, |(&last, _)| (last + 1).saturating_sub(next) as usize);
        if depth > self.target {
            self.over_target_pops += 1;
        } else {
            self.over_target_pops = 0;
        }
        // Only drop a frame that is here: skipping a missing one would count it twice if it
        // then arrived late.
        if self.over_target_pops >= 50 && self.packets.contains_key(&next) {
            self.over_target_pops = 0;
            self.packets.remove(&next);
            self.next = Some(next + 1);
            self.stats.shrunk += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(seq: u16) -> Bytes {
        Bytes::copy_from_slice(&seq.to_be_bytes())
    }

    fn ts(seq: u16) -> u32 {
        u32::from(seq) * 960
    }

    #[test]
    fn buffers_then_plays_in_order_across_the_wrap() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let seqs: Vec<u16> = (0..6).map(|i| 65533u16.wrapping_add(i)).collect();
        // Arrive out of order: 2nd before 1st.
        let order = [1usize, 0, 2, 3, 4, 5];
        for (k, &i) in order.iter().enumerate() {
            // The RTP clock does not wrap with the sequence number: 960 per packet from here.
            jb.push(seqs[i], 7_000 + i as u32 * 960, k as f64 * 20.0, bytes(seqs[i]));
        }
        let played: Vec<u16> = (0..6)
            .filter_map(|_| match jb.pop() {
                Playout::Packet { seq, .. } => Some(seq),
                _ => None,
            })
            .collect();
        assert_eq!(played, seqs);
    }

    #[test]
    fn a_clean_network_is_played_one_frame_deep_and_jitter_deepens_it() {
        // Packets every 20 ms on the dot, one pop per 20 ms just after each arrival.
        let mut clean = JitterBuffer::new(JitterConfig::default());
        let mut waiting = Vec::new();
        for s in 0..200u16 {
            clean.push(s, ts(s), f64::from(s) * 20.0, bytes(s));
            assert!(matches!(clean.pop(), Playout::Packet { seq, .. } if seq == s));
            waiting.push(clean.len());
        }
        assert_eq!(clean.target_frames(), 1);
        assert!(
            waiting.iter().all(|&w| w == 0),
            "nothing waits longer than its own frame"
        );
        // The same stream with +-15 ms of delay variation: the target grows to cover it.
        let mut jittery = JitterBuffer::new(JitterConfig::default());
        for s in 0..200u16 {
            let wobble = if s % 2 == 0 { 15.0 } else { -15.0 };
            jittery.push(s, ts(s), f64::from(s) * 20.0 + wobble, bytes(s));
        }
        assert!(jittery.target_frames() >= 3, "target {}", jittery.target_frames());
    }

    #[test]
    fn a_lan_s_sub_millisecond_jitter_keeps_one_frame() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for s in 0..500u16 {
            let wobble = if s % 3 == 0 { 0.8 } else { -0.4 };
            jb.push(s, ts(s), f64::from(s) * 20.0 + 5.0 + wobble, bytes(s));
            assert!(
                matches!(jb.pop(), Playout::Packet { seq, .. } if seq == s),
                "packet {s} on time"
            );
        }
        assert!(jb.jitter_ms() > 0.5, "{}", jb.jitter_ms());
        assert_eq!(jb.target_frames(), 1);
    }

    #[test]
    fn the_frame_added_for_a_late_packet_is_given_back() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut waiting_after = Vec::new();
        for s in 0..1_000u16 {
            let t = f64::from(s) * 20.0;
            if s == 100 || s == 101 {
                // Two in a row whose slots pass before they arrive: two frames of margin
                // wanted, one stretched in.
                jb.pop();
                jb.push(s, ts(s), t + 25.0, bytes(s));
                continue;
            }
            jb.push(s, ts(s), t, bytes(s));
            jb.pop();
            waiting_after.push((s, jb.len()));
        }
        assert_eq!(jb.stats().late, 2);
        assert!(
            waiting_after.iter().any(|&(s, w)| s > 101 && w > 0),
            "the late packet deepened the buffer"
        );
        assert!(jb.stats().shrunk >= 1, "{:?}", jb.stats());
        assert_eq!(jb.target_frames(), 1);
        let tail = &waiting_after[waiting_after.len() - 100..];
        assert!(tail.iter().all(|&(_, w)| w == 0), "back to one frame: {tail:?}");
    }

    #[test]
    fn a_missing_packet_is_concealed_and_a_late_one_dropped() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for s in [10u16, 11, 13, 14] {
            jb.push(s, ts(s), f64::from(s) * 20.0, bytes(s));
        }
        assert!(matches!(jb.pop(), Playout::Packet { seq: 10, .. }));
        assert!(matches!(jb.pop(), Playout::Packet { seq: 11, .. }));
        assert_eq!(jb.pop(), Playout::Conceal);
        // 12 shows up after its slot: too late, counted, not played.
        jb.push(12, ts(12), 300.0, bytes(12));
        assert!(matches!(jb.pop(), Playout::Packet { seq: 13, .. }));
        assert_eq!(jb.stats().late, 1);
        assert_eq!(jb.stats().concealed, 1);
    }

    #[test]
    fn duplicates_play_once() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for s in [1u16, 1, 2, 2, 3] {
            jb.push(s, ts(s), f64::from(s) * 20.0, bytes(s));
        }
        let played = (0..3).filter(|_| matches!(jb.pop(), Playout::Packet { .. })).count();
        assert_eq!(played, 3);
        assert_eq!(jb.stats().duplicates, 2);
    }

    #[test]
    fn silence_after_the_sender_stops_then_rebuffers() {
        let cfg = JitterConfig::default();
        let mut jb = JitterBuffer::new(cfg);
        for s in 0..3u16 {
            jb.push(s, ts(s), f64::from(s) * 20.0, bytes(s));
        }
        let out: Vec<Playout> = (0..(3 + cfg.max_conceal + 2)).map(|_| jb.pop()).collect();
        assert_eq!(
            out.iter().filter(|p| matches!(p, Playout::Conceal)).count(),
            cfg.max_conceal
        );
        assert_eq!(out.last(), Some(&Playout::Silence));
        // The sender comes back much later (after a hold): playout resumes from there.
        for s in 500..504u16 {
            jb.push(s, ts(s), f64::from(s) * 20.0, bytes(s));
        }
        assert!(matches!(jb.pop(), Playout::Packet { seq: 500, .. }));
    }

    #[test]
    fn a_sender_that_stops_on_a_jittery_network_falls_silent() {
        // Seen in a full test run on a loaded machine: a consulted agent's leg was hung up
        // while the network was jittery, and the agent went on hearing a concealed echo of
        // the other agent's voice for seconds, because the buffer stretched its last packet
        // waiting for packets that would never come.
        let cfg = JitterConfig::default();
        let mut jb = JitterBuffer::new(cfg);
        let mut played = 0;
        for s in 0..200u16 {
            let wobble = if s % 2 == 0 { 15.0 } else { -15.0 };
            jb.push(s, ts(s), f64::from(s) * 20.0 + wobble, bytes(s));
            played += usize::from(matches!(jb.pop(), Playout::Packet { .. }));
        }
        // Deeper than the look-ahead-less stretch rule's two frames: once one or two
        // packets are left, each pop would stretch.
        let (target, waiting) = (jb.target_frames(), jb.len());
        assert!(target >= 3, "target {target}");
        // The sender stops. What is here plays, the gap after it is concealed as any gap,
        // then playout stops: no more synthesised frames, however long it stays quiet.
        let after: Vec<Playout> = (0..500).map(|_| jb.pop()).collect();
        let synthesised = after
            .iter()
            .filter(|p| matches!(p, Playout::Conceal | Playout::Stretch))
            .count();
        let heard = after.iter().filter(|p| matches!(p, Playout::Packet { .. })).count();
        assert_eq!(played + heard, 200, "every packet played once");
        assert!(
            synthesised <= 2 * cfg.max_conceal,
            "{synthesised} frames synthesised after the sender stopped: {:?}",
            &after[..20]
        );
        assert!(
            after[2 * cfg.max_conceal + waiting..]
                .iter()
                .all(|p| *p == Playout::Silence)
        );
        // The sender comes back: it is played again.
        for s in 900..905u16 {
            jb.push(s, ts(s), f64::from(s) * 20.0, bytes(s));
        }
        assert!((0..5).any(|_| matches!(jb.pop(), Playout::Packet { .. })));
    }

    #[test]
    fn jitter_raises_the_target() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let calm = jb.target_frames();
        // Packets alternate between on time and 60 ms late.
        for s in 0..200u16 {
            let late = if s % 2 == 0 { 0.0 } else { 60.0 };
            jb.push(s, ts(s), f64::from(s) * 20.0 + late, bytes(s));
            jb.pop();
        }
        assert!(jb.jitter_ms() > 20.0, "{}", jb.jitter_ms());
        assert!(jb.target_frames() > calm + 1, "{} vs {calm}", jb.target_frames());
    }
}
