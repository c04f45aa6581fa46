//! The LiveKit provider against the real LiveKit server (Go, built by `cargo xtask setup`)
//! and LiveKit's own JavaScript SDK (npm `livekit-server-sdk`) as the oracle for tokens and
//! webhook signatures. No stand-in: the server runs here.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;

use switchboard_core::{NumberCapabilities, PhoneNumber, ProviderCapabilities};
use switchboard_e2e::Oracle;
use switchboard_e2e::livekit::LiveKitStack;
use switchboard_telephony::livekit::token::{self, ApiKey};
use switchboard_telephony::livekit::twirp::Twirp;
use switchboard_telephony::livekit::{LiveKit, provision};
use switchboard_telephony::registry::{ProviderContext, SystemClock};
use switchboard_telephony::secret::{NoSecrets, Secret};
use switchboard_telephony::{TelephonyProvider, WebhookRequest};

fn number(id: i64, e164: &str) -> PhoneNumber {
    PhoneNumber {
        id: switchboard_core::NumberId::try_from(id).unwrap(),
        e164: e164.parse().unwrap(),
        label: format!("line {id}"),
        provider_id: switchboard_core::ProviderId::try_from(1).unwrap(),
        provider: "lk".into(),
        provider_kind: "livekit".into(),
        capabilities: NumberCapabilities {
            inbound: true,
            outbound: true,
        },
        is_default: id == 1,
        provider_capabilities: ProviderCapabilities::default(),
    }
}

fn provider(lk: &LiveKitStack, numbers: &[&str], outbound: Option<&str>) -> LiveKit {
    provider_at(&lk.url, &lk.key, &lk.secret, numbers, outbound)
}

fn provider_at(url: &str, key: &str, secret: &str, numbers: &[&str], outbound: Option<&str>) -> LiveKit {
    let (sink, _rx) = tokio::sync::mpsc::channel(16);
    let ctx = ProviderContext {
        provider_id: switchboard_core::ProviderId::try_from(1).unwrap(),
        name: "lk".into(),
        numbers: numbers
            .iter()
            .enumerate()
            .map(|(i, n)| number(i as i64 + 1, n))
            .collect(),
        lead_phones: vec![],
        sink,
        public_url: "http://127.0.0.1:9".into(),
        clock: Arc::new(SystemClock),
        secrets: Arc::new(NoSecrets),
        carry: Arc::default(),
    };
    let mut cfg = serde_json::json!({ "url": url, "api_key": key, "api_secret": secret,
        "carrier_call_id_header": "X-Carrier-Call-Id" });
    if let Some(a) = outbound {
        cfg["outbound_address"] = a.into();
    }
    LiveKit::from_context(&cfg, &ctx).unwrap()
}

