//! The supervisor's floor (`GET /v1/floor`): every agent and what they are doing, every
//! live call, every queue with today's service figures. [`Floor::compute`] derives it all
//! from stored records and a clock, so any replica, before or after a restart, gives the
//! same answer for the same data.
//!
//! Definitions (per queue, over inbound calls that entered it since the day started):
//! - **offered**: every such call;
//! - **answered**: those an agent connected (`answered_at` set);
//! - **abandoned**: those that ended `abandoned` (the caller gave up waiting);
//! - **average speed of answer**: the mean of `answered_at - created_at` over answered;
//! - **service level**: answered within the queue's target, as a share of answered plus
//!   abandoned (callers still waiting are not yet counted either way).

use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentRole, AgentStatus};
use crate::ids::{AgentId, LeadId, QueueId};
use crate::record::CallRecord;
use crate::status::{CallStatus, Direction};

/// The target answer time when a queue names none (the industry's "80/20" default).
pub const DEFAULT_SERVICE_LEVEL_SECS: i64 = 20;

/// `GET /v1/floor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Floor {
    /// When it was computed (ms since the epoch).
    pub at: i64,
    /// The start of the day the queue figures count from (ms since the epoch).
    pub day_start: i64,
    /// Every agent of the business, by name.
    pub agents: Vec<FloorAgent>,
    /// Every call not yet over, oldest first.
    pub calls: Vec<FloorCall>,
    /// Every queue, by name.
    pub queues: Vec<QueueFigures>,
}

/// One agent on the floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FloorAgent {
    /// Id.
    pub id: AgentId,
    /// Login name.
    pub name: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Role.
    pub role: AgentRole,
    /// Status.
    pub status: AgentStatus,
    /// Seconds in that status.
    pub status_secs: i64,
    /// The call they are on, if any (the newest if several).
    pub call: Option<FloorCall>,
}

/// A live call as the floor shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FloorCall {
    /// Our id.
    pub call_sid: crate::ids::CallSid,
    /// The agent on it, if any.
    pub agent_id: Option<AgentId>,
    /// The customer's number (the caller inbound, the called party outbound).
    pub customer: String,
    /// Their lead.
    pub lead_id: Option<LeadId>,
    /// The lead's name.
    pub lead_name: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Where it stands.
    pub status: CallStatus,
    /// On hold.
    pub on_hold: bool,
    /// The queue an inbound call waits or waited in.
    pub queue_id: Option<QueueId>,
    /// Seconds since the call began.
    pub age_secs: i64,
    /// Seconds since it connected (talk time so far), once connected.
    pub talk_secs: Option<i64>,
}

/// A queue's waiting callers and today's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueFigures {
    /// Id.
    pub id: QueueId,
    /// Name.
    pub name: String,
    /// The answer-time target, seconds.
    pub target_secs: i64,
    /// Callers waiting now.
    pub waiting: u32,
    /// How long the longest-waiting caller has waited, seconds.
    pub longest_wait_secs: Option<i64>,
    /// Calls offered today.
    pub offered: u32,
    /// Of those, answered.
    pub answered: u32,
    /// Of those, answered within the target.
    pub answered_within_target: u32,
    /// Of those, abandoned.
    pub abandoned: u32,
    /// Mean seconds to answer.
    pub average_speed_of_answer_secs: Option<f64>,
    /// Answered within target / (answered + abandoned), in percent.
    pub service_level_pct: Option<f64>,
    /// The service level is below the 80 % that the target is usually paired with.
    pub below_target: bool,
}

/// A queue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    /// Id.
    pub id: QueueId,
    /// Name.
    pub name: String,
    /// Answer-time target, seconds.
    pub target_secs: i64,
}

/// What the figures need of one inbound call offered today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferedCall {
    /// Its queue.
    pub queue_id: Option<QueueId>,
    /// Its status now.
    pub status: CallStatus,
    /// When it came in.
    pub created_at: i64,
    /// When an agent connected, if one did.
    pub answered_at: Option<i64>,
}

/// The service-level share a queue is held to alongside its answer-time target.
const SERVICE_LEVEL_GOAL_PCT: f64 = 80.0;

fn secs(ms: i64) -> i64 {
    ms.max(0) / 1000
}

