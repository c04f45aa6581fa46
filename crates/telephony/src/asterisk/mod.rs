//! An Asterisk or FreePBX phone system over the Asterisk Manager Interface (issue 13,
//! protocols.md §3). So far: [`frame`], the AMI wire format (bytes in, banner and messages
//! out; actions out), pure and property-tested. The client, the normalisation of channel
//! events and the provider (`kind = "asterisk"`) build on it.

pub mod frame;
