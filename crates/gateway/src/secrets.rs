//! Secret references. Provider configs never hold credentials, only `secret:NAME`; at run
//! time NAME is read from the environment (`SWITCHBOARD_SECRET_NAME`) or from a file
//! `NAME` in the secrets directory (the way container orchestrators mount secrets).

use std::path::PathBuf;

/// Resolves `secret:NAME` references.
#[derive(Debug, Clone)]
pub struct Secrets {
    dir: Option<PathBuf>,
}

/// A reference that could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("secret {name:?} is not set: export SWITCHBOARD_SECRET_{name} or create the file {path}")]
pub struct MissingSecret {
    name: String,
    path: String,
}

impl Secrets {
    /// Resolve from the environment, then from `dir`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Result<String, MissingSecret> {
        if let Ok(v) = std::env::var(format!("SWITCHBOARD_SECRET_{name}")) {
            return Ok(v);
        }
        let path = self.dir.as_ref().map(|d| d.join(name));
        if let Some(p) = &path {
            if let Ok(v) = std::fs::read_to_string(p) {
                return Ok(v.trim().to_owned());
            }
        }
        Err(MissingSecret {
            name: name.to_owned(),
            path: path.map_or_else(|| "<secrets dir>/".to_owned() + name, |p| p.display().to_string()),
        })
    }

    /// A copy of `config` with every `"secret:NAME"` string replaced by its value.
    pub fn resolve(&self, config: &serde_json::Value) -> Result<serde_json::Value, MissingSecret> {
        use serde_json::Value;
        Ok(match config {
            Value::String(s) => match s.strip_prefix("secret:") {
                Some(name) => Value::String(self.get(name)?),
                None => config.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>()?),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_from_files_and_names_what_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("TWILIO_TOKEN_TEST"), "abc\n").expect("write");
        let s = Secrets::new(Some(dir.path().to_owned()));
        let cfg = serde_json::json!({ "auth_token": "secret:TWILIO_TOKEN_TEST", "nested": ["plain"] });
        let out = s.resolve(&cfg).expect("resolves");
        assert_eq!(out["auth_token"], "abc");
        assert_eq!(out["nested"][0], "plain");
        let err = s
            .resolve(&serde_json::json!("secret:NOPE_NOT_SET"))
            .expect_err("missing");
        assert!(err.to_string().contains("SWITCHBOARD_SECRET_NOPE_NOT_SET"));
    }
}
