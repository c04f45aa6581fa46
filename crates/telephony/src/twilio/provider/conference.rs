//! `"media": "conference"`: the agent talks on their own phone (a desk phone, a mobile, a
//! Twilio Voice SDK client), not through the gateway. Each call gets a Twilio conference
//! named by our `call_sid`:
//! - an inbound caller is seated in it at once and hears the wait music (it does not start
//!   until an agent enters, and ends when the caller leaves);
//! - answering adds the answering agent's phone (`agent_phones`) as a participant; the call
//!   is `answered` when that phone joins, as the conference's callback reports;
//! - hold and resume are Twilio's participant hold on the caller (`HoldUrl` music);
//! - a transfer to another agent holds the caller, drops the first agent's leg and rings the
//!   next agent's phone when they answer; the caller comes off hold as that phone joins;
//! - keys are played to the caller as an announcement (`<Play digits>`);
//! - an agent hanging up their phone ends the call; a caller leaving ends the conference.
//!
//! An outbound call places the customer's leg with TwiML that seats it in the conference,
//! then rings the agent's phone into the same conference.
//!
//! The conference's callbacks come to the provider's webhook with our `call_sid` and the
//! caller's Twilio id in the URL, so each is tied to its call without a lookup.

use switchboard_core::{CallSid, CallStatus, Direction, NormalizedCallEvent};

use super::{Known, Twilio, known};
use crate::twilio::callback::{self, Form};
use crate::twilio::rest::{CallUpdate, NewParticipant, ParticipantUpdate};
use crate::twilio::twiml;
use crate::{
    CallRef, Initiated, LiveCall, OutboundCall, ProviderError, ProviderEvent, TelephonyProvider, WebhookError,
};

/// The label of the agent's leg in a conference.
const AGENT_LABEL: &str = "agent";

impl Twilio {
    /// Where a call's conference reports its events.
    fn conference_callback(&self, call_sid: &CallSid, caller: &str) -> String {
        format!("{}&caller={caller}", self.webhook_url(Some(call_sid)))
    }

    /// The inbound caller's TwiML: wait in the call's conference for an agent.
    pub(super) fn waiting_room_twiml(&self, call_sid: &CallSid, caller: &str) -> String {
        let callback = self.conference_callback(call_sid, caller);
        twiml::Response::new()
            .verb(twiml::dial_conference(&twiml::ConferenceSeat {
                name: call_sid.as_str(),
                start_on_enter: false,
                end_on_exit: true,
                wait_url: self.inner.cfg.hold_music_url.as_deref(),
                status_callback: Some(&callback),
            }))
            .render()
    }

