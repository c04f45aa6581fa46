//! # switchboard-telephony
//!
//! The boundary between the gateway and whatever carries the calls. A provider does two
//! things: it *executes* actions (answer, hold, transfer, ...) and it *reports* what
//! happened, either as webhooks the gateway hands to [`TelephonyProvider::parse_webhook`]
//! (verify, then normalise to [`ProviderEvent`]s) or, for in-process providers such as the
//! simulator, by sending [`ProviderEvent`]s on an [`EventSink`]. Either way the gateway
//! sees only `switchboard_core` types. Providers never decide routing: queues and
//! assignment are the gateway's.
//!
//! Start with [`TelephonyProvider`], then [`registry`] (how the gateway builds providers by
//! kind), [`simulator`] (the embedded default), [`twilio`] (Twilio and SignalWire) and
//! [`livekit`] (LiveKit SIP) and [`asterisk`] (an Asterisk or FreePBX phone system).

use std::fmt;

use async_trait::async_trait;
use switchboard_core::api::{TranscriptTurnIn, TransferTarget};
use switchboard_core::{
    CallError, CallErrorCode, CallSid, CallStatus, ConsultStep, Direction, E164, MonitorMode, NormalizedCallEvent,
    TelephonyVendor,
};

pub mod asterisk;
pub mod elevenlabs;
pub mod livekit;
pub mod registry;
pub mod secret;
pub mod signature;
pub mod simulator;
pub mod twilio;

/// The call an action is about, as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRef {
    /// Our id.
    pub call_sid: CallSid,
    /// The provider's id, once known.
    pub vendor_call_id: Option<String>,
    /// Direction.
    pub direction: Direction,
    /// Calling party.
    pub from: String,
    /// Called party.
    pub to: String,
    /// The login name of the agent acting on the call (for an answer, the one taking it):
    /// a provider that rings agents' own phones looks their phone up by it.
    pub agent: Option<String>,
}

/// A call the gateway still has as live for a provider, handed to
/// [`TelephonyProvider::reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    /// The call.
    pub call: CallRef,
    /// Its status as stored.
    pub status: CallStatus,
}

/// An outbound call to place. `call_sid` exists before the provider is asked; providers
/// echo it back in their events where they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    /// Our id.
    pub call_sid: CallSid,
    /// The business number to call from.
    pub from: E164,
    /// Who to call.
    pub to: E164,
    /// The AI agent to hand the call to (providers with `ai_agents` only).
    pub ai_agent: Option<String>,
    /// The login name of the agent placing the call (see [`CallRef::agent`]).
    pub agent: Option<String>,
}

/// The provider accepted an outbound call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Initiated {
    /// The carrier's call id; empty when the provider learns it only later.
    pub vendor_call_id: String,
    /// The voice platform carrying the conversation (an AI agent's), if any.
    pub voice_platform: Option<switchboard_core::VoicePlatform>,
    /// That platform's id for the call.
    pub voice_platform_call_id: Option<String>,
    /// That platform's conversation id, for transcripts that arrive after the call.
    pub conversation_id: Option<String>,
}

/// A finished conversation as a voice platform reports it after the call (ElevenLabs'
/// post-call webhook): the gateway finds the call by the `call_sid` the platform echoes,
/// checks that it is the conversation the call started, then stores turns and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationReport {
    /// Our id, as echoed back (none if the platform lost it).
    pub call_sid: Option<CallSid>,
    /// The platform's conversation id.
    pub conversation_id: String,
    /// What was said, in order.
    pub turns: Vec<TranscriptTurnIn>,
    /// How the call ended (status, duration, error), for the call record.
    pub outcome: NormalizedCallEvent,
}

/// Who an attended transfer consults, as a provider needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsultTarget {
    /// Another agent, by login name (a provider that rings agents' phones looks it up).
    Agent(String),
    /// An outside number.
    Number(E164),
}

/// What a provider can do; the desktop greys out what is missing.
pub use switchboard_core::ProviderCapabilities as Capabilities;

