//! Property test through the real webhook path: arbitrary *signed* events (any i64 time,
//! any strings, NUL bytes, huge numbers, any order), mixed into a real call's events,
//! never panic the gateway and never get a 5xx; the refusals are clear 4xx; and the real
//! call still converges to the record in-order delivery gives.

#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use support::{SECRET, TestDb, TestGateway, inbound, post_signed, post_webhook};
use switchboard_core::{CallError, CallErrorCode, CallStatus, Direction, NormalizedCallEvent, TelephonyVendor};

fn story(call: &str) -> Vec<NormalizedCallEvent> {
    use CallStatus::*;
    let ev = |n: u32, t: i64, s: CallStatus| {
        let mut e = inbound(call, &format!("{call}-e{n}"), t, s, "+14155550100");
        e.sequence = Some(i64::from(n));
        e
    };
    let mut done = ev(4, 9_000, Completed);
    done.duration_secs = Some(6);
    vec![
        ev(1, 1_000, Ringing),
        ev(2, 2_000, Answered),
        ev(3, 3_000, OnHold),
        done,
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\x00-\\x1f]{0,5}",
        Just("x".repeat(300)),
        Just(String::new()),
        Just("+14155550100".to_owned()),
    ]
}

fn any_status() -> impl Strategy<Value = Option<CallStatus>> {
    prop_oneof![
        Just(None),
        Just(Some(CallStatus::Ringing)),
        Just(Some(CallStatus::Answered)),
        Just(Some(CallStatus::Completed)),
        Just(Some(CallStatus::Failed)),
    ]
}

prop_compose! {
    /// A hostile event: often aimed at the real call (its vendor id), with any time.
    fn hostile(call: String)(
        id in any_text(),
        aimed in any::<bool>(),
        vendor_id in any_text(),
        at in prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), Just(-1i64), any::<i64>()],
        status in any_status(),
        from in proptest::option::of(any_text()),
        to in proptest::option::of(any_text()),
        seq in proptest::option::of(any::<i64>()),
        duration in proptest::option::of(any::<i64>()),
        url in proptest::option::of(any_text()),
        msg in any_text(),
    ) -> NormalizedCallEvent {
        NormalizedCallEvent {
            telephony_vendor: Some(TelephonyVendor::Simulator),
            vendor_call_id: Some(if aimed { call.clone() } else { vendor_id }),
            direction: Some(Direction::Inbound),
            status,
            from,
            to,
            sequence: seq,
            duration_secs: duration,
            recording_url: url,
            error: status.filter(|s| *s == CallStatus::Failed).map(|_| CallError::new(CallErrorCode::ProviderError, msg)),
            ..NormalizedCallEvent::new(id, at)
        }
    }
}

/// Post `events` to `provider`; every answer must be 200 or a clear 4xx with the JSON
/// error. Events refused as unknown (404: they cannot start a call and it does not exist
/// yet) are redelivered at the end, as a provider retries.
async fn deliver(gw: &TestGateway, provider: &str, events: &[NormalizedCallEvent]) -> Result<(), String> {
    let http = reqwest::Client::new();
    let mut retry = vec![];
    for round in 0..2 {
        let batch: Vec<NormalizedCallEvent> = if round == 0 {
            events.to_vec()
        } else {
            std::mem::take(&mut retry)
        };
        for ev in &batch {
            let (code, body) = post_webhook(&http, &gw.base, provider, ev).await;
            if !(code == 200 || (400..500).contains(&code)) {
                return Err(format!("{code} for {ev:?}: {body}"));
            }
            if code >= 400 {
                let v: serde_json::Value =
                    serde_json::from_str(&body).map_err(|e| format!("{code} not JSON ({e}): {body}"))?;
                if v["error"]["code"].as_str().is_none() {
                    return Err(format!("{code} without an error code: {body}"));
                }
            }
            if code == 404 && round == 0 {
                retry.push(ev.clone());
            }
        }
    }
    Ok(())
}

/// What must converge (the ids and routing each business assigns are left out).
fn essence(r: &switchboard_core::CallRecord) -> serde_json::Value {
    serde_json::json!({ "status": r.status, "duration": r.duration_secs, "answered": r.answered_at,
                        "ended": r.ended_at, "created": r.created_at, "from": r.from, "to": r.to,
                        "recording": r.recording_url, "error": r.error })
}

#[test]
fn hostile_signed_events_never_crash_or_5xx_and_the_store_converges() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::sqlite());
    let (gw, seeded) = rt.block_on(TestGateway::start(&db, 2));
    let find = |business: switchboard_core::BusinessId, vendor_id: String| {
        let store = gw.store.clone();
        async move {
            let list = store
                .calls(
                    business,
                    &switchboard_core::api::CallListQuery {
                        limit: Some(200),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            list.calls
                .into_iter()
                .find(|c| c.vendor_call_id.as_deref() == Some(vendor_id.as_str()))
        }
    };
    // Signed bodies that are not events at all.
    let http = reqwest::Client::new();
    for body in [
        &b"\xff\xfe"[..],
        b"null",
        b"{\"occurred_at\": 1e400}",
        b"{\"event_id\":\"x\",\"occurred_at\":-9223372036854775808}",
    ] {
        let (code, text) = rt.block_on(post_signed(
            &http,
            &format!("{}/webhooks/simulator/sim-1", gw.base),
            body,
            SECRET,
        ));
        assert!((400..500).contains(&code), "{code}: {text}");
    }

    let case = std::sync::atomic::AtomicU32::new(0);
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(noise in prop::collection::vec((hostile(String::new()), any::<bool>()), 1..8),
                        first in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle(),
                        second in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle())| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let call = format!("P{n}");
        // The real call's events and the noise, some of it aimed at the real call.
        let mut all = story(&call);
        for (mut ev, aimed) in noise {
            if aimed {
                // A carrier reports one pair of parties per call; the parties are taken
                // from the event that creates the record, so aimed noise keeps them.
                ev.vendor_call_id = Some(call.clone());
                ev.from = Some("+16285550999".into());
                ev.to = Some("+14155550100".into());
            }
            all.push(ev);
        }
        // The same events in two orders, to two businesses: the same record results.
        let order = |perm: &[usize]| perm.iter().filter(|&&i| i < all.len()).map(|&i| all[i].clone()).collect::<Vec<_>>();
        rt.block_on(deliver(&gw, "sim-1", &order(&first))).map_err(TestCaseError::fail)?;
        rt.block_on(deliver(&gw, "sim-2", &order(&second))).map_err(TestCaseError::fail)?;
        let one = rt.block_on(find(seeded[0].business, call.clone())).ok_or_else(|| TestCaseError::fail("stored in 1"))?;
        let two = rt.block_on(find(seeded[1].business, call.clone())).ok_or_else(|| TestCaseError::fail("stored in 2"))?;
        prop_assert_eq!(essence(&one), essence(&two));
    });
}
