//! The simulator's attended transfer: the caller waits on hold while the agent consults
//! another agent (who joins from their desktop) or an outside number (simulated: it rings
//! for `outbound_ring_ms`, then speaks a steady tone), then the three talk together, the
//! call passes to the target, or the target leaves.

use std::time::Duration;

use switchboard_core::{CallError, CallErrorCode, CallStatus, ConsultStep};

use super::mix::{Consulting, Party};
use super::{SimFeature, Simulator};
use crate::{CallRef, ConsultTarget, ProviderError};

impl Simulator {
    pub(super) async fn consult_step(
        &self,
        call: &CallRef,
        step: ConsultStep,
        target: Option<&ConsultTarget>,
    ) -> Result<(), ProviderError> {
        self.offers(SimFeature::WarmTransfer)?;
        let key = self.key_for(call);
        let current = self.lock().get(&key).and_then(|c| c.consult.clone());
        match step {
            ConsultStep::Start => {
                let target = target.ok_or_else(|| ProviderError::Invalid("a consult needs a target".into()))?;
                if let ConsultTarget::Number(n) = target {
                    if self
                        .inner
                        .cfg
                        .reject_prefixes
                        .iter()
                        .any(|p| n.as_str().starts_with(p.as_str()))
                    {
                        return Err(ProviderError::Call(CallError::new(
                            CallErrorCode::InvalidNumber,
                            format!("{n} cannot be dialled"),
                        )));
                    }
                }
                if let Some(c) = self.lock().get_mut(&key) {
                    c.consult = Some(target.clone());
                    if let ConsultTarget::Agent(login) = target {
                        c.parties.insert(login.clone(), Party::Target);
                    }
                }
                // The caller hears the hold music from now on; the status follows.
                self.stage(&key, true, Consulting::Private);
                self.settle_hold(&key, true);
                if matches!(target, ConsultTarget::Number(_)) {
                    // The outside number picks up after ringing, unless the consult ended.
                    let (sim, k, ring) = (self.clone(), key.clone(), self.inner.cfg.outbound_ring_ms);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(ring)).await;
                        let still = sim.lock().get(&k).is_some_and(|c| c.consult.is_some());
                        if still {
                            if let Some(peers) = &sim.inner.peers {
                                peers.set_outside(&k, true);
                            }
                        }
                    });
                }
            }
            // The consulted agent joins the audio with their own offer.
            ConsultStep::Accept => {
                if current.is_none() {
                    return Err(ProviderError::Invalid("there is no consult on this call".into()));
                }
            }
            ConsultStep::Conference => {
                if current.is_none() {
                    return Err(ProviderError::Invalid("there is no consult on this call".into()));
                }
                self.stage(&key, false, Consulting::Conference);
                self.settle_hold(&key, false);
            }
            ConsultStep::Cancel => {
                if let Some(c) = self.lock().get_mut(&key) {
                    c.consult = None;
                    c.parties.retain(|_, p| *p != Party::Target);
                }
                if let Some(peers) = &self.inner.peers {
                    peers.drop_target(&key);
                }
                self.stage(&key, false, Consulting::No);
                self.settle_hold(&key, false);
            }
            ConsultStep::Complete => match current {
                None => return Err(ProviderError::Invalid("there is no consult on this call".into())),
                Some(ConsultTarget::Agent(login)) => {
                    if let Some(c) = self.lock().get_mut(&key) {
                        c.consult = None;
                        c.parties.retain(|_, p| *p != Party::Agent && *p != Party::Target);
                        c.parties.insert(login, Party::Agent);
                    }
                    if let Some(peers) = &self.inner.peers {
                        peers.promote_target(&key);
                    }
                    self.stage(&key, false, Consulting::No);
                    self.settle_hold(&key, false);
                }
                // The caller goes on with the outside number, off our floor.
                Some(ConsultTarget::Number(_)) => {
                    if let Some(c) = self.lock().get_mut(&key) {
                        c.consult = None;
                        c.parties.clear();
                    }
                    let (sim, k, delay) = (self.clone(), key, self.inner.cfg.confirm_delay_ms);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        sim.emit(&k, Some(CallStatus::Transferred), |_| {}).await;
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        sim.emit(&k, Some(CallStatus::Completed), |_| {}).await;
                    });
                }
            },
        }
        Ok(())
    }

    /// Report the caller on hold (or not) after the confirmation delay. Steps can follow
    /// each other faster than that: what is reported is what the latest step wants, so a
    /// consult cancelled at once never ends with a late "on hold".
    fn settle_hold(&self, key: &str, held: bool) {
        if let Some(c) = self.lock().get_mut(key) {
            c.want_held = Some(held);
        }
        let (sim, k, delay) = (self.clone(), key.to_owned(), self.inner.cfg.confirm_delay_ms);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let (want, now) = {
                let calls = sim.lock();
                let Some(c) = calls.get(&k) else { return };
                (c.want_held, c.status)
            };
            let next = match (want, now) {
                (Some(true), Some(CallStatus::Answered)) => CallStatus::OnHold,
                (Some(false), Some(CallStatus::OnHold)) => CallStatus::Answered,
                _ => return,
            };
            sim.emit(&k, Some(next), |_| {}).await;
        });
    }

    /// Set the audio's stage at once (the status that says so follows).
    fn stage(&self, key: &str, held: bool, consulting: Consulting) {
        if let Some(peers) = &self.inner.peers {
            peers.set_stage(key, |s| {
                s.held = held;
                s.consulting = consulting;
            });
        }
    }
}
