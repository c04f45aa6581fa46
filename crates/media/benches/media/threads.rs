//! Where a process's CPU goes, by kind of thread: `bench media cpu` splits the agent's end
//! of its calls into the media threads (the engine, WebRTC, the codec and the processing
//! module), the WAV devices' threads (the benchmark's stand-in for a sound card, whose
//! own thread a real device has too) and the rest, and counts how often the media threads
//! went to sleep and were woken (each a trip through the kernel's scheduler).

use std::collections::HashMap;

/// The kinds of thread the agent's end runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `media-<n>`: a call's tasks (see `switchboard_media::threads`).
    Media,
    /// `wav-device`: one per call, pacing its WAV microphone and speaker in real time.
    Device,
    /// Everything else: the caller's runtime, the benchmark's own thread.
    Other,
}

impl Kind {
    fn of(comm: &str) -> Self {
        // The main thread is named after the binary (`media-<hash>`), so only digits count.
        match comm.strip_prefix("media-") {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Kind::Media,
            _ if comm == "wav-device" => Kind::Device,
            _ => Kind::Other,
        }
    }
}

/// One thread's counters at a moment.
#[derive(Debug, Clone, Copy)]
struct Counters {
    kind: Kind,
    /// CPU time, ns (`schedstat`'s first field: to the nanosecond, not in 10 ms ticks).
    cpu_ns: u64,
    /// Times it gave up the CPU to wait (`voluntary_ctxt_switches`).
    sleeps: u64,
}

/// Every thread of this process at one moment, by thread id.
#[derive(Debug, Default)]
pub struct Snapshot(HashMap<u32, Counters>);

impl Snapshot {
    /// Read `/proc/self/task`. A thread that ends while it is read is left out.
    pub fn take() -> Self {
        let mut threads = HashMap::new();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Self(threads);
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
                continue;
            };
            let path = task.path();
            let read = |name: &str| std::fs::read_to_string(path.join(name)).ok();
            let (Some(comm), Some(schedstat), Some(status)) = (read("comm"), read("schedstat"), read("status")) else {
                continue;
            };
            let cpu_ns = schedstat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let sleeps = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            threads.insert(
                tid,
                Counters {
                    kind: Kind::of(comm.trim()),
                    cpu_ns,
                    sleeps,
                },
            );
        }
        Self(threads)
    }

    /// What each kind of thread did since `before` (taken `secs` earlier, with `calls`
    /// calls live), per call: over the threads alive at both.
    pub fn per_call_since(&self, before: &Snapshot, secs: f64, calls: usize) -> Split {
        let by = secs * calls as f64;
        let mut split = Split::default();
        for (tid, now) in &self.0 {
            let Some(then) = before.0.get(tid) else { continue };
            // Seconds of CPU per second, as a percentage of a core.
            let cpu = now.cpu_ns.saturating_sub(then.cpu_ns) as f64 / 1e9 / by * 100.0;
            match now.kind {
                Kind::Media => {
                    split.media += cpu;
                    split.media_sleeps += now.sleeps.saturating_sub(then.sleeps) as f64 / by;
                }
                Kind::Device => split.devices += cpu,
                Kind::Other => split.other += cpu,
            }
        }
        split
    }
}

/// Per call, by kind of thread: % of a core, and the media threads' sleeps a second.
#[derive(Debug, Default, Clone, Copy)]
pub struct Split {
    pub media: f64,
    pub devices: f64,
    pub other: f64,
    pub media_sleeps: f64,
}
