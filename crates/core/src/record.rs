//! The call record and the one rule that merges provider events into it.
//!
//! Providers redeliver webhooks and deliver them out of order. [`CallRecord::apply`] is
//! written so that the final record depends only on the *set* of events a call received,
//! never on their arrival order or on duplicates:
//!
//! * events are totally ordered by [`NormalizedCallEvent::order_key`] (provider time,
//!   provider sequence, status rank, event id);
//! * a terminal status beats any live one, and terminal states stay terminal; between two
//!   statuses of the same kind the later key wins;
//! * time stamps are minima or belong to the winning event; ids are filled once;
//! * derived values (duration) are recomputed from the merged fields on every apply.
//!
//! The transition table in [`crate::status`] still says whether a change arrived in
//! order; the outcome reports it so the gateway can log a skipped step.

use serde::{Deserialize, Serialize};

use crate::event::{CallError, NormalizedCallEvent, TelephonyVendor, VoicePlatform};
use crate::ids::{AgentId, BusinessId, CallSid, LeadId, NumberId, ProviderId, QueueId};
use crate::status::{CallStatus, Direction};

/// Bookkeeping that makes [`CallRecord::apply`] order-independent. Stored with the record,
/// not sent to clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeState {
    /// Provider sequence of the event that set the current status.
    pub status_seq: i64,
    /// Id of the event that set the current status.
    pub status_event: String,
    /// Duration the winning terminal event reported, if it did.
    pub reported_duration_secs: Option<i64>,
    /// Provider time of the newest recording url.
    pub recording_at: Option<i64>,
}

/// One call, as the gateway stores and serves it. Times are milliseconds since the Unix
/// epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallRecord {
    /// Our id for the call.
    pub call_sid: CallSid,
    /// The tenant.
    pub business_id: BusinessId,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Where the call stands.
    pub status: CallStatus,
    /// When the current status began (provider time).
    pub status_at: i64,
    /// Calling party.
    pub from: String,
    /// Called party.
    pub to: String,
    /// The business's own number on this call.
    pub service_number: Option<String>,
    /// The lead this call belongs to.
    pub lead_id: Option<LeadId>,
    /// The agent handling (or who placed) the call.
    pub agent_id: Option<AgentId>,
    /// The queue an inbound call waits in.
    pub queue_id: Option<QueueId>,
    /// The business number used.
    pub number_id: Option<NumberId>,
    /// The provider carrying the call.
    pub provider_id: Option<ProviderId>,
    /// Carrier that owns the phone leg.
    pub telephony_vendor: Option<TelephonyVendor>,
    /// The carrier's call id.
    pub vendor_call_id: Option<String>,
    /// Voice platform carrying the media.
    pub voice_platform: Option<VoicePlatform>,
    /// The voice platform's call id.
    pub voice_platform_call_id: Option<String>,
    /// AI conversation id.
    pub conversation_id: Option<String>,
    /// Where a transfer was asked to go: an E.164 number or `agent:<id>`.
    pub transfer_to: Option<String>,
    /// When the call began.
    pub created_at: i64,
    /// When it was first connected.
    pub answered_at: Option<i64>,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Talk time: the provider's figure when it gives one, else answered to ended.
    pub duration_secs: Option<i64>,
    /// Outcome chosen by the agent at wrap-up.
    pub disposition: Option<String>,
    /// Agent's notes.
    pub notes: Option<String>,
    /// Newest recording.
    pub recording_url: Option<String>,
    /// Why the call failed.
    pub error: Option<CallError>,
    /// What the provider carrying the call can do with it, as of when the call started
    /// (the desktop disables the rest). Absent on calls from before this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<crate::number::ProviderCapabilities>,
    /// Supervisors monitoring the call now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<crate::supervision::CallMonitor>,
    /// The attended transfer in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consult: Option<crate::supervision::Consult>,
    /// Merge bookkeeping; not part of the API.
    #[serde(skip)]
    #[cfg_attr(feature = "schema", schemars(skip))]
    pub merge: MergeState,
}