/// Something a provider reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Nearly every report is a call event, so boxing it would allocate on the common path to
// save space on the rare one.
#[allow(clippy::large_enum_variant)]
pub enum ProviderEvent {
    /// A call changed or gained data.
    Call(NormalizedCallEvent),
    /// A transcript turn of a call we know by `call_sid`.
    Transcript {
        /// The call.
        call_sid: CallSid,
        /// The turn.
        turn: TranscriptTurnIn,
    },
    /// A voice platform's account of a finished conversation.
    Conversation(ConversationReport),
}

/// Where in-process providers send what they report. Bounded, so a stalled database slows
/// the provider down instead of growing memory.
pub type EventSink = tokio::sync::mpsc::Sender<ProviderEvent>;

/// An incoming webhook, as the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The full public URL the provider called (some signatures cover it).
    pub url: &'a str,
    /// Headers, names in lowercase.
    pub headers: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
    /// The address the request came from (the TCP peer), where known.
    pub peer: Option<std::net::IpAddr>,
}

impl WebhookRequest<'_> {
    /// A header by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A carrier's media WebSocket as the gateway accepted it: its text frames both ways.
/// Closing `outgoing` (dropping it) closes the socket; `incoming` ends when the carrier
/// closes it.
#[derive(Debug)]
pub struct MediaStreamSocket {
    /// Frames from the carrier.
    pub incoming: tokio::sync::mpsc::Receiver<String>,
    /// Frames to the carrier.
    pub outgoing: tokio::sync::mpsc::Sender<String>,
}

/// Why a webhook was refused before touching the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong signature.
    #[error("webhook signature is missing or does not match")]
    BadSignature,
    /// The body is not what this provider sends.
    #[error("malformed webhook: {0}")]
    Malformed(String),
    /// The sender is not allowed to call this webhook (its address).
    #[error("{0}")]
    Forbidden(String),
}

/// What the gateway sends back to the provider once the webhook is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body (JSON, TwiML, ...).
    pub body: String,
}

/// Errors from provider actions and configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused or failed; normalised.
    #[error("{}", .0.message)]
    Call(CallError),
    /// The provider's configuration is wrong.
    #[error("provider configuration: {0}")]
    Config(String),
    /// This provider cannot do that.
    #[error("this provider does not support {0}")]
    Unsupported(&'static str),
    /// The request cannot be acted on as given (an unusable SDP offer, a call in the
    /// wrong state): the caller should fix it, not retry.
    #[error("{0}")]
    Invalid(String),
}

impl ProviderError {
    /// The normalised call error for this failure.
    pub fn to_call_error(&self) -> CallError {
        match self {
            Self::Call(e) => e.clone(),
            Self::Config(m) => CallError::new(CallErrorCode::ProviderError, format!("provider configuration: {m}")),
            Self::Invalid(m) => CallError::new(CallErrorCode::Rejected, m.clone()),
            Self::Unsupported(what) => CallError::new(
                CallErrorCode::Rejected,
                format!("this provider does not support {what}"),
            ),
        }
    }
}