    /// The phone Twilio rings for the agent acting on `call`.
    fn agent_phone(&self, call: &CallRef) -> Result<&str, ProviderError> {
        let agent = call
            .agent
            .as_deref()
            .ok_or_else(|| ProviderError::Invalid("no agent is named to take this call".into()))?;
        self.inner
            .cfg
            .agent_phones
            .get(agent)
            .map(String::as_str)
            .ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "{agent} has no phone for this provider: add them to its agent_phones"
                ))
            })
    }

    /// Ring the acting agent's phone into the conference of the caller's leg `caller`.
    async fn ring_agent(&self, call: &CallRef, caller: &str) -> Result<(), ProviderError> {
        let phone = self.agent_phone(call)?;
        let callback = self.conference_callback(&call.call_sid, caller);
        let leg = self
            .inner
            .rest
            .add_participant(
                call.call_sid.as_str(),
                &NewParticipant {
                    from: Self::business_number(call),
                    to: phone,
                    label: AGENT_LABEL,
                    start_on_enter: true,
                    // The agent may leave for a transfer without ending the caller's call.
                    end_on_exit: false,
                    timeout_secs: self.inner.cfg.ring_timeout_secs,
                    conference_status_callback: &callback,
                },
            )
            .await?;
        if !callback::is_call_sid(&leg.call_sid) {
            return Err(ProviderError::Call(switchboard_core::CallError::new(
                switchboard_core::CallErrorCode::ProviderError,
                format!("the carrier answered with participant call id {:?}", leg.call_sid),
            )));
        }
        self.remember(caller, |k| {
            k.agent_leg = Some(leg.call_sid);
            if k.conference.is_none() {
                k.conference = leg.conference_sid;
            }
        });
        Ok(())
    }

    /// The caller's conference, once it has reported itself.
    fn conference_of(&self, caller: &str) -> Result<String, ProviderError> {
        self.calls()
            .get(caller)
            .and_then(|k| k.conference.clone())
            .ok_or_else(|| ProviderError::Invalid("the call's conference has not started yet".into()))
    }

    /// Answer: ring the agent's phone; the call is answered when it joins.
    pub(super) async fn conference_answer(&self, call: &CallRef) -> Result<(), ProviderError> {
        let caller = Self::twilio_call(call)?;
        self.ring_agent(call, caller).await
    }

    /// Hold or resume the caller (participant hold, with the configured music).
    pub(super) async fn conference_hold(&self, call: &CallRef, on: bool) -> Result<(), ProviderError> {
        let caller = Self::twilio_call(call)?;
        let conference = self.conference_of(caller)?;
        let update = if on {
            ParticipantUpdate::Hold(self.inner.cfg.hold_music_url.as_deref())
        } else {
            ParticipantUpdate::Unhold
        };
        self.inner.rest.update_participant(&conference, caller, &update).await?;
        self.remember(caller, |k| k.held = on);
        let (status, what) = if on {
            (CallStatus::OnHold, "hold")
        } else {
            (CallStatus::Answered, "resume")
        };
        self.report(call, status, what).await;
        Ok(())
    }

    /// Hand the caller to another agent: music for the caller, the first agent's phone
    /// hung up; the next agent's answer rings theirs.
    pub(super) async fn conference_transfer_to_agent(&self, call: &CallRef) -> Result<(), ProviderError> {
        let caller = Self::twilio_call(call)?;
        let conference = self.conference_of(caller)?;
        let hold = ParticipantUpdate::Hold(self.inner.cfg.hold_music_url.as_deref());
        self.inner.rest.update_participant(&conference, caller, &hold).await?;
        let leg = self.calls().get(caller).and_then(|k| k.agent_leg.clone());
        self.remember(caller, |k| {
            k.held = true;
            k.dropped_leg.clone_from(&k.agent_leg);
            k.agent_leg = None;
        });
        if let Some(leg) = leg {
            self.inner.rest.remove_participant(&conference, &leg).await?;
        }
        self.report(call, CallStatus::Transferred, "transfer").await;
        self.report(call, CallStatus::Ringing, "transfer-ringing").await;
        Ok(())
    }

    /// Keys for the caller, played to it alone.
    pub(super) async fn conference_dtmf(&self, call: &CallRef, digits: &str) -> Result<(), ProviderError> {
        let caller = Self::twilio_call(call)?;
        let conference = self.conference_of(caller)?;
        let digits: String = form_urlencoded::byte_serialize(digits.as_bytes()).collect();
        let url = format!("{}&digits={digits}", self.webhook_url(Some(&call.call_sid)));
        self.inner
            .rest
            .update_participant(&conference, caller, &ParticipantUpdate::Announce(&url))
            .await
    }

    /// Place an outbound call: the customer's leg, seated in the conference when it
    /// answers, then the agent's phone into the same conference.
    pub(super) async fn conference_initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError> {
        let mut agent = CallRef {
            call_sid: call.call_sid.clone(),
            vendor_call_id: None,
            direction: Direction::Outbound,
            from: call.from.to_string(),
            to: call.to.to_string(),
            agent: call.agent.clone(),
        };
        // Refuse before dialling anyone if the agent has no phone here.
        self.agent_phone(&agent)?;
        let seat = twiml::Response::new()
            .verb(twiml::dial_conference(&twiml::ConferenceSeat {
                name: call.call_sid.as_str(),
                start_on_enter: true,
                end_on_exit: true,
                wait_url: self.inner.cfg.hold_music_url.as_deref(),
                // The agent's leg creates the conference and names its callback.
                status_callback: None,
            }))
            .render();
        let customer = self.place(call, &seat).await?;
        agent.vendor_call_id = Some(customer.clone());
        if let Err(e) = self.ring_agent(&agent, &customer).await {
            // Nobody would be there to talk to the customer.
            if let Err(cancel) = self.inner.rest.update_call(&customer, &CallUpdate::Cancel).await {
                tracing::warn!(error = %cancel, "could not cancel a call whose agent could not be rung");
            }
            return Err(e);
        }
        Ok(Initiated {
            vendor_call_id: customer,
            ..Initiated::default()
        })
    }

    /// A conference callback (`StatusCallbackEvent` and `ConferenceSid` in the form):
    /// learn the conference's id, and turn the agent's phone joining or leaving into the
    /// call's progress.
    pub(super) fn conference_event(
        &self,
        form: &Form,
        our_sid: Option<CallSid>,
        caller: Option<String>,
    ) -> Result<Vec<ProviderEvent>, WebhookError> {
        let conference = form.required("ConferenceSid")?;
        if !(conference.len() == 34 && conference.starts_with("CF")) {
            return Err(WebhookError::Malformed(
                "ConferenceSid is not a Twilio conference SID".into(),
            ));
        }
        let (Some(call_sid), Some(caller)) = (our_sid, caller) else {
            // Not one of ours (a conference set up elsewhere on the account).
            return Ok(vec![]);
        };
        if !callback::is_call_sid(&caller) {
            return Err(WebhookError::Malformed(
                "caller in the URL is not a Twilio call SID".into(),
            ));
        }
        let event = form.required("StatusCallbackEvent")?;
        let leg = match form.get("CallSid").filter(|s| !s.is_empty()) {
            Some(l) if callback::is_call_sid(l) => Some(l.to_owned()),
            Some(_) => return Err(WebhookError::Malformed("CallSid is not a Twilio call SID".into())),
            None => None,
        };
        let now = self.inner.clock.now_ms();
        let occurred_at = match form.get("Timestamp") {
            Some(t) => callback::rfc2822_ms(t)
                .ok_or_else(|| WebhookError::Malformed("Timestamp is not an RFC 2822 date".into()))?,
            None => now,
        };
        let seq = form.get("SequenceNumber").unwrap_or(event);
        let state: Known = {
            let mut calls = self.calls();
            let k = known(&mut calls, &caller, now);
            k.conference = Some(conference.to_owned());
            k.clone()
        };
        let is_caller = leg.as_deref() == Some(caller.as_str());
        let call = CallRef {
            call_sid: call_sid.clone(),
            vendor_call_id: Some(caller.clone()),
            direction: state.direction.unwrap_or(Direction::Inbound),
            from: String::new(),
            to: String::new(),
            agent: None,
        };
        let mut events = vec![];
        match (event, leg) {
            ("participant-join", Some(leg)) if !is_caller => {
                self.remember(&caller, |k| {
                    k.agent_leg = Some(leg);
                    k.answered = true;
                    k.held = false;
                });
                if state.held {
                    // Back from a transfer: the next agent is here, the music stops.
                    let (me, conference, caller) = (self.clone(), conference.to_owned(), caller.clone());
                    tokio::spawn(async move {
                        let unhold = ParticipantUpdate::Unhold;
                        if let Err(e) = me.inner.rest.update_participant(&conference, &caller, &unhold).await {
                            tracing::warn!(error = %e, "could not take a transferred caller off hold");
                        }
                    });
                }
                // An outbound call is answered when the customer picks up, as its own
                // callbacks say; an inbound one when the agent's phone joins.
                if call.direction == Direction::Inbound {
                    events.push(ProviderEvent::Call(NormalizedCallEvent {
                        call_sid: Some(call_sid),
                        telephony_vendor: Some(self.inner.vendor.clone()),
                        vendor_call_id: Some(caller.clone()),
                        status: Some(CallStatus::Answered),
                        ..NormalizedCallEvent::new(format!("{caller}:conf:{conference}:{seq}"), occurred_at)
                    }));
                }
            }
            ("participant-leave", Some(leg)) if !is_caller => {
                if state.dropped_leg.as_deref() == Some(leg.as_str()) {
                    self.remember(&caller, |k| k.dropped_leg = None);
                } else if state.agent_leg.as_deref() == Some(leg.as_str())
                    && !state.transferred_out
                    && !state.caller_left
                {
                    // The agent hung up their phone: the conversation is over.
                    self.remember(&caller, |k| k.agent_leg = None);
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.end(&call).await {
                            tracing::warn!(call_sid = %call.call_sid, error = %e, "could not end a call whose agent hung up");
                        }
                    });
                }
            }
            ("participant-leave", Some(_)) if !state.transferred_out => {
                self.remember(&caller, |k| k.caller_left = true);
                // The caller left. A number without a status callback would never say how
                // the call ended; Twilio's API does.
                let live = LiveCall {
                    status: if state.answered {
                        CallStatus::Answered
                    } else {
                        CallStatus::Ringing
                    },
                    call,
                };
                let me = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.settle(&live).await {
                        tracing::warn!(call_sid = %live.call.call_sid, error = %e, "could not learn how a call ended");
                    }
                });
            }
            _ => {}
        }
        Ok(events)
    }
}
