//! # switchboard-core
//!
//! The domain every other Switchboard crate speaks: typed ids ([`CallSid`], [`AgentId`], ...),
//! validated phone numbers ([`E164`]), the call state machine ([`CallStatus`], [`CallAction`]),
//! the provider-neutral [`NormalizedCallEvent`], the call record with its convergent merge
//! ([`CallRecord::apply`]), leads, transcripts, numbers, agents, and the JSON types of the
//! gateway API and its event stream.
//!
//! There is no I/O here: no clock, no randomness, no sockets. Time and entropy come in as
//! arguments, so the same code runs in the gateway, the desktop backend and the wasm UI.
//!
//! Start reading at [`status`] (the transition table) and [`record`] (how provider events,
//! duplicated or out of order, converge to one final record).

pub mod agent;
pub mod api;
pub mod desktop;
pub mod event;
pub mod floor;
pub mod ids;
pub mod lead;
pub mod media;
pub mod number;
pub mod phone;
pub mod record;
pub mod status;
pub mod stream;
pub mod supervision;

pub use agent::{Agent, AgentRole, AgentStatus};
pub use event::{CallError, CallErrorCode, NormalizedCallEvent, TelephonyVendor, VoicePlatform};
pub use ids::{AgentId, BusinessId, CallSid, IdError, LeadId, NumberId, ProviderId, QueueId};
pub use lead::{Lead, LeadStatus, TranscriptRole, TranscriptTurn};
pub use media::{MediaAnswer, MediaJoin, MediaOffer};
pub use number::{NumberCapabilities, PhoneNumber, ProviderCapabilities};
pub use phone::{E164, PhoneError};
pub use record::{ApplyOutcome, CallRecord};
pub use status::{CallAction, CallStatus, Direction};
pub use stream::{StreamEvent, StreamEventKind};
pub use supervision::{CallMonitor, Consult, ConsultState, ConsultStep, MonitorMode};
