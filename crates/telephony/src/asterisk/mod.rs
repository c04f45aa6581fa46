//! An Asterisk or FreePBX phone system (`kind = "asterisk"`, protocols.md §3): the gateway
//! watches and controls calls through the Asterisk Manager Interface, and also takes
//! FreePBX-style webhooks.
//!
//! A map, bottom up:
//! - [`frame`]: the AMI wire format (bytes in, banner and messages out; actions out), pure
//!   and property-tested, with limits.
//! - [`client`]: one connection: login (plain or MD5 challenge), actions matched to their
//!   answers by `ActionID`, list actions gathered, the event stream.
//! - [`session`]: the standing connection: keep-alive, reconnect with backoff, and a
//!   resync after each (re)connect.
//! - [`calls`]: AMI events into call events (pure): channels by `Uniqueid`, calls by
//!   `Linkedid`, which is the vendor call id.
//! - [`causes`]: how a call ended (Q.850 cause, dial status) in our terms.
//! - [`provider`]: the provider; its module docs list which AMI action does what.
//! - [`webhook`]: the FreePBX webhook mode (secret header and IP allow-list).
//! - [`config`]: the stored configuration.

pub mod calls;
pub mod causes;
pub mod client;
pub mod config;
pub mod frame;
pub mod provider;
pub mod session;
pub mod webhook;

pub use config::AsteriskConfig;
pub use provider::Asterisk;
