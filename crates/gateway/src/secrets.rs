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

    /// The value of secret `name`. Names are letters, digits and `_`, so a reference can
    /// never point outside the secrets directory.
    pub fn get(&self, name: &str) -> Result<String, MissingSecret> {
        if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(MissingSecret {
                name: name.to_owned(),
                path: "(not a valid secret name: use letters, digits and _)".into(),
            });
        }
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
}

impl switchboard_telephony::secret::SecretSource for Secrets {
    fn get(&self, name: &str) -> Result<String, String> {
        Secrets::get(self, name).map_err(|e| e.to_string())
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
        assert_eq!(s.get("TWILIO_TOKEN_TEST").expect("resolves"), "abc");
        let err = s.get("NOPE_NOT_SET").expect_err("missing");
        assert!(err.to_string().contains("SWITCHBOARD_SECRET_NOPE_NOT_SET"));
    }
}
