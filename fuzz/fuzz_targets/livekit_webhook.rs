//! What reaches the LiveKit provider's webhook from the internet. The first byte picks
//! the door, the rest is the input:
//! - 0: any `Authorization` value over a fixed body (the token parser and verifier:
//!   base64, JSON claims, algorithm, signature, times, body hash);
//! - 1: any body, correctly signed (a token whose sha256 claim is the body's), through the
//!   provider's own `parse_webhook` and `webhook_response` (LiveKit, or a leaked secret,
//!   sending the unexpected);
//! - 2: any body with a made-up token.
//!
//! Nothing may panic, loop or allocate without bound; a refusal is fine.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use switchboard_core::{CallSid, ProviderId};
use switchboard_telephony::livekit::token::{self, ApiKey, Claims};
use switchboard_telephony::registry::{ProviderContext, SystemClock, build};
use switchboard_telephony::secret::{NoSecrets, Secret};
use switchboard_telephony::{TelephonyProvider, WebhookRequest};

const URL: &str = "https://gw.example.com/webhooks/livekit/lk";
const KEY: &str = "APIfuzz";
const SECRET: &str = "fuzz-secret-fuzz-secret-fuzz-secret";

struct World {
    rt: tokio::runtime::Runtime,
    provider: Arc<dyn TelephonyProvider>,
    key: ApiKey,
    _events: tokio::sync::mpsc::Receiver<switchboard_telephony::ProviderEvent>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (sink, events) = tokio::sync::mpsc::channel(1);
        let ctx = ProviderContext {
            provider_id: ProviderId::try_from(1).expect("id"),
            name: "lk".into(),
            numbers: vec![],
            lead_phones: vec![],
            sink,
            public_url: "https://gw.example.com".into(),
            clock: Arc::new(SystemClock),
            secrets: Arc::new(NoSecrets),
            carry: Arc::default(),
        };
        let config = serde_json::json!({ "url": "ws://127.0.0.1:9", "api_key": KEY, "api_secret": SECRET });
        let provider = {
            let _guard = rt.enter();
            build("livekit", &config, ctx).expect("provider")
        };
        let key = ApiKey { key: KEY.into(), secret: Secret::new(SECRET) };
        World { rt, provider, key, _events: events }
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&door, rest)) = input.split_first() else { return };
    let w = world();
    let _guard = w.rt.enter();
    let now = token::now();
    match door % 3 {
        0 => {
            let auth = String::from_utf8_lossy(rest);
            let _ = token::verify_webhook(Some(&auth), b"{}", std::slice::from_ref(&w.key), now);
        }
        1 => {
            let auth = token::mint(
                &w.key,
                &Claims { nbf: Some(now), exp: Some(now + 300), sha256: Some(token::body_hash(rest)), ..Claims::default() },
            );
            let headers = vec![("authorization".to_owned(), auth)];
            let req = WebhookRequest { url: URL, headers: &headers, body: rest, peer: None };
            if w.provider.parse_webhook(&req).is_ok() {
                let sid = CallSid::from_parts(1_764_600_000_000, 7);
                let _ = w.provider.webhook_response(&req, Some(&sid));
            }
        }
        _ => {
            let headers = vec![("authorization".to_owned(), "eyJhbGciOiJIUzI1NiJ9.e30.c2ln".to_owned())];
            let req = WebhookRequest { url: URL, headers: &headers, body: rest, peer: None };
            let _ = w.provider.parse_webhook(&req);
        }
    }
});
