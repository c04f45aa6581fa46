//! ElevenLabs' webhook signature, checked against PyPI `elevenlabs`' own verifier
//! (`webhooks.construct_event`, run by `tests/python/elevenlabs_oracle.py`): what we sign,
//! the SDK accepts; and over a spread of genuine, tampered, stale and malformed headers
//! the SDK and our verifier agree, case by case.
//!
//! One deliberate difference, checked as such: the SDK accepts any timestamp from the
//! future, which would leave a captured webhook replayable forever; we accept at most
//! five minutes ahead.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // the case count is reported

use serde_json::json;
use switchboard_telephony::elevenlabs::{AHEAD_SECS, TOLERANCE_SECS, sign, verify};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn our_signatures_and_the_sdks_verifier_agree() {
    let mut sdk = switchboard_e2e::PyOracle::start("elevenlabs_oracle.py");
    let now = now();
    let mut checked = 0;
    for i in 0..40u32 {
        let secret = format!("wsec_{:x}", 0x9e37_79b9u32.wrapping_mul(i + 1));
        let body = json!({ "type": "post_call_transcription", "event_timestamp": now,
            "data": { "conversation_id": format!("conv_{i}"), "note": "naïve café ✓", "n": i } })
        .to_string();
        let header = sign(&secret, now - i64::from(i) * 30, body.as_bytes());
        let tampered_body = body.replace("conv_", "conw_");
        let cases: Vec<(String, String, String, &str)> = vec![
            (body.clone(), header.clone(), secret.clone(), "genuine"),
            (tampered_body, header.clone(), secret.clone(), "tampered body"),
            (body.clone(), header.clone(), format!("{secret}x"), "wrong secret"),
            (
                body.clone(),
                sign(&secret, now - TOLERANCE_SECS - 120, body.as_bytes()),
                secret.clone(),
                "stale",
            ),
            (
                body.clone(),
                header.replace("v0=", "v1="),
                secret.clone(),
                "unknown scheme",
            ),
            (
                body.clone(),
                header.split(',').nth(1).unwrap().to_owned(),
                secret.clone(),
                "no timestamp",
            ),
            (
                body.clone(),
                format!("{},{}", header.split(',').next().unwrap(), "v0=00"),
                secret.clone(),
                "short hash",
            ),
        ];
        for (body, header, secret, what) in cases {
            let theirs = sdk.ask(&json!({ "op": "verify", "body": body, "header": header, "secret": secret }))["ok"]
                .as_bool()
                .unwrap();
            let ours = verify(&secret, Some(&header), body.as_bytes(), now);
            assert_eq!(ours, theirs, "{what}: ours {ours}, the SDK's {theirs} for {header}");
            assert_eq!(ours, what == "genuine", "{what}");
            checked += 1;
        }
    }
    // The future: the SDK takes it, we take five minutes of clock skew and no more.
    let body = r#"{"type":"post_call_audio","data":{"conversation_id":"c"}}"#;
    let ahead = sign("s", now + AHEAD_SECS + 600, body.as_bytes());
    assert_eq!(
        sdk.ask(&json!({ "op": "verify", "body": body, "header": ahead, "secret": "s" }))["ok"],
        true
    );
    assert!(!verify("s", Some(&ahead), body.as_bytes(), now));
    let skewed = sign("s", now + 60, body.as_bytes());
    assert!(verify("s", Some(&skewed), body.as_bytes(), now));
    println!("{checked} cases agree with the SDK");
}
