//! The gateway token lives in the OS keyring (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows) and nowhere else.

use switchboard_core::desktop::DesktopError;

/// Keyring access for one application name.
#[derive(Clone)]
pub struct Vault {
    service: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("service", &self.service).finish()
    }
}

fn kerr(e: keyring::Error) -> DesktopError {
    DesktopError::Keyring(e.to_string())
}

impl Vault {
    /// Entries are stored under `service`, one per gateway URL.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, DesktopError> {
        keyring::Entry::new(&self.service, account).map_err(kerr)
    }

    /// Store the token for a gateway.
    pub fn save(&self, gateway_url: &str, token: &str) -> Result<(), DesktopError> {
        self.entry(gateway_url)?.set_password(token).map_err(kerr)
    }

    /// The token for a gateway, if one is stored.
    pub fn load(&self, gateway_url: &str) -> Result<Option<String>, DesktopError> {
        match self.entry(gateway_url)?.get_password() {
            Ok(t) => Ok(Some(t)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(kerr(e)),
        }
    }

    /// Forget the token.
    pub fn delete(&self, gateway_url: &str) -> Result<(), DesktopError> {
        match self.entry(gateway_url)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(kerr(e)),
        }
    }
}
