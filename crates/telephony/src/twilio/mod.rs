//! Twilio (and SignalWire, which speaks the same API): the pieces that do not talk to the
//! network, each checked against Twilio's own published vectors. Start with
//! [`signature`] (who may call our webhooks), [`callback`] (what their callbacks mean) and
//! [`twiml`] (what we answer).

pub mod callback;
pub mod rest;
pub mod signature;
pub mod stream;
pub mod twiml;