/// What [`CallRecord::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The record differs from before.
    pub changed: bool,
    /// Status before.
    pub from: CallStatus,
    /// Status after.
    pub to: CallStatus,
    /// False when the status moved along an edge the transition table does not have,
    /// which means an event in between is missing or late.
    pub in_order: bool,
}

impl CallRecord {
    /// Whether the call waits for an agent: inbound and not taken yet (ringing or queued).
    /// The queue the desktop shows and the supervisor board's waiting counts are these.
    pub fn waits_for_agent(&self) -> bool {
        self.direction == Direction::Inbound && matches!(self.status, CallStatus::Ringing | CallStatus::Queued)
    }

    /// A record for an outbound call, before any provider is asked. It starts `queued`,
    /// like a CPaaS call that has been accepted but is not ringing yet.
    pub fn outbound(call_sid: CallSid, business_id: BusinessId, from: String, to: String, now: i64) -> Self {
        let mut rec = Self::blank(call_sid, business_id, Direction::Outbound, from.clone(), to, now);
        rec.service_number = Some(from);
        rec.status = CallStatus::Queued;
        rec.merge.status_event = "created".into();
        rec
    }

    /// A record for an inbound call first heard of through `ev`; `None` when the event
    /// cannot start a call (see [`NormalizedCallEvent::may_create_call`]).
    pub fn inbound(call_sid: CallSid, business_id: BusinessId, ev: &NormalizedCallEvent) -> Option<Self> {
        if !ev.may_create_call() {
            return None;
        }
        let (from, to) = (ev.from.clone()?, ev.to.clone()?);
        let mut rec = Self::blank(
            call_sid,
            business_id,
            Direction::Inbound,
            from,
            to.clone(),
            ev.occurred_at,
        );
        rec.service_number = Some(to);
        // A placeholder status that any event's key beats, so the first event is merged by
        // the same rule as every later one.
        rec.status = CallStatus::Ringing;
        rec.status_at = i64::MIN;
        rec.apply(ev);
        Some(rec)
    }

    fn blank(
        call_sid: CallSid,
        business_id: BusinessId,
        direction: Direction,
        from: String,
        to: String,
        now: i64,
    ) -> Self {
        Self {
            call_sid,
            business_id,
            direction,
            status: CallStatus::Queued,
            status_at: now,
            from,
            to,
            service_number: None,
            lead_id: None,
            agent_id: None,
            queue_id: None,
            number_id: None,
            provider_id: None,
            telephony_vendor: None,
            vendor_call_id: None,
            voice_platform: None,
            voice_platform_call_id: None,
            conversation_id: None,
            transfer_to: None,
            created_at: now,
            answered_at: None,
            ended_at: None,
            duration_secs: None,
            disposition: None,
            notes: None,
            recording_url: None,
            error: None,
            capabilities: None,
            monitors: Vec::new(),
            consult: None,
            merge: MergeState::default(),
        }
    }

    fn status_key(&self) -> (i64, i64, u8, &str) {
        (
            self.status_at,
            self.merge.status_seq,
            self.status.rank(),
            &self.merge.status_event,
        )
    }

