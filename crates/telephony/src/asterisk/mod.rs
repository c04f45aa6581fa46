//! An Asterisk or FreePBX phone system over the Asterisk Manager Interface (issue 13,
//! protocols.md §3). So far: [`frame`], the AMI wire format (bytes in, banner and messages
//! out; actions out), pure and property-tested; [`client`], a connection that logs in and
//! matches answers to actions; [`causes`], how a call ended (Q.850 cause, dial status) in
//! our terms. Reconnecting with a resync, the normalisation of channel events and the
//! provider (`kind = "asterisk"`) build on them.

pub mod causes;
pub mod client;
pub mod frame;
