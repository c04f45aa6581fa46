//! What providers tell us, in one shape: [`NormalizedCallEvent`], the vendor and
//! voice-platform names that qualify their call ids, and [`CallError`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::CallSid;
use crate::status::{CallStatus, Direction};

macro_rules! open_name {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        ///
        /// Stored and sent as a lowercase name; names we do not know yet are kept as
        /// `Other`, so a new vendor is data, not a schema change.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// Any other name, lowercased.
            Other(String),
        }

        impl $name {
            /// The lowercase name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                let lower = s.trim().to_ascii_lowercase();
                match lower.as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Other(lower),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "examples": [$($text),+] })
            }
        }
    };
}

open_name!(
    /// The carrier or CPaaS that owns the phone leg (its id goes in `vendor_call_id`).
    TelephonyVendor {
        /// Switchboard's built-in simulator.
        Simulator = "simulator",
        /// Twilio (`CallSid`).
        Twilio = "twilio",
        /// SignalWire (Twilio-compatible `CallSid`).
        SignalWire = "signalwire",
        /// Vonage (`uuid`).
        Vonage = "vonage",
        /// Bandwidth (`callId`).
        Bandwidth = "bandwidth",
        /// An Asterisk-style PBX (`Linkedid`).
        Asterisk = "asterisk",
    }
);

open_name!(
    /// The voice/AI platform carrying the media (its id goes in `voice_platform_call_id`).
    VoicePlatform {
        /// LiveKit SIP (`sip.callID`).
        LiveKit = "livekit",
        /// Retell (`call_id`).
        Retell = "retell",
        /// Bland (`call_id`).
        Bland = "bland",
        /// ElevenLabs agents (`conversation_id`).
        ElevenLabs = "elevenlabs",
    }
);

/// Normalised failure reasons, whatever the provider called them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallErrorCode {
    /// The provider or far end did not answer in time.
    Timeout,
    /// The far end or the provider refused the call.
    Rejected,
    /// The provider is down or overloaded.
    Unavailable,
    /// The far end was busy.
    Busy,
    /// It rang out.
    NoAnswer,
    /// The number cannot be dialled.
    InvalidNumber,
    /// Our credentials were refused.
    AuthFailed,
    /// Too many requests.
    RateLimited,
    /// The network between us and the provider failed.
    Network,
    /// The provider reported an error we have no better code for.
    ProviderError,
    /// Nothing more is known.
    Unknown,
}

impl CallErrorCode {
    /// Whether trying the same thing again later may work.
    pub const fn default_retryable(self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Unavailable | Self::Busy | Self::NoAnswer | Self::RateLimited | Self::Network
        )
    }
}

/// A normalised call failure; the provider's own code and message are kept beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallError {
    /// Normalised reason.
    pub code: CallErrorCode,
    /// A sentence for people.
    pub message: String,
    /// The provider's own error code, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    /// The provider's own message, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message: Option<String>,
    /// Whether retrying may help.
    pub retryable: bool,
}

impl CallError {
    /// An error with the code's default retry advice and no provider details.
    pub fn new(code: CallErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            provider_code: None,
            provider_message: None,
            retryable: code.default_retryable(),
        }
    }
}

/// One thing a provider says happened to a call, in provider-neutral form. Webhooks, AMI
/// events and LiveKit webhooks all become this before the gateway touches the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NormalizedCallEvent {
    /// The provider's id for this event; a redelivered event has the same one.
    pub event_id: String,
    /// Our call id, when the provider echoes it back.
    #[serde(default)]
    pub call_sid: Option<CallSid>,
    /// Who owns the phone leg.
    #[serde(default)]
    pub telephony_vendor: Option<TelephonyVendor>,
    /// The vendor's call id.
    #[serde(default)]
    pub vendor_call_id: Option<String>,
    /// Which voice platform carries the media.
    #[serde(default)]
    pub voice_platform: Option<VoicePlatform>,
    /// The voice platform's call id.
    #[serde(default)]
    pub voice_platform_call_id: Option<String>,
    /// An AI platform's conversation id.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The status the call is in after this event; `None` for events that only add data.
    #[serde(default)]
    pub status: Option<CallStatus>,
    /// Call direction, when the provider says.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Calling party as the provider gives it (E.164, SIP URI or extension).
    #[serde(default)]
    pub from: Option<String>,
    /// Called party as the provider gives it.
    #[serde(default)]
    pub to: Option<String>,
    /// When it happened, by the provider's clock (milliseconds since the Unix epoch).
    pub occurred_at: i64,
    /// The provider's per-call sequence number, where it has one.
    #[serde(default)]
    pub sequence: Option<i64>,
    /// Talk time reported by the provider, for ended calls.
    #[serde(default)]
    pub duration_secs: Option<i64>,
    /// A recording that became available.
    #[serde(default)]
    pub recording_url: Option<String>,
    /// Why the call failed, for failed calls.
    #[serde(default)]
    pub error: Option<CallError>,
}

impl NormalizedCallEvent {
    /// A bare event: an id, a time and nothing else; fill in the rest with struct update.
    pub fn new(event_id: impl Into<String>, occurred_at: i64) -> Self {
        Self {
            event_id: event_id.into(),
            call_sid: None,
            telephony_vendor: None,
            vendor_call_id: None,
            voice_platform: None,
            voice_platform_call_id: None,
            conversation_id: None,
            status: None,
            direction: None,
            from: None,
            to: None,
            occurred_at,
            sequence: None,
            duration_secs: None,
            recording_url: None,
            error: None,
        }
    }

    /// The business's own number on this call: the called number of an inbound call, the
    /// caller id of an outbound one. Used by the last-resort correlation.
    pub fn service_number(&self) -> Option<&str> {
        match self.direction {
            Some(Direction::Outbound) => self.from.as_deref(),
            _ => self.to.as_deref(),
        }
    }

    /// Can this event start a call record we have never seen? Any inbound event that has a
    /// status and both parties can: when `answered` overtakes `ringing`, the call must not
    /// be lost. Outbound calls are always created by us first, and an event without a
    /// status (a recording url, say) has too little to start a call from.
    pub fn may_create_call(&self) -> bool {
        self.direction != Some(Direction::Outbound) && self.status.is_some() && self.from.is_some() && self.to.is_some()
    }

    /// The total order in which events of one call are merged: provider time, then
    /// provider sequence, then status rank, then event id. See [`crate::CallRecord::apply`].
    pub fn order_key(&self) -> (i64, i64, u8, &str) {
        (
            self.occurred_at,
            self.sequence.unwrap_or(0),
            self.status.map_or(0, CallStatus::rank),
            &self.event_id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_are_data() {
        assert_eq!(TelephonyVendor::from("Twilio"), TelephonyVendor::Twilio);
        assert_eq!(TelephonyVendor::from("Plivo"), TelephonyVendor::Other("plivo".into()));
        let json = serde_json::to_string(&VoicePlatform::LiveKit).expect("serialise");
        assert_eq!(json, "\"livekit\"");
    }

    #[test]
    fn error_codes_are_screaming() {
        let e = CallError::new(CallErrorCode::NoAnswer, "rang out");
        let v = serde_json::to_value(&e).expect("serialise");
        assert_eq!(v["code"], "NO_ANSWER");
        assert_eq!(v["retryable"], true);
    }
}