    /// Merge one provider event. Idempotent, and commutative over any set of events of
    /// the same call (see the module docs).
    pub fn apply(&mut self, ev: &NormalizedCallEvent) -> ApplyOutcome {
        let before = self.clone();
        let from = self.status;
        let mut in_order = true;

        if let Some(next) = ev.status {
            let take = match (self.status.is_terminal(), next.is_terminal()) {
                (true, false) => false,
                (false, true) => true,
                _ => ev.order_key() > self.status_key(),
            };
            if take {
                in_order = self.status == next || self.status.can_transition_to(next);
                self.status = next;
                self.status_at = ev.occurred_at;
                self.merge.status_seq = ev.sequence.unwrap_or(0);
                self.merge.status_event = ev.event_id.clone();
                if next.is_terminal() {
                    self.ended_at = Some(ev.occurred_at);
                    // A later report of the same end that does not say why (a platform's
                    // "left the room" after the dialler's "486 busy") keeps the why.
                    if ev.error.is_some() || from != next {
                        self.error = ev.error.clone();
                    }
                    self.merge.reported_duration_secs = ev.duration_secs;
                }
            } else if next == self.status && self.error.is_none() && next.is_terminal() {
                // An earlier report of the end we have, with the reason ours lacks.
                self.error = ev.error.clone();
            }
            if matches!(next, CallStatus::Answered | CallStatus::OnHold) {
                self.answered_at = Some(self.answered_at.map_or(ev.occurred_at, |a| a.min(ev.occurred_at)));
            }
        }

        // Abandoned means nobody answered. A provider that lost what it knew of the call (a
        // restart, a callback that reached another replica) may still say so of a call it
        // connected; whichever of the two events arrives first, the call ended completed.
        if self.status == CallStatus::Abandoned && self.answered_at.is_some() {
            self.status = CallStatus::Completed;
        }
        // Nobody monitors or consults on a call that is over.
        if self.status.is_terminal() {
            self.monitors.clear();
            self.consult = None;
        }
        if self.direction == Direction::Inbound {
            self.created_at = self.created_at.min(ev.occurred_at);
        }
        fill(&mut self.telephony_vendor, &ev.telephony_vendor);
        fill(&mut self.vendor_call_id, &ev.vendor_call_id);
        fill(&mut self.voice_platform, &ev.voice_platform);
        fill(&mut self.voice_platform_call_id, &ev.voice_platform_call_id);
        fill(&mut self.conversation_id, &ev.conversation_id);

        if let Some(url) = &ev.recording_url {
            let newer = match (&self.merge.recording_at, &self.recording_url) {
                (Some(at), Some(cur)) => (ev.occurred_at, url) > (*at, cur),
                _ => true,
            };
            if newer {
                self.recording_url = Some(url.clone());
                self.merge.recording_at = Some(ev.occurred_at);
            }
        }

        self.duration_secs = self
            .merge
            .reported_duration_secs
            .or(match (self.answered_at, self.ended_at) {
                (Some(a), Some(e)) => Some(e.saturating_sub(a).max(0) / 1000),
                _ => None,
            });

        ApplyOutcome {
            changed: *self != before,
            from,
            to: self.status,
            in_order,
        }
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CallErrorCode, TelephonyVendor};
    use proptest::prelude::*;

    fn ev(id: &str, t: i64, status: CallStatus) -> NormalizedCallEvent {
        NormalizedCallEvent {
            telephony_vendor: Some(TelephonyVendor::Simulator),
            vendor_call_id: Some("SIM1".into()),
            direction: Some(Direction::Inbound),
            from: Some("+14155550100".into()),
            to: Some("+14155550199".into()),
            status: Some(status),
            ..NormalizedCallEvent::new(id, t)
        }
    }

    fn story() -> Vec<NormalizedCallEvent> {
        use CallStatus::*;
        let mut rec = ev("e6", 6_000, Answered);
        rec.status = None;
        rec.recording_url = Some("https://rec/1".into());
        let mut done = ev("e9", 9_500, Completed);
        done.duration_secs = Some(7);
        vec![
            ev("e1", 1_000, Ringing),
            ev("e2", 2_000, Answered),
            ev("e3", 4_000, OnHold),
            ev("e4", 5_000, Answered),
            rec,
            ev("e7", 8_000, Transferred),
            done,
        ]
    }

    /// Deliver events the way the gateway does: the first event that can start a call
    /// creates the record; events before it are refused (404) and redelivered by the
    /// sender afterwards, as providers retry.
    fn replay(events: &[NormalizedCallEvent]) -> CallRecord {
        let sid = CallSid::from_parts(1, 1);
        let business = BusinessId::try_from(1).expect("valid");
        let at = events
            .iter()
            .position(NormalizedCallEvent::may_create_call)
            .expect("some event can start the call");
        let mut rec = CallRecord::inbound(sid, business, &events[at]).expect("inbound event creates");
        for e in events[at + 1..].iter().chain(&events[..at]) {
            rec.apply(e);
        }
        rec
    }

