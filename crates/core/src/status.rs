//! The call state machine: statuses, the explicit transition table, and which agent
//! actions each status allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a call stands. Terminal statuses (completed, missed, abandoned, failed) never
/// change back to a live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Offered to an agent (inbound) or ringing at the far end (outbound).
    Ringing,
    /// Waiting: in a queue for an agent, or accepted by the provider and not yet ringing.
    Queued,
    /// Connected and talking.
    Answered,
    /// Connected, the caller hears hold audio.
    OnHold,
    /// Handed to another number or agent.
    Transferred,
    /// Ended after being connected.
    Completed,
    /// Rang out with nobody answering.
    Missed,
    /// The caller hung up before an agent answered.
    Abandoned,
    /// Could not be set up (busy, rejected, invalid number, provider error...).
    Failed,
}

impl CallStatus {
    /// Every status, in the order used to break ties between simultaneous events.
    pub const ALL: [CallStatus; 9] = [
        Self::Ringing,
        Self::Queued,
        Self::Answered,
        Self::OnHold,
        Self::Transferred,
        Self::Completed,
        Self::Missed,
        Self::Abandoned,
        Self::Failed,
    ];

    /// The snake_case name used in JSON and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Queued => "queued",
            Self::Answered => "answered",
            Self::OnHold => "on_hold",
            Self::Transferred => "transferred",
            Self::Completed => "completed",
            Self::Missed => "missed",
            Self::Abandoned => "abandoned",
            Self::Failed => "failed",
        }
    }

    /// Completed, missed, abandoned and failed calls are over for good.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Missed | Self::Abandoned | Self::Failed)
    }

    /// Position in [`Self::ALL`]; breaks ties between events stamped with the same time.
    pub const fn rank(self) -> u8 {
        self as u8
    }

    /// The transition table: may a call in `self` move to `next` when events arrive in
    /// order? Staying put is not a transition.
    pub const fn can_transition_to(self, next: CallStatus) -> bool {
        use CallStatus::*;
        match self {
            Ringing => matches!(
                next,
                Queued | Answered | Transferred | Completed | Missed | Abandoned | Failed
            ),
            Queued => matches!(next, Ringing | Answered | Transferred | Missed | Abandoned | Failed),
            Answered => matches!(next, OnHold | Transferred | Completed | Failed),
            OnHold => matches!(next, Answered | Transferred | Completed | Abandoned | Failed),
            // A transfer to an agent rings again; one to a number ends when that leg ends.
            Transferred => matches!(
                next,
                Ringing | Queued | Answered | Completed | Missed | Abandoned | Failed
            ),
            Completed | Missed | Abandoned | Failed => false,
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of: {expected}")]
pub struct UnknownName {
    /// What was being parsed.
    pub what: &'static str,
    /// The text that did not match.
    pub value: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

impl FromStr for CallStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "call status",
                value: s.to_owned(),
                expected: Self::ALL.map(Self::as_str).join(", "),
            })
    }
}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A customer called one of the business's numbers.
    Inbound,
    /// An agent called out.
    Outbound,
}

impl Direction {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

impl FromStr for Direction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "inbound" => Ok(Self::Inbound),
            "outbound" => Ok(Self::Outbound),
            _ => Err(UnknownName {
                what: "direction",
                value: s.to_owned(),
                expected: "inbound, outbound".into(),
            }),
        }
    }
}

/// Something an agent asks the gateway to do to a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallAction {
    /// Pick up a ringing or queued call.
    Answer,
    /// Put a connected call on hold.
    Hold,
    /// Take a held call back.
    Resume,
    /// Hand the call to a number or another agent.
    Transfer,
    /// Hang up.
    End,
    /// Send touch tones.
    Dtmf,
    /// Start or stop recording.
    Recording,
}

impl CallAction {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Hold => "hold",
            Self::Resume => "resume",
            Self::Transfer => "transfer",
            Self::End => "end",
            Self::Dtmf => "dtmf",
            Self::Recording => "recording",
        }
    }

    /// The status the provider is expected to confirm, for actions that change status.
    pub const fn target(self) -> Option<CallStatus> {
        match self {
            Self::Answer => Some(CallStatus::Answered),
            Self::Hold => Some(CallStatus::OnHold),
            Self::Resume => Some(CallStatus::Answered),
            Self::Transfer => Some(CallStatus::Transferred),
            Self::End => Some(CallStatus::Completed),
            Self::Dtmf | Self::Recording => None,
        }
    }

    /// May an agent ask for this action on a call in `status`? Status-changing actions
    /// follow the transition table; the others need a connected call.
    pub const fn allowed_in(self, status: CallStatus) -> bool {
        use CallStatus::*;
        match self {
            Self::Answer => matches!(status, Ringing | Queued) && status.can_transition_to(Answered),
            Self::Hold => matches!(status, Answered),
            Self::Resume => matches!(status, OnHold),
            Self::Transfer => matches!(status, Answered | OnHold),
            // Ending works for anything live: an agent can reject a ringing call too.
            Self::End => !status.is_terminal(),
            Self::Dtmf => matches!(status, Answered),
            Self::Recording => matches!(status, Answered | OnHold),
        }
    }
}

impl fmt::Display for CallAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_terminal() {
        for from in CallStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in CallStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn every_live_state_can_end_or_fail() {
        for from in CallStatus::ALL.into_iter().filter(|s| !s.is_terminal()) {
            assert!(from.can_transition_to(CallStatus::Failed), "{from} -> failed");
            assert!(!from.can_transition_to(from), "{from} -> itself is not a transition");
        }
    }

    #[test]
    fn actions_follow_the_table() {
        assert!(CallAction::Hold.allowed_in(CallStatus::Answered));
        assert!(!CallAction::Hold.allowed_in(CallStatus::Completed));
        assert!(!CallAction::Answer.allowed_in(CallStatus::Answered));
        assert!(CallAction::Resume.allowed_in(CallStatus::OnHold));
        for s in CallStatus::ALL {
            if let Some(t) = CallAction::Answer.target().filter(|_| CallAction::Answer.allowed_in(s)) {
                assert!(s.can_transition_to(t));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in CallStatus::ALL {
            assert_eq!(s.as_str().parse::<CallStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).expect("serialise"),
                format!("\"{}\"", s.as_str())
            );
        }
        let err = "hung_up".parse::<CallStatus>().expect_err("unknown");
        assert!(err.to_string().contains("on_hold"));
    }
}