impl FloorCall {
    /// The floor's view of a live call at `now`.
    pub fn of(call: &CallRecord, lead_name: Option<String>, now: i64) -> Self {
        let customer = match call.direction {
            Direction::Inbound => call.from.clone(),
            Direction::Outbound => call.to.clone(),
        };
        Self {
            call_sid: call.call_sid.clone(),
            agent_id: call.agent_id,
            customer,
            lead_id: call.lead_id,
            lead_name,
            direction: call.direction,
            status: call.status,
            on_hold: call.status == CallStatus::OnHold,
            queue_id: call.queue_id,
            age_secs: secs(now.saturating_sub(call.created_at)),
            talk_secs: call.answered_at.map(|a| secs(now.saturating_sub(a))),
        }
    }
}

impl Floor {
    /// The floor at `now`, from the business's agents, queues, live calls (each with its
    /// lead's name) and the inbound calls offered since `day_start`.
    pub fn compute(
        now: i64,
        day_start: i64,
        agents: &[Agent],
        queues: &[QueueDef],
        live: &[(CallRecord, Option<String>)],
        offered: &[OfferedCall],
    ) -> Self {
        let mut calls: Vec<FloorCall> = live
            .iter()
            .filter(|(c, _)| !c.status.is_terminal())
            .map(|(c, lead)| FloorCall::of(c, lead.clone(), now))
            .collect();
        calls.sort_by(|a, b| {
            b.age_secs
                .cmp(&a.age_secs)
                .then_with(|| a.call_sid.as_str().cmp(b.call_sid.as_str()))
        });

        let mut floor_agents: Vec<FloorAgent> = agents
            .iter()
            .map(|a| FloorAgent {
                id: a.id,
                name: a.name.clone(),
                display_name: a.display_name.clone(),
                role: a.role,
                status: a.status,
                status_secs: secs(now.saturating_sub(a.status_at)),
                // Ringing calls offered to an agent are not yet theirs to be "on".
                call: calls
                    .iter()
                    .filter(|c| c.agent_id == Some(a.id) && c.talk_secs.is_some())
                    .min_by_key(|c| c.age_secs)
                    .cloned(),
            })
            .collect();
        floor_agents.sort_by(|a, b| a.name.cmp(&b.name));

        let mut figures: Vec<QueueFigures> = queues.iter().map(|q| queue_figures(q, &calls, offered)).collect();
        figures.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            at: now,
            day_start,
            agents: floor_agents,
            calls,
            queues: figures,
        }
    }
}

