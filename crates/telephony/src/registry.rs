//! Building providers by kind. The gateway stores `(kind, config)` rows and hands each to
//! [`build`] with a [`ProviderContext`]; it never names a kind itself. Adding a provider
//! means a module behind [`crate::TelephonyProvider`] and one arm in [`build`].

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use switchboard_core::{PhoneNumber, ProviderId};

use crate::asterisk::{Asterisk, AsteriskConfig};
use crate::elevenlabs::{ElevenLabs, ElevenLabsConfig};
use crate::livekit::{LiveKit, LiveKitConfig};
use crate::secret::{ProviderConfig, SecretSource};
use crate::simulator::{Simulator, SimulatorConfig};
use crate::twilio::{Twilio, TwilioConfig};
use crate::{EventSink, ProviderError, TelephonyProvider};

/// The provider kinds this build can run.
pub const KINDS: &[&str] = &["simulator", "twilio", "elevenlabs", "livekit", "asterisk"];

/// Milliseconds since the Unix epoch, injectable so time-dependent behaviour is testable.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now_ms(&self) -> i64;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// What a provider may need from the gateway that runs it.
#[derive(Clone)]
pub struct ProviderContext {
    /// The provider's row id.
    pub provider_id: ProviderId,
    /// Its configured name (webhooks address it by this).
    pub name: String,
    /// The business numbers this provider carries.
    pub numbers: Vec<PhoneNumber>,
    /// Phone numbers of the business's leads (who may call in).
    pub lead_phones: Vec<String>,
    /// Where an in-process provider reports what happens.
    pub sink: EventSink,
    /// The gateway's public base URL (what a carrier calls back), without a trailing slash.
    pub public_url: String,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Resolves `secret:NAME` references in the config.
    pub secrets: Arc<dyn SecretSource>,
    /// What this provider's instances hand on to each other (see [`Carry`]).
    pub carry: Arc<Carry>,
}

/// What a provider keeps across its own reloads. A configuration change builds a new
/// instance that takes every carrier callback from then on, while calls in progress stay
/// with the old one for actions: state about those calls (what a carrier told us, live
/// media) must be the same for both. The gateway keeps one `Carry` per provider for the
/// life of the process; a provider keeps its per-call state in it.
#[derive(Default)]
pub struct Carry(Mutex<Option<Arc<dyn Any + Send + Sync>>>);

impl Carry {
    /// The state kept here, or `init()`'s if none of this type is (a provider whose kind
    /// changed starts afresh).
    pub fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(kept) = slot.clone().and_then(|v| v.downcast::<T>().ok()) {
            return kept;
        }
        let fresh = Arc::new(init());
        *slot = Some(fresh.clone());
        fresh
    }
}

impl fmt::Debug for Carry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Carry")
    }
}

impl fmt::Debug for ProviderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderContext")
            .field("provider_id", &self.provider_id)
            .field("name", &self.name)
            .field("numbers", &self.numbers.len())
            .field("lead_phones", &self.lead_phones.len())
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl ProviderContext {
    /// The E.164 numbers this provider receives calls on.
    pub fn inbound_numbers(&self) -> Vec<String> {
        self.numbers
            .iter()
            .filter(|n| n.capabilities.inbound)
            .map(|n| n.e164.to_string())
            .collect()
    }
}

/// Build a provider of `kind` from its stored `config`. The provider is ready to act but
/// not yet running its own traffic: the caller follows with
/// [`TelephonyProvider::reconcile`], which also starts it.
pub fn build(
    kind: &str,
    config: &serde_json::Value,
    ctx: ProviderContext,
) -> Result<Arc<dyn TelephonyProvider>, ProviderError> {
    let provider: Arc<dyn TelephonyProvider> = match kind {
        "simulator" => Arc::new(Simulator::from_context(config, &ctx)?),
        "twilio" => Arc::new(Twilio::from_context(config, &ctx)?),
        "elevenlabs" => Arc::new(ElevenLabs::from_context(config, &ctx)?),
        "livekit" => Arc::new(LiveKit::from_context(config, &ctx)?),
        "asterisk" => Arc::new(Asterisk::from_context(config, &ctx)?),
        other => return Err(unknown_kind(other)),
    };
    provider.validate_config()?;
    Ok(provider)
}

/// Check a config for `kind` as an API that stores it must: the shape and the values, every
/// credential a `secret:NAME` reference (a literal one is refused), and every reference
/// resolvable. Builds nothing that runs.
pub fn check_config(
    kind: &str,
    config: &serde_json::Value,
    secrets: &Arc<dyn SecretSource>,
) -> Result<(), ProviderError> {
    match kind {
        "simulator" => SimulatorConfig::check_stored(config, secrets),
        "twilio" => TwilioConfig::check_stored(config, secrets),
        "elevenlabs" => ElevenLabsConfig::check_stored(config, secrets),
        "livekit" => LiveKitConfig::check_stored(config, secrets),
        "asterisk" => AsteriskConfig::check_stored(config, secrets),
        other => Err(unknown_kind(other)),
    }
}

fn unknown_kind(kind: &str) -> ProviderError {
    ProviderError::Config(format!(
        "provider kind {kind:?} is not available in this build (available: {})",
        KINDS.join(", ")
    ))
}
