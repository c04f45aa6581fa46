//! An Asterisk provider's stored configuration (seed 003's names, camelCase) and its
//! checks, including the FreePBX webhook's IP allow-list.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::ProviderError;
use crate::secret::{ProviderConfig, Secret};

/// How an agent takes a call waiting in the PBX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AnswerMode {
    /// `Redirect` the caller to the agent's extension in `agentContext` (the default:
    /// works with any dialplan, queue or not).
    #[default]
    Redirect,
    /// The caller waits in an Asterisk queue: `QueueAdd` the agent's interface unpaused,
    /// and the queue rings the agent.
    Queue,
}

/// How a call is transferred blind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum TransferMode {
    /// `BlindTransfer` on the agent's channel (Asterisk 12 and later).
    #[default]
    Blind,
    /// `Redirect` the caller into the dialplan (older PBXs without `BlindTransfer`).
    Redirect,
}

/// The stored configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AsteriskConfig {
    /// The PBX's manager interface host (AMI, `manager.conf`). Without it the provider
    /// only takes FreePBX webhooks.
    #[serde(default)]
    pub ami_host: Option<String>,
    /// Its port.
    #[serde(default = "default_port")]
    pub ami_port: u16,
    /// The `manager.conf` user.
    #[serde(default)]
    pub ami_username: Option<String>,
    /// Its secret.
    #[serde(default)]
    pub ami_password: Option<Secret>,
    /// Log in by MD5 challenge-response, so the secret never crosses the network.
    #[serde(default = "yes")]
    pub ami_md5: bool,
    /// Seconds between keep-alive `Ping`s; a Ping unanswered within 10 s drops the
    /// connection and reconnects.
    #[serde(default = "default_ping")]
    pub ping_seconds: u64,
    /// The longest wait between reconnect attempts, in seconds (the wait doubles from 1 s).
    #[serde(default = "default_backoff")]
    pub reconnect_max_seconds: u64,
    /// The dialplan context where an agent's extension rings (`Exten` = the extension).
    pub agent_context: String,
    /// The context a held caller is sent to: extension `hold` plays music on hold, and
    /// extension `wait` keeps the agent's phone up in silence until resume.
    pub hold_context: String,
    /// The context that dials outside numbers (`Exten` = the number as given).
    pub outbound_context: String,
    /// The channel of an agent's phone: `{ext}` is replaced by the extension.
    #[serde(default = "default_channel")]
    pub agent_channel: String,
    /// Agents' login names to their extensions.
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
    /// How agents take waiting calls.
    #[serde(default)]
    pub answer_mode: AnswerMode,
    /// The Asterisk queue calls wait in (answer mode `queue`).
    #[serde(default)]
    pub queue: Option<String>,
    /// How blind transfers are done.
    #[serde(default)]
    pub transfer_mode: TransferMode,
    /// Where the PBX's recordings are served from: a file `x.wav` is at `<base>/x.wav`.
    #[serde(default)]
    pub recordings_base_url: Option<String>,
    /// The FreePBX webhook's shared secret (header `X-Switchboard-Secret`).
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Addresses the FreePBX webhook is accepted from (CIDR or single IPs).
    #[serde(default)]
    pub webhook_allow: Vec<String>,
}

fn default_port() -> u16 {
    5038
}
fn yes() -> bool {
    true
}
fn default_ping() -> u64 {
    20
}
fn default_backoff() -> u64 {
    30
}
fn default_channel() -> String {
    "PJSIP/{ext}".into()
}

/// A context or extension name as the dialplan takes it.
fn dialplan_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 80 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
}

