//! Who hears whom on a simulated call: the routing of the simulator's mixer, as a pure
//! function of the call's stage, so the rules read (and are tested) in one place.
//!
//! The parties: the caller (simulated here), the agent holding the call, the party an
//! attended transfer consults (another agent or an outside number), and supervisors in
//! their monitoring mode.

use switchboard_core::MonitorMode;

/// Someone on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    /// The customer.
    Caller,
    /// The agent holding the call.
    Agent,
    /// Whoever the agent consults during an attended transfer.
    Target,
    /// A supervisor.
    Monitor(MonitorMode),
}

/// How far an attended transfer has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Consulting {
    /// No consult.
    #[default]
    No,
    /// Agent and target talk, the caller waits on hold.
    Private,
    /// Caller, agent and target together.
    Conference,
}

/// The call's stage, as far as the audio cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stage {
    /// The caller is on hold: hears hold music, says nothing, is heard by nobody.
    pub held: bool,
    /// The attended transfer.
    pub consulting: Consulting,
}

/// Does `listener` hear `speaker` (two different parties) at this stage?
pub(crate) fn hears(stage: Stage, listener: Party, speaker: Party) -> bool {
    use Party::{Agent, Caller, Monitor, Target};
    let consulting = stage.consulting != Consulting::No;
    let conference = stage.consulting == Consulting::Conference;
    match (listener, speaker) {
        // On hold the caller hears the music instead of anyone, and nobody hears them.
        (Caller, _) | (_, Caller) if stage.held => false,
        (Caller, Agent) | (Agent, Caller) => true,
        (Caller, Target) | (Target, Caller) => conference,
        (Agent, Target) | (Target, Agent) => consulting,
        // A whisper reaches the agent only; a barge reaches everyone.
        (Agent, Monitor(mode)) => mode.heard_by_agent(),
        (Caller | Target | Monitor(_), Monitor(mode)) => mode == MonitorMode::Barge,
        // Supervisors hear the whole conversation.
        (Monitor(_), Caller | Agent | Target) => true,
        (Caller, Caller) | (Agent, Agent) | (Target, Target) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Party::*;
    use super::*;
    use MonitorMode::{Barge, Listen, Whisper};

    const TALKING: Stage = Stage {
        held: false,
        consulting: Consulting::No,
    };

    #[test]
    fn monitoring_modes() {
        // Listen: the supervisor hears both; nobody hears the supervisor.
        assert!(hears(TALKING, Monitor(Listen), Caller));
        assert!(hears(TALKING, Monitor(Listen), Agent));
        assert!(!hears(TALKING, Caller, Monitor(Listen)));
        assert!(!hears(TALKING, Agent, Monitor(Listen)));
        // Whisper: the agent hears the supervisor, the caller does not.
        assert!(hears(TALKING, Agent, Monitor(Whisper)));
        assert!(!hears(TALKING, Caller, Monitor(Whisper)));
        // Barge: everyone hears everyone.
        assert!(hears(TALKING, Agent, Monitor(Barge)));
        assert!(hears(TALKING, Caller, Monitor(Barge)));
        assert!(hears(TALKING, Monitor(Barge), Caller));
        // Two supervisors: only a barging one is heard by the other.
        assert!(!hears(TALKING, Monitor(Listen), Monitor(Whisper)));
        assert!(hears(TALKING, Monitor(Listen), Monitor(Barge)));
    }

    #[test]
    fn hold_silences_the_caller_both_ways() {
        let held = Stage { held: true, ..TALKING };
        assert!(!hears(held, Agent, Caller));
        assert!(!hears(held, Caller, Agent));
        assert!(!hears(held, Caller, Monitor(Barge)));
        assert!(hears(TALKING, Agent, Caller) && hears(TALKING, Caller, Agent));
    }

    #[test]
    fn attended_transfer() {
        let private = Stage {
            held: true,
            consulting: Consulting::Private,
        };
        // The consult: agent and target hear each other, the waiting caller neither.
        assert!(hears(private, Agent, Target) && hears(private, Target, Agent));
        assert!(!hears(private, Caller, Agent) && !hears(private, Caller, Target));
        assert!(!hears(private, Target, Caller));
        // The three-way: everyone.
        let conference = Stage {
            held: false,
            consulting: Consulting::Conference,
        };
        for (a, b) in [(Caller, Agent), (Caller, Target), (Agent, Target)] {
            assert!(hears(conference, a, b) && hears(conference, b, a), "{a:?} and {b:?}");
        }
        // No consult: the target (if still connected) is out of the conversation.
        assert!(!hears(TALKING, Caller, Target) && !hears(TALKING, Agent, Target));
        // A whisper stays with the agent even in a conference.
        assert!(!hears(conference, Target, Monitor(Whisper)));
        assert!(hears(conference, Monitor(Listen), Target));
    }
}
