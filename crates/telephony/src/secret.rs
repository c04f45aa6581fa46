//! Credentials in provider configs.
//!
//! A stored config never holds a credential, only a reference, `"secret:NAME"`; the
//! gateway's [`SecretSource`] knows where NAME's value lives. Two rules follow:
//!
//! - A resolved value lives only in a [`Secret`], whose `Debug` prints `Secret(redacted)`
//!   and which has no `Display` or `Serialize`: formatting a provider, a config or the
//!   whole running gateway cannot print it.
//! - A config is parsed *before* any reference is resolved ([`parse_config`]): a
//!   `secret:NAME` in a field of the wrong type fails with the field's path and the
//!   reference, never the value. Only fields typed [`Secret`] resolve their reference, as
//!   they are deserialised.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};

use crate::ProviderError;

/// A credential: an auth token, a webhook signing key, an API secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The value, for the one place that uses it (a signature, an Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Where `secret:NAME` references are resolved (the gateway: environment, then files).
pub trait SecretSource: Send + Sync + fmt::Debug {
    /// The value of NAME; the error says how to provide it and never holds a value.
    fn get(&self, name: &str) -> Result<String, String>;
}

/// A source that knows no secrets: configs with literal values only (tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn get(&self, name: &str) -> Result<String, String> {
        Err(format!("secret {name:?} cannot be resolved here"))
    }
}

/// The prefix of a reference.
pub const PREFIX: &str = "secret:";

thread_local! {
    /// The source [`Secret`]'s `Deserialize` resolves through, set by [`parse_config`]
    /// for the duration of one (synchronous) parse.
    static SOURCE: RefCell<Option<Arc<dyn SecretSource>>> = const { RefCell::new(None) };
    /// Set by [`check_references`]: a literal value in a [`Secret`] field is an error.
    static REFERENCES_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let Some(name) = raw.strip_prefix(PREFIX) else {
            if REFERENCES_ONLY.with(std::cell::Cell::get) {
                // The value itself is a credential: the error must not repeat it.
                return Err(D::Error::custom(
                    "a credential must be given as a secret:NAME reference, never as the value itself",
                ));
            }
            return Ok(Self::new(raw));
        };
        SOURCE.with(|s| match s.borrow().as_ref() {
            Some(source) => source.get(name).map(Self::new).map_err(D::Error::custom),
            None => Err(D::Error::custom(format!(
                "secret reference {raw:?} outside a config parse"
            ))),
        })
    }
}

/// Restores the previous source and mode when a parse ends, even by panic.
struct Scoped(Option<Arc<dyn SecretSource>>, bool);

impl Drop for Scoped {
    fn drop(&mut self) {
        let previous = self.0.take();
        SOURCE.with(|s| *s.borrow_mut() = previous);
        REFERENCES_ONLY.with(|r| r.set(self.1));
    }
}

/// Parse a provider config, resolving the references of its [`Secret`] fields through
/// `source`. Errors name the field (`media.port: invalid type ...`) and show references,
/// never resolved values.
pub fn parse_config<T: DeserializeOwned>(
    config: &serde_json::Value,
    source: &Arc<dyn SecretSource>,
) -> Result<T, ProviderError> {
    parse(config, source, false)
}

/// Parse a config as [`parse_config`] does, and also refuse a literal value in any
/// [`Secret`] field: what an API that stores configs must accept. The error names the
/// field, never the value.
pub fn check_references<T: DeserializeOwned>(
    config: &serde_json::Value,
    source: &Arc<dyn SecretSource>,
) -> Result<T, ProviderError> {
    parse(config, source, true)
}

/// A provider's stored configuration: its shape is serde's, [`ProviderConfig::check`] the
/// values the shape cannot express. Every kind parses and checks the same two ways.
pub trait ProviderConfig: DeserializeOwned {
    /// Check the values (ranges, formats, what must go together).
    fn check(&self) -> Result<(), ProviderError>;

    /// Parse and check a stored config, resolving its `secret:NAME` references.
    fn parse(value: &serde_json::Value, secrets: &Arc<dyn SecretSource>) -> Result<Self, ProviderError> {
        let cfg: Self = parse_config(value, secrets)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Check a config about to be stored: as [`ProviderConfig::parse`], and its credentials
    /// must be `secret:NAME` references.
    fn check_stored(value: &serde_json::Value, secrets: &Arc<dyn SecretSource>) -> Result<(), ProviderError> {
        let cfg: Self = check_references(value, secrets)?;
        cfg.check()
    }
}

fn parse<T: DeserializeOwned>(
    config: &serde_json::Value,
    source: &Arc<dyn SecretSource>,
    references_only: bool,
) -> Result<T, ProviderError> {
    let previous = SOURCE.with(|s| s.borrow_mut().replace(source.clone()));
    let mode = REFERENCES_ONLY.with(|r| r.replace(references_only));
    let _restore = Scoped(previous, mode);
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ProviderError::Config(inner.to_string())
        } else {
            ProviderError::Config(format!("{path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct One;
    impl SecretSource for One {
        fn get(&self, name: &str) -> Result<String, String> {
            if name == "KEY" {
                Ok("hunter2-value".into())
            } else {
                Err(format!("secret {name:?} is not set"))
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // `port` is only there to be the wrong type.
    struct Cfg {
        #[serde(default)]
        port: u16,
        #[serde(default)]
        key: Option<Secret>,
    }

    fn source() -> Arc<dyn SecretSource> {
        Arc::new(One)
    }

    #[test]
    fn secrets_resolve_and_never_print() {
        let cfg: Cfg = parse_config(&serde_json::json!({ "key": "secret:KEY" }), &source()).expect("parses");
        assert_eq!(cfg.key.as_ref().map(Secret::expose), Some("hunter2-value"));
        let shown = format!("{cfg:?} {cfg:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(redacted)"));
    }

    #[test]
    fn a_stored_config_must_reference_its_credentials() {
        let raw = serde_json::json!({ "key": "hunter2-literal" });
        let err = check_references::<Cfg>(&raw, &source()).expect_err("a literal credential");
        let msg = err.to_string();
        assert!(msg.contains("key") && msg.contains("secret:NAME"), "{msg}");
        assert!(!msg.contains("hunter2"), "the error repeats the credential: {msg}");
        // The same literal is still accepted where configs are not stored (tests, tools),
        // and the strict mode does not outlive its parse.
        assert!(parse_config::<Cfg>(&raw, &source()).is_ok());
        assert!(check_references::<Cfg>(&serde_json::json!({ "key": "secret:KEY" }), &source()).is_ok());
    }

    #[test]
    fn a_reference_in_the_wrong_field_names_field_and_reference_only() {
        let err = parse_config::<Cfg>(&serde_json::json!({ "port": "secret:KEY" }), &source()).expect_err("wrong type");
        let msg = err.to_string();
        assert!(msg.contains("port") && msg.contains("secret:KEY"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let err = parse_config::<Cfg>(&serde_json::json!({ "key": "secret:NOPE" }), &source()).expect_err("missing");
        assert!(err.to_string().contains("NOPE"), "{err}");
    }
}
