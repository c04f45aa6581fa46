//! A Twilio webhook as it arrives: any bytes as the body, checked for a signature and
//! parsed as a callback. Nothing may panic, loop or allocate without bound; a refusal is
//! fine.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::TelephonyVendor;
use switchboard_telephony::twilio::{callback, signature};

fuzz_target!(|body: &[u8]| {
    let url = "https://gw.example.com/webhooks/twilio/main?call_sid=call_01";
    let _ = signature::verify("token", url, Some("application/x-www-form-urlencoded"), body, Some("c2lnbmF0dXJl"));
    let _ = signature::verify("token", url, Some("application/json"), body, Some("c2lnbmF0dXJl"));
    if let Ok(form) = callback::Form::parse(body) {
        let _ = callback::normalize(&form, &TelephonyVendor::Twilio, None, 0);
    }
});