    #[test]
    fn in_order_story_ends_completed_with_times() {
        let rec = replay(&story());
        assert_eq!(rec.status, CallStatus::Completed);
        assert_eq!(rec.answered_at, Some(2_000));
        assert_eq!(rec.ended_at, Some(9_500));
        assert_eq!(rec.duration_secs, Some(7));
        assert_eq!(rec.recording_url.as_deref(), Some("https://rec/1"));
        assert_eq!(rec.created_at, 1_000);
    }

    #[test]
    fn terminal_is_not_undone_and_skips_are_reported() {
        let mut rec = replay(&[ev("a", 1, CallStatus::Ringing)]);
        let out = rec.apply(&ev("b", 5, CallStatus::OnHold));
        assert!(out.changed && !out.in_order, "ringing -> on_hold skipped answered");
        let mut failed = ev("c", 6, CallStatus::Failed);
        failed.error = Some(CallError::new(CallErrorCode::Rejected, "no"));
        rec.apply(&failed);
        let out = rec.apply(&ev("d", 7, CallStatus::Answered));
        assert!(!out.changed);
        assert_eq!(rec.status, CallStatus::Failed);
        assert_eq!(rec.error.as_ref().map(|e| e.code), Some(CallErrorCode::Rejected));
    }

    #[test]
    fn an_answered_call_never_ends_abandoned_whatever_the_order() {
        let events = [
            ev("r", 1, CallStatus::Ringing),
            ev("a", 5, CallStatus::Answered),
            ev("x", 9, CallStatus::Abandoned),
        ];
        for order in [[0, 1, 2], [0, 2, 1], [2, 1, 0], [1, 2, 0]] {
            let rec = replay(&order.map(|i| events[i].clone()));
            assert_eq!(rec.status, CallStatus::Completed, "order {order:?}");
            assert_eq!((rec.answered_at, rec.ended_at), (Some(5), Some(9)));
        }
        // Nobody answered: abandoned it is.
        let rec = replay(&[events[0].clone(), events[2].clone()]);
        assert_eq!(rec.status, CallStatus::Abandoned);
    }

    #[test]
    fn same_millisecond_ties_are_broken_deterministically() {
        let a = ev("x", 10, CallStatus::Answered);
        let b = ev("y", 10, CallStatus::OnHold);
        let r1 = replay(&[ev("r", 1, CallStatus::Ringing), a.clone(), b.clone()]);
        let r2 = replay(&[ev("r", 1, CallStatus::Ringing), b, a]);
        assert_eq!(r1, r2);
    }

    #[test]
    fn the_reason_of_an_end_survives_a_report_of_the_same_end_without_one() {
        let mut busy = ev("dial", 20, CallStatus::Failed);
        let mut err = CallError::new(CallErrorCode::Busy, "486 Busy Here");
        err.provider_code = Some("486".into());
        busy.error = Some(err.clone());
        let left = ev("left", 30, CallStatus::Failed);
        let ring = ev("r", 1, CallStatus::Ringing);
        for order in [
            vec![ring.clone(), busy.clone(), left.clone()],
            vec![ring.clone(), left.clone(), busy.clone()],
        ] {
            let rec = replay(&order);
            assert_eq!(rec.status, CallStatus::Failed);
            assert_eq!(rec.error.as_ref(), Some(&err), "{order:?}");
        }
        // A different end replaces the reason with its own.
        let rec = replay(&[ring, busy, ev("done", 40, CallStatus::Completed)]);
        assert_eq!((rec.status, rec.error), (CallStatus::Completed, None));
    }

    proptest! {
        #[test]
        fn duplicates_and_reordering_converge(
            order in Just((0..7usize).collect::<Vec<_>>()).prop_shuffle(),
            dups in prop::collection::vec(0..7usize, 0..10),
            dup_positions in prop::collection::vec(any::<prop::sample::Index>(), 10),
        ) {
            let events = story();
            let expected = replay(&events);
            let mut delivered: Vec<NormalizedCallEvent> = order.iter().map(|&i| events[i].clone()).collect();
            for (k, &d) in dups.iter().enumerate() {
                let at = dup_positions[k].index(delivered.len() + 1);
                delivered.insert(at, events[d].clone());
            }
            let got = replay(&delivered);
            prop_assert_eq!(got, expected);
        }
    }
}
