//! The supervisor's side of the console (the floor, listening, whispering, barging) and
//! the agent's attended transfer (consult, conference, complete, cancel). The audio of a
//! monitored or consulted call is joined exactly like an answered one: the same device,
//! meters, reconnects and one call at a time.

use switchboard_core::api::TransferTarget;
use switchboard_core::desktop::{DesktopError, UiEvent};
use switchboard_core::floor::Floor;
use switchboard_core::{CallRecord, CallSid, ConsultStep, MonitorMode};

use crate::{Console, map_client};

impl Console {
    /// The floor as the gateway computes it (supervisors and admins).
    pub async fn floor(&self) -> Result<Floor, DesktopError> {
        let (c, _) = self.client().await?;
        c.floor(None).await.map_err(|e| map_client("Loading the floor", e))
    }

    /// Start monitoring a call in `mode`, joining its audio; or switch mode when already
    /// monitoring it (the audio stays as it is).
    pub async fn monitor(&self, sid: &CallSid, mode: MonitorMode) -> Result<CallRecord, DesktopError> {
        let (c, session) = self.client().await?;
        let me = session.agent.id;
        let current = c.call(sid).await.map_err(|e| map_client("Loading the call", e))?;
        let already = current.call.monitors.iter().any(|m| m.agent_id == me);
        let reply = if already {
            c.switch_monitor(sid, mode).await
        } else {
            c.monitor(sid, mode).await
        }
        .map_err(|e| map_client("Monitoring", e))?;
        let call = self.acted(reply.call).await?;
        if !already {
            self.join_audio(c, sid, &reply.media).await;
        }
        Ok(call)
    }

    /// Stop monitoring a call and leave its audio.
    pub async fn stop_monitor(&self, sid: &CallSid) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        let reply = c.stop_monitor(sid).await.map_err(|e| map_client("Leaving the call", e));
        self.inner.audio.leave(sid).await;
        self.acted(reply?.call).await
    }

    /// Start an attended transfer: the caller waits on hold while the agent consults.
    pub async fn consult(&self, sid: &CallSid, to: TransferTarget) -> Result<CallRecord, DesktopError> {
        let (c, _) = self.client().await?;
        let reply = c.consult(sid, to).await.map_err(|e| map_client("Consulting", e))?;
        self.acted(reply.call).await
    }

    /// A step of an attended transfer. The consulted agent's accept joins the call's audio;
    /// whoever leaves the conversation (the agent on complete, the consulted agent on
    /// cancel) leaves its audio.
    pub async fn consult_step(&self, sid: &CallSid, step: ConsultStep) -> Result<CallRecord, DesktopError> {
        let (c, session) = self.client().await?;
        let me = session.agent.id;
        let reply = c
            .consult_step(sid, step)
            .await
            .map_err(|e| map_client("The consult", e))?;
        let call = self.acted(reply.call).await?;
        match step {
            ConsultStep::Accept => self.join_audio(c, sid, &reply.media).await,
            ConsultStep::Complete | ConsultStep::Cancel if call.agent_id != Some(me) => {
                self.inner.audio.leave(sid).await;
            }
            _ => {}
        }
        Ok(call)
    }

    /// Join audio as the gateway said; a failure is reported, the action stands.
    async fn join_audio(&self, c: switchboard_client::Client, sid: &CallSid, media: &switchboard_core::MediaJoin) {
        if let Err(e) = self.inner.audio.join(c, sid, media, self.muted(), self.emitter()).await {
            self.inner.emit(UiEvent::AudioProblem { message: e.to_string() });
        }
    }
}
