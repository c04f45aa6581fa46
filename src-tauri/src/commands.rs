//! Tauri commands: one line each over switchboard-agent. Arguments are snake_case on both
//! sides; errors are `DesktopError`, tagged `type`/`data` for the UI.

use switchboard_agent::Console;
use switchboard_core::api::{CallDetail, RecordingAction, TransferTarget};
use switchboard_core::desktop::{CallSummary, ConsoleState, DesktopError, DialRequest, Session, UiEvent};
use switchboard_core::floor::Floor;
use switchboard_core::{
    Agent, AgentStatus, CallRecord, CallSid, ConsultStep, LeadId, MonitorMode, NumberId, PhoneNumber,
};
use tauri::State;
use tauri::ipc::Channel;

type R<T> = Result<T, DesktopError>;

#[tauri::command(rename_all = "snake_case")]
pub async fn console_state(c: State<'_, Console>) -> R<ConsoleState> {
    c.state().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sign_in(c: State<'_, Console>, gateway_url: String, token: String) -> R<Session> {
    c.sign_in(&gateway_url, &token).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sign_in_for_session(c: State<'_, Console>, gateway_url: String, token: String) -> R<Session> {
    c.sign_in_for_session(&gateway_url, &token).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sign_out(c: State<'_, Console>) -> R<()> {
    c.sign_out().await
}

#[tauri::command(rename_all = "snake_case")]
pub fn subscribe(c: State<'_, Console>, on_event: Channel<UiEvent>) {
    c.forward(move |ev| !ev.for_page() || on_event.send(ev).is_ok());
}

#[tauri::command(rename_all = "snake_case")]
pub async fn queue(c: State<'_, Console>) -> R<Vec<CallSummary>> {
    c.queue().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn history(c: State<'_, Console>, search: String) -> R<Vec<CallSummary>> {
    c.history(&search, switchboard_agent::HISTORY_PAGE).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn call_detail(c: State<'_, Console>, call_sid: CallSid) -> R<CallDetail> {
    c.call_detail(&call_sid).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn numbers(c: State<'_, Console>) -> R<Vec<PhoneNumber>> {
    c.numbers().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn agents(c: State<'_, Console>) -> R<Vec<Agent>> {
    c.agents().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn preferred_number(c: State<'_, Console>, lead_id: Option<LeadId>) -> R<Option<NumberId>> {
    c.preferred_number(lead_id).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn answer(c: State<'_, Console>, call_sid: CallSid) -> R<CallRecord> {
    c.answer(&call_sid).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn hold(c: State<'_, Console>, call_sid: CallSid) -> R<CallRecord> {
    c.hold(&call_sid).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn resume_call(c: State<'_, Console>, call_sid: CallSid) -> R<CallRecord> {
    c.resume(&call_sid).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn end_call(c: State<'_, Console>, call_sid: CallSid) -> R<CallRecord> {
    c.end(&call_sid).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn transfer(c: State<'_, Console>, call_sid: CallSid, to: TransferTarget) -> R<CallRecord> {
    c.transfer(&call_sid, to).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn floor(c: State<'_, Console>) -> R<Floor> {
    c.floor().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn monitor(c: State<'_, Console>, call_sid: CallSid, mode: MonitorMode) -> R<CallRecord> {
    c.monitor(&call_sid, mode).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn stop_monitor(c: State<'_, Console>, call_sid: CallSid) -> R<CallRecord> {
    c.stop_monitor(&call_sid).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn consult(c: State<'_, Console>, call_sid: CallSid, to: TransferTarget) -> R<CallRecord> {
    c.consult(&call_sid, to).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn consult_step(c: State<'_, Console>, call_sid: CallSid, step: ConsultStep) -> R<CallRecord> {
    c.consult_step(&call_sid, step).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn dtmf(c: State<'_, Console>, call_sid: CallSid, digits: String) -> R<CallRecord> {
    c.dtmf(&call_sid, &digits).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn record(c: State<'_, Console>, call_sid: CallSid, action: RecordingAction) -> R<CallRecord> {
    c.record(&call_sid, action).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn dial(c: State<'_, Console>, request: DialRequest) -> R<CallRecord> {
    c.dial(&request).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_status(c: State<'_, Console>, status: AgentStatus) -> R<Agent> {
    c.set_status(status).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn wrap_up(c: State<'_, Console>, call_sid: CallSid, disposition: String, notes: String) -> R<CallRecord> {
    c.wrap_up(&call_sid, &disposition, Some(&notes)).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn set_muted(c: State<'_, Console>, muted: bool) -> bool {
    c.set_muted(muted)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn audio_devices(c: State<'_, Console>) -> R<switchboard_core::desktop::AudioDeviceList> {
    c.audio_devices().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_audio_device(c: State<'_, Console>, input: bool, name: Option<String>) -> R<()> {
    c.set_audio_device(input, name).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn startup_mark(label: String, at: f64) {
    crate::probe::mark_at(&label, at);
}

/// The UI's code panicked, `attempt` times in a row, and its page reloads or gives up (see
/// `ui/src/recover.rs`): said in the log, where whoever supports the agent will look.
#[tauri::command(rename_all = "snake_case")]
pub fn ui_panicked(message: String, attempt: u32) {
    tracing::error!("the console's UI stopped on an error ({attempt} in a row): {message}");
}