/// One telephony provider: Twilio, a PBX, LiveKit SIP, or the simulator. Held by the
/// gateway as `Arc<dyn TelephonyProvider>`. Actions return once the provider accepted the
/// request; the result arrives later as a [`ProviderEvent`].
#[async_trait]
pub trait TelephonyProvider: Send + Sync + fmt::Debug {
    /// `simulator`, `twilio`, `asterisk`, `livekit`.
    fn kind(&self) -> &'static str;
    /// The first segment after `/webhooks/` in this provider's webhook URLs
    /// (`/webhooks/{path}/{name}`); its kind unless it says otherwise.
    fn webhook_path(&self) -> &'static str {
        self.kind()
    }
    /// The carrier name its call ids are qualified with.
    fn vendor(&self) -> TelephonyVendor;
    /// The feature matrix.
    fn capabilities(&self) -> Capabilities;
    /// Check the configuration without placing calls.
    fn validate_config(&self) -> Result<(), ProviderError>;
    /// Check the configuration against the real service (credentials accepted, numbers
    /// owned, ...) without placing calls. Providers with nothing remote to ask only
    /// validate the configuration.
    async fn check(&self) -> Result<(), ProviderError> {
        self.validate_config()
    }
    /// Bring the provider in line with the calls the gateway still has as live for it,
    /// then start its own traffic. Called once when the provider starts: after a gateway
    /// restart `live` holds the calls the last run left up (a carrier reports their real
    /// state; the simulator, whose callers died with the last run, ends them); after a
    /// configuration change it is empty, because calls in progress stay with the
    /// instance that carried them.
    async fn reconcile(&self, live: &[LiveCall]) -> Result<(), ProviderError>;
    /// This instance was replaced (its configuration changed, or the provider was removed):
    /// start nothing new, keep carrying the calls in progress until they end. Providers
    /// that never start calls by themselves have nothing to do.
    fn retire(&self) {}

    /// Place an outbound call.
    async fn initiate(&self, call: &OutboundCall) -> Result<Initiated, ProviderError>;
    /// Connect a ringing or queued inbound call to the agent.
    async fn answer(&self, call: &CallRef) -> Result<(), ProviderError>;
    /// Put on hold.
    async fn hold(&self, call: &CallRef) -> Result<(), ProviderError>;
    /// Take off hold.
    async fn resume(&self, call: &CallRef) -> Result<(), ProviderError>;
    /// Transfer to a number or an agent.
    async fn transfer(&self, call: &CallRef, to: &TransferTarget) -> Result<(), ProviderError>;
    /// Hang up.
    async fn end(&self, call: &CallRef) -> Result<(), ProviderError>;
    /// Send touch tones.
    async fn send_dtmf(&self, call: &CallRef, digits: &str) -> Result<(), ProviderError>;
    /// Start recording; the url arrives as an event.
    async fn start_recording(&self, call: &CallRef) -> Result<(), ProviderError>;
    /// Stop recording.
    async fn stop_recording(&self, call: &CallRef) -> Result<(), ProviderError>;
    /// The newest recording's url, if the provider can be asked for it.
    async fn recording_url(&self, call: &CallRef) -> Result<Option<String>, ProviderError>;

    /// A supervisor (`supervisor`, a login name) joins the call's audio in `mode`, switches
    /// to it without a gap when already there, or leaves (`None`). Returns how the
    /// supervisor's desktop joins the audio. Providers that cannot monitor say so in their
    /// capabilities and refuse.
    async fn monitor(
        &self,
        _call: &CallRef,
        _supervisor: &str,
        _mode: Option<MonitorMode>,
    ) -> Result<switchboard_core::MediaJoin, ProviderError> {
        Err(ProviderError::Unsupported("monitoring"))
    }

    /// A step of an attended transfer. `Start` puts the caller on hold and reaches
    /// `target`; `Accept` (the consulted agent, `call.agent`) joins; `Conference` joins all
    /// three; `Complete` leaves the caller with the target and drops the agent; `Cancel`
    /// drops the target and gives the agent the caller back.
    async fn consult(
        &self,
        _call: &CallRef,
        _step: ConsultStep,
        _target: Option<&ConsultTarget>,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported("attended transfer"))
    }

    /// Verify and normalise a webhook.
    fn parse_webhook(&self, req: &WebhookRequest<'_>) -> Result<Vec<ProviderEvent>, WebhookError>;
    /// The reply the provider expects once the webhook is committed: an acknowledgement,
    /// or (Twilio's voice webhook) instructions for the call.
    fn webhook_response(&self, req: &WebhookRequest<'_>, call_sid: Option<&CallSid>) -> WebhookReply;

    /// Check a carrier's request to open a media WebSocket (`GET
    /// /webhooks/{kind}/{name}/stream`) before it is accepted. `req.url` is the `ws://` or
    /// `wss://` URL the carrier asked for. Providers without media streams refuse.
    fn verify_media_stream(&self, _req: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        Err(WebhookError::Malformed("this provider opens no media streams".into()))
    }

    /// Carry an accepted media WebSocket until it closes.
    async fn media_stream(&self, _socket: MediaStreamSocket) {}

    /// How the desktop joins this call's audio once answered.
    fn media_join(&self, _call: &CallRef) -> switchboard_core::MediaJoin {
        switchboard_core::MediaJoin::None
    }

    /// Answer the desktop's SDP offer for the call's audio (a first offer, or an ICE restart).
    async fn media_offer(&self, _call: &CallRef, _sdp: &str) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported("direct call audio"))
    }
}
