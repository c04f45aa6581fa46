//! Twilio (and SignalWire, which speaks the same API), each piece checked against the
//! vendors' own code or documents: [`signature`] (who may call our webhooks), [`callback`]
//! (what their callbacks mean), [`twiml`] (what we answer), [`rest`] (what we ask of
//! their API) and [`stream`] (the Media Streams WebSocket and its μ-law audio).
//! [`provider`] puts them together behind `TelephonyProvider`, with [`bridge`] carrying
//! the caller's audio to the agent's desktop.

pub mod bridge;
pub mod callback;
pub mod config;
pub mod provider;
pub mod rest;
pub mod signature;
pub mod stream;
pub mod twiml;

pub use config::TwilioConfig;
pub use provider::Twilio;
