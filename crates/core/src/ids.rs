//! Newtype ids. Database ids are positive integers; the call id is ours, a prefixed ULID,
//! so it sorts by creation time and can be made before any provider is asked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string or number is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Database ids start at 1.
    #[error("{what} must be a positive integer, got {value}")]
    NotPositive { what: &'static str, value: i64 },
    /// Not a number at all.
    #[error("{what} must be a positive integer, got {value:?}")]
    NotANumber { what: &'static str, value: String },
    /// A call sid is `call_` followed by a 26-character ULID.
    #[error("call_sid must look like call_01HZX3Q9M5R8T2V6W4Y7K0N1PB, got {0:?}")]
    BadCallSid(String),
}

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// The raw database value.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = IdError;
            fn try_from(value: i64) -> Result<Self, IdError> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(IdError::NotPositive { what: $what, value })
                }
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let value: i64 = s
                    .parse()
                    .map_err(|_| IdError::NotANumber { what: $what, value: s.to_owned() })?;
                Self::try_from(value)
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "integer", "format": "int64", "minimum": 1,
                    "description": concat!("Id of a ", $what) })
            }
        }
    };
}

int_id!(/// A tenant. Everything carries one; it always comes from the caller's token.
    BusinessId, "business id");
int_id!(/// An agent, supervisor or admin of a business.
    AgentId, "agent id");
int_id!(/// A lead (a person a business calls or is called by).
    LeadId, "lead id");
int_id!(/// A business phone number.
    NumberId, "number id");
int_id!(/// A configured telephony provider.
    ProviderId, "provider id");
int_id!(/// A call queue.
    QueueId, "queue id");

/// Our own call id: `call_` + a ULID (time-sortable, 26 Crockford base32 characters).
/// Generated before any provider call so a failed attempt still has a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CallSid(String);

impl CallSid {
    const PREFIX: &'static str = "call_";

    /// A sid from a ULID's parts: milliseconds since the epoch and 80 random bits.
    /// The caller brings the clock and the randomness.
    pub fn from_parts(timestamp_ms: u64, random: u128) -> Self {
        let ulid = ulid::Ulid::from_parts(timestamp_ms, random);
        Self(format!("{}{}", Self::PREFIX, ulid))
    }

    /// The sid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Milliseconds since the epoch at which the sid was made.
    pub fn timestamp_ms(&self) -> u64 {
        ulid::Ulid::from_string(&self.0[Self::PREFIX.len()..])
            .map(|u| u.timestamp_ms())
            .unwrap_or_default()
    }
}

impl TryFrom<String> for CallSid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        let Some(rest) = s.strip_prefix(Self::PREFIX) else {
            return Err(IdError::BadCallSid(s));
        };
        match ulid::Ulid::from_string(rest) {
            // Normalise case so lookups match what we generated.
            Ok(u) => Ok(Self(format!("{}{}", Self::PREFIX, u))),
            Err(_) => Err(IdError::BadCallSid(s)),
        }
    }
}

impl FromStr for CallSid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
}

impl From<CallSid> for String {
    fn from(sid: CallSid) -> String {
        sid.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for CallSid {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CallSid".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^call_[0-9A-HJKMNP-TV-Z]{26}$",
            "description": "Switchboard's own call id: call_ + a ULID" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_sid_round_trips_and_sorts_by_time() {
        let a = CallSid::from_parts(1_700_000_000_000, 7);
        let b = CallSid::from_parts(1_700_000_000_001, 1);
        assert!(a < b);
        assert_eq!(a.timestamp_ms(), 1_700_000_000_000);
        let parsed: CallSid = a.as_str().to_lowercase().parse().expect("lowercase parses");
        assert_eq!(parsed, a);
        assert!("CA123".parse::<CallSid>().is_err());
        assert!("call_notaulid".parse::<CallSid>().is_err());
    }

    #[test]
    fn int_ids_reject_zero_negative_and_text() {
        assert!(AgentId::try_from(0).is_err());
        assert!(AgentId::try_from(-3).is_err());
        assert!("x".parse::<LeadId>().is_err());
        assert_eq!("42".parse::<LeadId>().map(LeadId::get), Ok(42));
        assert!(serde_json::from_str::<NumberId>("0").is_err());
    }
}
