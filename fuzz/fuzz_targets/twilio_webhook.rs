//! What reaches the Twilio provider from the internet, as it arrives. The first byte picks
//! the door, the rest is the input:
//! - 0: any body with a made-up signature (refused, never parsed further by the gateway);
//! - 1: any body correctly signed, through the provider's own `parse_webhook` and
//!   `webhook_response` (a leaked token, or Twilio itself sending the unexpected);
//! - 2: any text as a Media Stream frame (the socket is open once its upgrade was signed).
//!
//! Nothing may panic, loop or allocate without bound; a refusal is fine.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use switchboard_core::ProviderId;
use switchboard_telephony::registry::{ProviderContext, SystemClock, build};
use switchboard_telephony::secret::NoSecrets;
use switchboard_telephony::twilio::{signature, stream};
use switchboard_telephony::{TelephonyProvider, WebhookRequest};

const URL: &str = "https://gw.example.com/webhooks/twilio/main";
const TOKEN: &str = "fuzz-token";

struct World {
    _rt: tokio::runtime::Runtime,
    provider: Arc<dyn TelephonyProvider>,
    _events: tokio::sync::mpsc::Receiver<switchboard_telephony::ProviderEvent>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (sink, events) = tokio::sync::mpsc::channel(1);
        let ctx = ProviderContext {
            provider_id: ProviderId::try_from(1).expect("id"),
            name: "main".into(),
            numbers: vec![],
            lead_phones: vec![],
            sink,
            public_url: "https://gw.example.com".into(),
            clock: Arc::new(SystemClock),
            secrets: Arc::new(NoSecrets),
            carry: Arc::default(),
        };
        let config = serde_json::json!({
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "auth_token": TOKEN,
            "api_base": "http://127.0.0.1:9/2010-04-01",
        });
        let provider = {
            let _guard = rt.enter();
            build("twilio", &config, ctx).expect("provider")
        };
        World { _rt: rt, provider, _events: events }
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&door, body)) = input.split_first() else { return };
    match door % 3 {
        0 => {
            let url = format!("{URL}?call_sid=call_01");
            let _ = signature::verify(TOKEN, &url, Some("application/x-www-form-urlencoded"), body, Some("c2lnbmF0dXJl"));
            let _ = signature::verify(TOKEN, &url, Some("application/json"), body, Some("c2lnbmF0dXJl"));
        }
        1 => {
            let w = world();
            let _guard = w._rt.enter();
            let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            let headers = vec![
                ("x-twilio-signature".to_owned(), signature::sign(TOKEN, URL, &params)),
                ("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
            ];
            let req = WebhookRequest { url: URL, headers: &headers, body, peer: None };
            if w.provider.parse_webhook(&req).is_ok() {
                let _ = w.provider.webhook_response(&req, None);
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                if let Ok(stream::Inbound::Media { media, .. }) = stream::Inbound::parse(text) {
                    let _ = media.samples();
                }
            }
        }
    }
});
