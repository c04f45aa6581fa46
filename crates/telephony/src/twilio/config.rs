//! A Twilio provider's stored configuration and its checks.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ProviderError;
use crate::secret::{ProviderConfig, Secret};

/// Whose cloud the account lives in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Twilio.
    #[default]
    Twilio,
    /// SignalWire's Twilio-compatible API (`api_base` is then required: it names the space).
    Signalwire,
}

/// How the agent's audio reaches the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// A bidirectional Media Stream to the gateway, bridged to the desktop's WebRTC peer.
    #[default]
    Stream,
    /// The caller waits in a conference of its own; answering rings the agent's own phone
    /// (`agent_phones`) into it. Hold and resume are Twilio's participant hold.
    Conference,
}

/// The stored configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC` and 32 hex digits (SignalWire: the project id).
    pub account_sid: String,
    /// The auth token (SignalWire: the API token): signs webhooks, authenticates REST.
    pub auth_token: Secret,
    /// Twilio or SignalWire.
    #[serde(default)]
    pub flavor: Flavor,
    /// The REST base URL, `…/2010-04-01` (default Twilio's; SignalWire's is
    /// `https://<space>.signalwire.com/api/laml/2010-04-01`).
    #[serde(default)]
    pub api_base: Option<String>,
    /// How the agent's audio is carried.
    #[serde(default)]
    pub media: MediaMode,
    /// Conference mode: each agent's own phone, by login name: `+E.164`, `client:<identity>`
    /// (Twilio's Voice SDK) or a `sip:` URI.
    #[serde(default)]
    pub agent_phones: BTreeMap<String, String>,
    /// Conference mode: music for waiting and held callers (an MP3/WAV or TwiML URL;
    /// Twilio's own hold music when unset).
    #[serde(default)]
    pub hold_music_url: Option<String>,
    /// How long an outbound call rings before it counts as not answered.
    #[serde(default = "default_ring")]
    pub ring_timeout_secs: u32,
    /// Offer only loopback ICE candidates to desktops (tests, a single machine).
    #[serde(default)]
    pub loopback_only: bool,
}

fn default_ring() -> u32 {
    30
}

impl ProviderConfig for TwilioConfig {
    fn check(&self) -> Result<(), ProviderError> {
        let sid = &self.account_sid;
        match self.flavor {
            Flavor::Twilio
                if !(sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())) =>
            {
                return Err(ProviderError::Config(
                    "account_sid must be a Twilio account SID: AC and 32 hex digits".into(),
                ));
            }
            Flavor::Signalwire if sid.trim().is_empty() || sid.len() > 64 => {
                return Err(ProviderError::Config(
                    "account_sid must be the SignalWire project id".into(),
                ));
            }
            Flavor::Signalwire if self.api_base.is_none() => {
                return Err(ProviderError::Config(
                    "api_base is required for SignalWire: https://<space>.signalwire.com/api/laml/2010-04-01".into(),
                ));
            }
            _ => {}
        }
        if let Some(base) = &self.api_base {
            if !(base.starts_with("https://") || base.starts_with("http://")) {
                return Err(ProviderError::Config("api_base must be an http(s) URL".into()));
            }
        }
        if let Some(url) = &self.hold_music_url {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(ProviderError::Config("hold_music_url must be an http(s) URL".into()));
            }
        }
        if self.media == MediaMode::Conference && self.agent_phones.is_empty() {
            return Err(ProviderError::Config(
                "media conference needs agent_phones: each agent's login name and the phone Twilio rings for them"
                    .into(),
            ));
        }
        for (agent, phone) in &self.agent_phones {
            if !is_phone(phone) {
                return Err(ProviderError::Config(format!(
                    "agent_phones.{agent} must be +E.164, client:<identity> or a sip: URI"
                )));
            }
        }
        if !(5..=600).contains(&self.ring_timeout_secs) {
            return Err(ProviderError::Config(
                "ring_timeout_secs must be between 5 and 600".into(),
            ));
        }
        Ok(())
    }
}

/// Something Twilio can ring: a number, a Voice SDK client or a SIP address.
fn is_phone(s: &str) -> bool {
    if let Some(digits) = s.strip_prefix('+') {
        return (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    }
    let rest = s.strip_prefix("client:").or_else(|| s.strip_prefix("sip:"));
    rest.is_some_and(|r| !r.is_empty() && r.len() <= 256 && !r.chars().any(char::is_whitespace))
}