fn queue_figures(q: &QueueDef, live: &[FloorCall], offered: &[OfferedCall]) -> QueueFigures {
    let waiting: Vec<&FloorCall> = live
        .iter()
        .filter(|c| {
            c.queue_id == Some(q.id)
                && c.direction == Direction::Inbound
                && matches!(c.status, CallStatus::Ringing | CallStatus::Queued)
        })
        .collect();
    let today: Vec<&OfferedCall> = offered.iter().filter(|c| c.queue_id == Some(q.id)).collect();
    let waits: Vec<i64> = today
        .iter()
        .filter_map(|c| c.answered_at.map(|a| a.saturating_sub(c.created_at).max(0)))
        .collect();
    let answered = waits.len() as u32;
    let within = waits
        .iter()
        .filter(|&&w| w <= q.target_secs.saturating_mul(1000))
        .count() as u32;
    let abandoned = today
        .iter()
        .filter(|c| c.status == CallStatus::Abandoned && c.answered_at.is_none())
        .count() as u32;
    let asa = (!waits.is_empty()).then(|| waits.iter().map(|&w| w as f64).sum::<f64>() / waits.len() as f64 / 1000.0);
    let settled = answered + abandoned;
    let service_level = (settled > 0).then(|| f64::from(within) * 100.0 / f64::from(settled));
    QueueFigures {
        id: q.id,
        name: q.name.clone(),
        target_secs: q.target_secs,
        waiting: waiting.len() as u32,
        longest_wait_secs: waiting.iter().map(|c| c.age_secs).max(),
        offered: today.len() as u32,
        answered,
        answered_within_target: within,
        abandoned,
        average_speed_of_answer_secs: asa,
        service_level_pct: service_level,
        below_target: service_level.is_some_and(|s| s < SERVICE_LEVEL_GOAL_PCT),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{BusinessId, CallSid};

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = NOW - 8 * 3_600_000;

    fn queue() -> QueueDef {
        QueueDef {
            id: QueueId::try_from(1).unwrap(),
            name: "Support".into(),
            target_secs: 20,
        }
    }

    fn offered(status: CallStatus, waited_secs: Option<i64>) -> OfferedCall {
        let created_at = DAY + 3_600_000;
        OfferedCall {
            queue_id: Some(queue().id),
            status,
            created_at,
            answered_at: waited_secs.map(|w| created_at + w * 1000),
        }
    }

    fn live(n: u64, status: CallStatus, agent: Option<i64>, age_secs: i64, talk_secs: Option<i64>) -> CallRecord {
        let mut c = CallRecord::outbound(
            CallSid::from_parts(NOW as u64, u128::from(n)),
            BusinessId::try_from(1).unwrap(),
            "+14155550100".into(),
            "+14155550111".into(),
            NOW - age_secs * 1000,
        );
        c.direction = Direction::Inbound;
        (c.from, c.to) = ("+14155550111".into(), "+14155550100".into());
        c.status = status;
        c.queue_id = Some(queue().id);
        c.agent_id = agent.map(|a| AgentId::try_from(a).unwrap());
        c.answered_at = talk_secs.map(|t| NOW - t * 1000);
        c
    }

    fn agent(id: i64, name: &str, status: AgentStatus, since_secs: i64) -> Agent {
        Agent {
            id: AgentId::try_from(id).unwrap(),
            name: name.into(),
            display_name: name.to_uppercase(),
            role: AgentRole::Agent,
            status,
            status_at: NOW - since_secs * 1000,
        }
    }

    #[test]
    fn a_days_figures_by_hand() {
        // Offered 6: answered after 5, 20 (on target) and 45 s; abandoned 1; 2 still waiting.
        let day = [
            offered(CallStatus::Completed, Some(5)),
            offered(CallStatus::Completed, Some(20)),
            offered(CallStatus::Answered, Some(45)),
            offered(CallStatus::Abandoned, None),
            offered(CallStatus::Ringing, None),
            offered(CallStatus::Ringing, None),
        ];
        let calls = [
            (live(1, CallStatus::Ringing, None, 12, None), Some("Ada".to_owned())),
            (live(2, CallStatus::Ringing, None, 31, None), None),
            (live(3, CallStatus::OnHold, Some(7), 200, Some(150)), None),
            (live(4, CallStatus::Completed, Some(8), 900, Some(800)), None),
        ];
        let agents = [
            agent(7, "bob", AgentStatus::Busy, 150),
            agent(8, "alice", AgentStatus::WrapUp, 30),
        ];
        let f = Floor::compute(NOW, DAY, &agents, &[queue()], &calls, &day);
        let q = &f.queues[0];
        assert_eq!(
            (q.offered, q.answered, q.answered_within_target, q.abandoned),
            (6, 3, 2, 1)
        );
        assert_eq!((q.waiting, q.longest_wait_secs), (2, Some(31)));
        // (5 + 20 + 45) / 3 s; 2 of 4 settled within target.
        assert!((q.average_speed_of_answer_secs.unwrap() - 70.0 / 3.0).abs() < 1e-9);
        assert_eq!(q.service_level_pct, Some(50.0));
        assert!(q.below_target);
        // The ended call is off the floor; the oldest live call comes first.
        assert_eq!(f.calls.len(), 3);
        assert_eq!(f.calls[0].age_secs, 200);
        assert!(f.calls[0].on_hold);
        assert_eq!(f.calls[1].lead_name, None);
        assert_eq!(f.calls[2].lead_name.as_deref(), Some("Ada"));
        // Agents by name, each with the call they are on.
        assert_eq!(f.agents[0].name, "alice");
        assert_eq!(f.agents[0].call, None);
        assert_eq!(f.agents[0].status_secs, 30);
        let bobs = f.agents[1].call.as_ref().unwrap();
        assert_eq!((bobs.talk_secs, bobs.customer.as_str()), (Some(150), "+14155550111"));
    }

    #[test]
    fn a_quiet_day_has_no_averages_and_odd_times_do_not_go_negative() {
        let f = Floor::compute(NOW, DAY, &[], &[queue()], &[], &[]);
        let q = &f.queues[0];
        assert_eq!(
            (q.offered, q.average_speed_of_answer_secs, q.service_level_pct),
            (0, None, None)
        );
        assert!(!q.below_target);
        // A provider clock ahead of ours: no negative ages.
        let ahead = live(9, CallStatus::Answered, Some(7), -30, Some(-10));
        let f = Floor::compute(NOW, DAY, &[], &[queue()], &[(ahead, None)], &[]);
        assert_eq!((f.calls[0].age_secs, f.calls[0].talk_secs), (0, Some(0)));
    }
}
