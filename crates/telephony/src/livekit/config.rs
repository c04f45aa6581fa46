//! A LiveKit provider's stored configuration and its checks.

use serde::Deserialize;

use crate::ProviderError;
use crate::secret::{ProviderConfig, Secret};

/// The stored configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveKitConfig {
    /// The server's URL as clients reach it: `wss://<project>.livekit.cloud` or a
    /// self-hosted `ws(s)://host:7880`. Desktops get it with their room token.
    pub url: String,
    /// The server API URL when the gateway reaches the server another way than desktops
    /// do (a private address); the client URL otherwise.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The API key (`iss` of every token).
    pub api_key: String,
    /// The API secret: signs our tokens, verifies LiveKit's webhooks.
    pub api_secret: Secret,
    /// Where carriers send calls for the outbound trunk: host or IP, no `sip:` prefix.
    /// Without it the provider takes no outbound calls.
    #[serde(default)]
    pub outbound_address: Option<String>,
    /// Digest credentials the carrier expects on outbound calls.
    #[serde(default)]
    pub outbound_username: Option<String>,
    #[serde(default)]
    pub outbound_password: Option<Secret>,
    /// Addresses the inbound trunk accepts calls from (CIDR or IP); any when empty.
    #[serde(default)]
    pub allowed_addresses: Vec<String>,
    /// The SIP header the carrier puts its own call id in, for joining the carrier's
    /// webhooks and LiveKit's on one record (`X-Twilio-CallSid` is read without this).
    #[serde(default)]
    pub carrier_call_id_header: Option<String>,
    /// Minutes an agent's room token stays valid.
    #[serde(default = "default_token_minutes")]
    pub token_minutes: u32,
    /// Seconds an outbound call rings before it counts as not answered.
    #[serde(default = "default_ring_seconds")]
    pub ring_seconds: u32,
    /// The SIP domain a transfer to a number is sent to (`sip:+1555…@domain` in the REFER),
    /// usually the carrier's termination domain; `tel:+1555…` without it, which not every
    /// carrier accepts.
    #[serde(default)]
    pub transfer_domain: Option<String>,
    /// The gateway's own participants (hold music, keys) offer only loopback ICE
    /// candidates: a LiveKit server on the same machine (tests).
    #[serde(default)]
    pub loopback_only: bool,
}

fn default_token_minutes() -> u32 {
    60
}

fn default_ring_seconds() -> u32 {
    30
}

impl ProviderConfig for LiveKitConfig {
    fn check(&self) -> Result<(), ProviderError> {
        let url_ok = |u: &str| {
            ["wss://", "ws://", "https://", "http://"]
                .iter()
                .any(|p| u.starts_with(p))
        };
        if !url_ok(&self.url) {
            return Err(ProviderError::Config("url must be a ws(s):// or http(s):// URL".into()));
        }
        if self.api_url.as_deref().is_some_and(|u| !url_ok(u)) {
            return Err(ProviderError::Config(
                "api_url must be a ws(s):// or http(s):// URL".into(),
            ));
        }
        if self.api_key.trim().is_empty() || self.api_key.len() > 128 {
            return Err(ProviderError::Config("api_key must be the LiveKit API key".into()));
        }
        if let Some(a) = &self.outbound_address {
            if a.is_empty() || a.starts_with("sip:") || a.chars().any(char::is_whitespace) {
                return Err(ProviderError::Config(
                    "outbound_address is a host or IP (with an optional :port), without sip:".into(),
                ));
            }
        }
        if self.outbound_password.is_some() != self.outbound_username.is_some() {
            return Err(ProviderError::Config(
                "outbound_username and outbound_password go together".into(),
            ));
        }
        if let Some(h) = &self.carrier_call_id_header {
            if !h.starts_with("X-") || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(ProviderError::Config(
                    "carrier_call_id_header must be an X- header name".into(),
                ));
            }
        }
        if !(5..=120).contains(&self.ring_seconds) {
            return Err(ProviderError::Config("ring_seconds must be between 5 and 120".into()));
        }
        if let Some(d) = &self.transfer_domain {
            if d.is_empty() || d.contains('@') || d.starts_with("sip:") || d.chars().any(char::is_whitespace) {
                return Err(ProviderError::Config(
                    "transfer_domain is a host or IP (with an optional :port), without sip: or a user".into(),
                ));
            }
        }
        if !(1..=24 * 60).contains(&self.token_minutes) {
            return Err(ProviderError::Config("token_minutes must be between 1 and 1440".into()));
        }
        Ok(())
    }
}

impl LiveKitConfig {
    /// Where the server API is.
    pub fn api_url(&self) -> &str {
        self.api_url.as_deref().unwrap_or(&self.url)
    }
}