fn api(lk: &LiveKitStack) -> Twirp {
    Twirp::new(
        &lk.url,
        ApiKey {
            key: lk.key.clone(),
            secret: Secret::new(lk.secret.clone()),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_against_the_real_server_is_idempotent_and_follows_the_numbers() {
    let lk = LiveKitStack::start(false, &[]);
    let api = api(&lk);
    // Another tenant's trunk on the same server.
    let theirs = api
        .create_inbound_trunk(livekit_protocol::SipInboundTrunkInfo {
            name: "someone else".into(),
            numbers: vec!["+442071838750".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let name = provision::object_name("lk");
    let ours =
        |v: &[livekit_protocol::SipInboundTrunkInfo]| v.iter().filter(|t| t.name == name).cloned().collect::<Vec<_>>();

    let p = provider(&lk, &["+14155550100", "+14155550101"], Some("sip.carrier.example:5060"));
    p.provision().await.unwrap();
    let first = (
        api.list_inbound_trunks().await.unwrap(),
        api.list_outbound_trunks().await.unwrap(),
        api.list_dispatch_rules().await.unwrap(),
    );
    let inbound = ours(&first.0);
    assert_eq!(inbound.len(), 1, "{:?}", first.0);
    let mut numbers = inbound[0].numbers.clone();
    numbers.sort();
    assert_eq!(numbers, ["+14155550100", "+14155550101"]);
    assert_eq!(
        inbound[0].headers_to_attributes["X-Carrier-Call-Id"],
        "switchboard.carrierCallId"
    );
    let outbound: Vec<_> = first.1.iter().filter(|t| t.name == name).collect();
    assert_eq!(outbound.len(), 1);
    assert_eq!(outbound[0].address, "sip.carrier.example:5060");
    let rules: Vec<_> = first.2.iter().filter(|r| r.name == name).collect();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].trunk_ids, [inbound[0].sip_trunk_id.clone()]);
    assert_eq!(rules[0].attributes["switchboard.provider"], "lk");

    // Again, as on every start: nothing changes, ids included.
    p.provision().await.unwrap();
    let second = (
        api.list_inbound_trunks().await.unwrap(),
        api.list_outbound_trunks().await.unwrap(),
        api.list_dispatch_rules().await.unwrap(),
    );
    assert_eq!(first, second, "a second provisioning changed the server");

    // A number added and outbound dropped (a config change): one inbound trunk with three
    // numbers, its rule on it, no outbound trunk, the other tenant's trunk untouched.
    let p = provider(&lk, &["+14155550100", "+14155550101", "+14155550102"], None);
    p.provision().await.unwrap();
    let inbound_all = api.list_inbound_trunks().await.unwrap();
    let inbound = ours(&inbound_all);
    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].numbers.len(), 3);
    assert!(inbound_all.iter().any(|t| t.sip_trunk_id == theirs.sip_trunk_id));
    assert!(api.list_outbound_trunks().await.unwrap().iter().all(|t| t.name != name));
    let rules: Vec<_> = api
        .list_dispatch_rules()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.name == name)
        .collect();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].trunk_ids, [inbound[0].sip_trunk_id.clone()]);

    // check() reaches the server; a wrong secret is a clear configuration error.
    p.check().await.unwrap();
    let mut bad = lk.secret.clone();
    bad.push('x');
    let wrong = Twirp::new(
        &lk.url,
        ApiKey {
            key: lk.key.clone(),
            secret: Secret::new(bad),
        },
    );
    let e = wrong.list_inbound_trunks().await.unwrap_err().to_string();
    assert!(e.contains("unauthenticated"), "{e}");
    // The server's own text echoes the refused token; ours does not repeat it.
    assert!(!e.contains("eyJ"), "a token in the error: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_webhooks_agree_with_livekits_own_sdk() {
    let mut sdk = Oracle::node("livekit.js");
    let key = ApiKey {
        key: "APIsw1tchb0ard".into(),
        secret: Secret::new("a-secret-of-thirty-two-characters-or-more"),
    };
    // Tokens and webhook checks need no server: nothing listens at this address.
    let p = provider_at(
        "ws://127.0.0.1:9",
        &key.key,
        key.secret.expose(),
        &["+14155550100"],
        None,
    );
    // Our room tokens, verified by the SDK's TokenVerifier: the agent's grants...
    let agent = p.agent_token("call-+15550001111_x", "agent-alice");
    let v = sdk
        .ask(&serde_json::json!({ "op": "lk_verify", "key": key.key, "secret": key.secret.expose(), "token": agent }));
    assert_eq!(v["sub"], "agent-alice", "{v}");
    assert_eq!(v["video"]["room"], "call-+15550001111_x");
    assert_eq!(v["video"]["roomJoin"], true);
    assert_eq!(v["video"]["canPublish"], true);
    assert_eq!(v["video"]["canSubscribe"], true);
    // ...and the supervisor's: hidden, subscribe only.
    let sam = p.listener_token("call-+15550001111_x", "supervisor-sam");
    let v =
        sdk.ask(&serde_json::json!({ "op": "lk_verify", "key": key.key, "secret": key.secret.expose(), "token": sam }));
    assert_eq!(v["video"]["hidden"], true, "{v}");
    assert_eq!(v["video"]["canPublish"], false);
    assert_eq!(v["video"]["canSubscribe"], true);
    // The SDK refuses our token under another secret (it is really checking).
    let v = sdk.ask(&serde_json::json!({ "op": "lk_verify", "key": key.key, "secret": "another-secret-another-secret-xx", "token": sam }));
    assert!(v["error"].is_string(), "{v}");

    // Webhooks signed the SDK's way (an AccessToken carrying the body's sha256): ours
    // accepts them; a changed body, another key or an expired token is refused.
    let body = r#"{"event":"participant_joined","id":"EV_x","createdAt":"1764600000","room":{"name":"call-+15550001111_x"},"participant":{"sid":"PA_1","identity":"sip_+15550001111","kind":"SIP","attributes":{"sip.callID":"SCL_1","sip.ruleID":"SDR_1","sip.phoneNumber":"+15550001111","sip.trunkPhoneNumber":"+14155550100","switchboard.provider":"lk"}}}"#;
    let signed = |sdk: &mut Oracle, ttl: i64, secret: &str| {
        sdk.ask(
            &serde_json::json!({ "op": "lk_webhook_auth", "key": key.key, "secret": secret, "body": body, "ttl": ttl }),
        )
    };
    let good = signed(&mut sdk, 300, key.secret.expose());
    let auth = good["authorization"].as_str().unwrap().to_owned();
    let req = |auth: &str, body: &str| {
        let headers = vec![("authorization".to_owned(), auth.to_owned())];
        p.parse_webhook(&WebhookRequest {
            url: "http://127.0.0.1/webhooks/livekit/lk",
            headers: &headers,
            body: body.as_bytes(),
            peer: None,
        })
    };
    let events = req(&auth, body).unwrap();
    assert_eq!(events.len(), 1);
    // The SDK's own receiver accepts what it signed (the oracle is consistent).
    let v = sdk.ask(&serde_json::json!({ "op": "lk_webhook_receive", "key": key.key, "secret": key.secret.expose(), "body": body, "authorization": auth }));
    assert_eq!(v["event"], "participant_joined", "{v}");
    assert!(req(&auth, &body.replace("SCL_1", "SCL_2")).is_err(), "tampered body");
    let other = signed(&mut sdk, 300, "some-other-secret-some-other-secret");
    assert!(
        req(other["authorization"].as_str().unwrap(), body).is_err(),
        "wrong key"
    );
    let expired = signed(&mut sdk, -120, key.secret.expose());
    assert!(
        req(expired["authorization"].as_str().unwrap(), body).is_err(),
        "expired"
    );
    assert!(token::verify_webhook(None, body.as_bytes(), &[key], 0).is_err());
}
