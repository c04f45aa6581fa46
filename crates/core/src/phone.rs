//! E.164 phone numbers: `+`, a country code that does not start with 0, at most 15 digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an E.164 number ({reason}); write it like +14155550123")]
pub struct PhoneError {
    input: String,
    reason: &'static str,
}

/// A phone number in E.164 form, e.g. `+14155550123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// The number as text, with its leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;
    fn try_from(input: String) -> Result<Self, PhoneError> {
        let err = |reason| PhoneError {
            input: input.clone(),
            reason,
        };
        let Some(digits) = input.strip_prefix('+') else {
            return Err(err("it must start with +"));
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("only digits may follow the +"));
        }
        if digits.starts_with('0') {
            return Err(err("country codes do not start with 0"));
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(err("it must have 7 to 15 digits"));
        }
        Ok(Self(input))
    }
}

impl FromStr for E164 {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, PhoneError> {
        Self::try_from(s.to_owned())
    }
}

impl From<E164> for String {
    fn from(n: E164) -> String {
        n.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for E164 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "E164".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$",
            "description": "A phone number in E.164 form" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert!("+14155550123".parse::<E164>().is_ok());
        for bad in [
            "14155550123",
            "+0123456789",
            "+1 415 555",
            "+12",
            "+1234567890123456",
            "+",
            "",
        ] {
            assert!(bad.parse::<E164>().is_err(), "{bad} should be rejected");
        }
        let e = "0800".parse::<E164>().expect_err("no plus");
        assert!(
            e.to_string().contains("+14155550123"),
            "error says how to write it: {e}"
        );
    }
}