impl ProviderConfig for AsteriskConfig {
    fn check(&self) -> Result<(), ProviderError> {
        let bad = |m: &str| Err(ProviderError::Config(m.into()));
        if let Some(h) = &self.ami_host {
            if h.is_empty() || h.contains("://") || h.chars().any(char::is_whitespace) {
                return bad("amiHost is a host name or IP address, without a scheme");
            }
            if self.ami_username.as_deref().is_none_or(str::is_empty) || self.ami_password.is_none() {
                return bad("amiUsername and amiPassword are needed with amiHost");
            }
        } else if self.webhook_secret.is_none() {
            return bad("give amiHost (the manager interface) or webhookSecret (FreePBX webhooks), or both");
        }
        if !(2..=600).contains(&self.ping_seconds) {
            return bad("pingSeconds must be between 2 and 600");
        }
        if !(1..=600).contains(&self.reconnect_max_seconds) {
            return bad("reconnectMaxSeconds must be between 1 and 600");
        }
        for (name, v) in [
            ("agentContext", &self.agent_context),
            ("holdContext", &self.hold_context),
            ("outboundContext", &self.outbound_context),
        ] {
            if !dialplan_word(v) {
                return Err(ProviderError::Config(format!(
                    "{name} must be a dialplan context name (letters, digits, - _ + .)"
                )));
            }
        }
        if !self.agent_channel.contains("{ext}") || !self.agent_channel.contains('/') {
            return bad("agentChannel is a channel with {ext} for the extension, e.g. PJSIP/{ext}");
        }
        for (login, ext) in &self.extensions {
            if !dialplan_word(ext) {
                return Err(ProviderError::Config(format!(
                    "the extension of {login:?} must be a dialplan extension"
                )));
            }
        }
        if self.answer_mode == AnswerMode::Queue && self.queue.as_deref().is_none_or(|q| !dialplan_word(q)) {
            return bad("answerMode queue needs the queue's name in queue");
        }
        if let Some(u) = &self.recordings_base_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return bad("recordingsBaseUrl must be an http(s):// URL");
            }
        }
        // The webhook is open only with both a secret and an allow-list.
        if self.webhook_secret.is_some() != !self.webhook_allow.is_empty() {
            return bad("webhookSecret and webhookAllow go together: FreePBX webhooks need both");
        }
        for a in &self.webhook_allow {
            Cidr::parse(a).map_err(ProviderError::Config)?;
        }
        Ok(())
    }
}

impl AsteriskConfig {
    /// The agent's extension, by login name.
    pub fn extension(&self, login: Option<&str>) -> Result<&str, ProviderError> {
        let login = login.ok_or_else(|| ProviderError::Invalid("no agent is named for this call".into()))?;
        self.extensions.get(login).map(String::as_str).ok_or_else(|| {
            ProviderError::Invalid(format!(
                "agent {login:?} has no extension on this PBX: add it to the provider's extensions"
            ))
        })
    }

    /// The channel that rings an extension.
    pub fn channel_of(&self, extension: &str) -> String {
        self.agent_channel.replace("{ext}", extension)
    }

    /// Is `ip` allowed to post FreePBX webhooks?
    pub fn webhook_allows(&self, ip: IpAddr) -> bool {
        self.webhook_allow
            .iter()
            .filter_map(|a| Cidr::parse(a).ok())
            .any(|c| c.contains(ip))
    }
}

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parse; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} in webhookAllow is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?} in webhookAllow has a prefix length over {max}"))?,
        };
        Ok(Self { net, bits })
    }

    /// Does the block hold `ip`? IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let prefix = |a: u128, b: u128, width: u32| {
            let shift = width - u32::from(self.bits);
            shift >= width || (a >> shift) == (b >> shift)
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => prefix(u32::from(n).into(), u32::from(i).into(), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => prefix(u128::from(n), u128::from(i), 128),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(v: serde_json::Value) -> Result<(), String> {
        let source: std::sync::Arc<dyn crate::secret::SecretSource> = std::sync::Arc::new(crate::secret::NoSecrets);
        let cfg: AsteriskConfig = crate::secret::parse_config(&v, &source).map_err(|e| e.to_string())?;
        cfg.check().map_err(|e| e.to_string())
    }

    #[test]
    fn configs_are_checked_with_reasons() {
        let base = || {
            serde_json::json!({
                "amiHost": "10.0.0.2", "amiUsername": "switchboard", "amiPassword": "x",
                "agentContext": "agents", "holdContext": "hold", "outboundContext": "outbound",
                "extensions": { "alice": "1001" }
            })
        };
        assert_eq!(checked(base()), Ok(()));
        let with = |k: &str, v: serde_json::Value| {
            let mut c = base();
            c[k] = v;
            checked(c).unwrap_err()
        };
        assert!(with("amiHost", "tcp://pbx".into()).contains("amiHost"));
        assert!(with("holdContext", "hold music".into()).contains("holdContext"));
        assert!(with("agentChannel", "PJSIP/1001".into()).contains("{ext}"));
        assert!(with("webhookSecret", "s".into()).contains("webhookAllow"));
        assert!(with("webhookAllow", serde_json::json!(["10.0.0.0/8"])).contains("webhookSecret"));
        assert!(with("answerMode", "queue".into()).contains("queue"));
        assert!(with("extensions", serde_json::json!({ "bob": "10 02" })).contains("bob"));
        assert!(with("pingSeconds", 1.into()).contains("pingSeconds"));
        let mut nothing = base();
        nothing.as_object_mut().unwrap().remove("amiHost");
        assert!(checked(nothing).unwrap_err().contains("webhookSecret"));
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("pbx.local").is_err());
    }
}
