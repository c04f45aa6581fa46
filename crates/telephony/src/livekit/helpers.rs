//! The gateway's own participants in a call's room, for what the server API cannot do:
//! hold music for the caller and keys to the caller. Each is a
//! [`RoomSession`](switchboard_media::room::RoomSession) (our LiveKit signalling on
//! webrtc-rs) on a WAV device, joined for as long as it is needed.
//!
//! Hold: the caller and the agent stop hearing each other (the server unsubscribes each
//! from the other's tracks), and a participant `switchboard-hold-<call_sid>` plays music
//! that only the caller may subscribe to (subscription permissions). Resume undoes both.
//! Keys: `SipDTMF` data packets from `switchboard-keys-<call_sid>` (or the hold
//! participant, when there is one), which the SIP service plays to the caller as RFC 4733
//! events.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_core::{CallSid, CallStatus};
use switchboard_media::device::{WavDevice, WavSource};
use switchboard_media::peer::PeerConfig;
use switchboard_media::room::RoomSession;
use switchboard_media::session::MediaSession;

use super::{LiveKit, call_failed};
use crate::{CallRef, ProviderError};

/// Identities of the gateway's own participants start with this.
pub const HELPER_PREFIX: &str = "switchboard-";

/// The hold participants of live calls (shared across config reloads, like the legs).
#[derive(Default)]
pub struct Helpers(tokio::sync::Mutex<HashMap<CallSid, Arc<RoomSession>>>);

impl std::fmt::Debug for Helpers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helpers").finish_non_exhaustive()
    }
}

impl Helpers {
    /// Leave the call's room, if we are in it.
    pub async fn leave(&self, sid: &CallSid) {
        let helper = self.0.lock().await.remove(sid);
        if let Some(h) = helper {
            h.close().await;
        }
    }
}

fn unavailable(message: String) -> ProviderError {
    ProviderError::Call(switchboard_core::CallError::new(
        switchboard_core::CallErrorCode::Unavailable,
        message,
    ))
}

/// One second of the hold tune: whole cycles of both tones, so it loops without a click.
fn hold_tune() -> WavSource {
    WavSource::Samples(Arc::new(switchboard_media::tone::hold_music(48_000)))
}

impl LiveKit {
    async fn join_helper(&self, room: &str, identity: &str, source: WavSource) -> Result<RoomSession, ProviderError> {
        let token = self.room_token(room, identity, true);
        RoomSession::join(
            &self.cfg.url,
            &token,
            Box::new(WavDevice::new(source, true)),
            PeerConfig {
                loopback_only: self.cfg.loopback_only,
                ..PeerConfig::default()
            },
        )
        .await
        .map_err(|e| unavailable(format!("joining the call's room: {e}")))
    }

    /// The caller and everyone else in the room stop (or start again) hearing each other.
    async fn separate(&self, room: &str, caller: &str, apart: bool) -> Result<(), ProviderError> {
        let people = self.api.list_participants(room).await.map_err(|e| call_failed(&e))?;
        let tracks = |p: &livekit_protocol::ParticipantInfo| p.tracks.iter().map(|t| t.sid.clone()).collect::<Vec<_>>();
        let Some(c) = people.iter().find(|p| p.identity == caller) else {
            return Err(ProviderError::Call(switchboard_core::CallError::new(
                switchboard_core::CallErrorCode::Rejected,
                "the caller is no longer in the room",
            )));
        };
        let caller_tracks = tracks(c);
        for p in people
            .iter()
            .filter(|p| p.identity != caller && !p.identity.starts_with(HELPER_PREFIX))
        {
            let theirs = tracks(p);
            if !caller_tracks.is_empty() {
                self.api
                    .update_subscriptions(room, &p.identity, caller_tracks.clone(), !apart)
                    .await
                    .map_err(|e| call_failed(&e))?;
            }
            if !theirs.is_empty() {
                self.api
                    .update_subscriptions(room, caller, theirs, !apart)
                    .await
                    .map_err(|e| call_failed(&e))?;
            }
        }
        Ok(())
    }

    pub(super) async fn hold_call(&self, call: &CallRef) -> Result<(), ProviderError> {
        let leg = self.leg(call).await?;
        self.separate(&leg.room, &leg.identity, true).await?;
        let mut helpers = self.legs.helpers.0.lock().await;
        if !helpers.contains_key(&call.call_sid) {
            let identity = format!("{HELPER_PREFIX}hold-{}", call.call_sid);
            let music = self.join_helper(&leg.room, &identity, hold_tune()).await?;
            music.heard_only_by(&leg.identity);
            helpers.insert(call.call_sid.clone(), Arc::new(music));
        }
        drop(helpers);
        self.report(call, CallStatus::OnHold, "hold").await;
        Ok(())
    }

    pub(super) async fn resume_call(&self, call: &CallRef) -> Result<(), ProviderError> {
        let leg = self.leg(call).await?;
        self.legs.helpers.leave(&call.call_sid).await;
        self.separate(&leg.room, &leg.identity, false).await?;
        self.report(call, CallStatus::Answered, "resume").await;
        Ok(())
    }

    pub(super) async fn keys(&self, call: &CallRef, digits: &str) -> Result<(), ProviderError> {
        switchboard_media::dtmf::validate(digits)
            .map_err(|_| ProviderError::Invalid("digits must be 0-9, *, # or A-D".into()))?;
        let held = self.legs.helpers.0.lock().await.get(&call.call_sid).cloned();
        let sent = match held {
            Some(h) => h.send_dtmf(digits).await,
            None => {
                let leg = self.leg(call).await?;
                let identity = format!("{HELPER_PREFIX}keys-{}", call.call_sid);
                let keys = self.join_helper(&leg.room, &identity, WavSource::Silence).await?;
                let sent = keys.send_dtmf(digits).await;
                keys.close().await;
                sent
            }
        };
        sent.map_err(|e| unavailable(format!("sending keys to the caller: {e}")))
    }
}
