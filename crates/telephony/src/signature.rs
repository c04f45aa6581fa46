//! HMAC-SHA256 webhook signatures for Switchboard's own webhook formats (the simulator's
//! and the generic transcript webhook): header `X-Switchboard-Signature: sha256=<hex>`
//! over the raw body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "x-switchboard-signature";

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// The header value for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body`; compares in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(bytes) = hex::decode(sig.trim()) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let s = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", Some(&s)));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", Some(&s)));
        assert!(!verify(b"Jefe", b"x", None));
        assert!(!verify(b"Jefe", b"x", Some("sha256=zz")));
    }
}

/// Are two byte strings equal? Takes the same time wherever they differ (the length is not
/// secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
