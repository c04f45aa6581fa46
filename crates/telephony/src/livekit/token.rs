//! LiveKit access tokens: the one JWT format behind the server API's `Authorization`, a
//! client's room join and the webhooks LiveKit sends (protocols.md §1.2, §1.3, §1.7).
//!
//! HS256 only, signed with the API secret, `iss` = the API key. The server allows a minute
//! of clock skew; so do we when verifying. Minting and verifying live together so a test
//! can hold one against the other, and both against the vendor's vectors and SDK.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The clock skew tolerated on `nbf` and `exp`, as the server does.
pub const LEEWAY_SECS: i64 = 60;

/// An API key and its secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// The key (the token's `iss`).
    pub key: String,
    /// The secret the tokens are signed with.
    pub secret: Secret,
}

/// Room permissions (`video` in the token). Unset fields are left out, as the SDKs do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoGrant {
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_create: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_list: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_admin: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub room_join: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hidden: bool,
}

/// SIP permissions (`sip` in the token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipGrant {
    #[serde(default, skip_serializing_if = "is_false")]
    pub admin: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub call: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The claims of a token. Fields the gateway neither sets nor reads are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoGrant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<SipGrant>,
    /// base64(SHA-256(body)) on a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Why a token was refused. Never carries the token or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT (three base64url parts)")]
    Malformed,
    #[error("the token's algorithm is {0:?}; only HS256 is accepted")]
    Algorithm(String),
    #[error("the token was issued for API key {0:?}, not ours")]
    UnknownKey(String),
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the body does not match the token's sha256 claim")]
    BodyHash,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn mac(secret: &Secret) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    #[allow(clippy::expect_used)]
    Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC accepts any key length")
}

/// Sign `claims` (with `iss` set to the key) as an HS256 JWT.
pub fn mint(key: &ApiKey, claims: &Claims) -> String {
    let mut claims = claims.clone();
    claims.iss.clone_from(&key.key);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    // Claims are plain data: serialising them cannot fail.
    #[allow(clippy::expect_used)]
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(&key.secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// A token for `identity`, valid from now for `ttl_secs`.
pub fn mint_for(
    key: &ApiKey,
    identity: &str,
    ttl_secs: i64,
    video: Option<VideoGrant>,
    sip: Option<SipGrant>,
) -> String {
    let t = now();
    mint(
        key,
        &Claims {
            sub: identity.to_owned(),
            nbf: Some(t),
            iat: Some(t),
            exp: Some(t.saturating_add(ttl_secs)),
            video,
            sip,
            ..Claims::default()
        },
    )
}

/// Verify a token against the keys we hold (found by its `iss`) at time `now`.
pub fn verify(token: &str, keys: &[ApiKey], now: i64) -> Result<Claims, TokenError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm(header.alg));
    }
    let claims: Claims = serde_json::from_slice(&decode(p)?).map_err(|_| TokenError::Malformed)?;
    let key = keys
        .iter()
        .find(|k| k.key == claims.iss)
        .ok_or_else(|| TokenError::UnknownKey(claims.iss.clone()))?;
    let mut m = mac(&key.secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&decode(s)?).map_err(|_| TokenError::Signature)?;
    if claims.exp.is_some_and(|exp| now > exp.saturating_add(LEEWAY_SECS)) {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now < nbf.saturating_sub(LEEWAY_SECS)) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// base64 (standard, padded) of SHA-256 over `body`: a webhook token's `sha256` claim.
pub fn body_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// Verify a webhook: the `Authorization` header (a bare JWT; a `Bearer ` prefix is
/// tolerated) signed by one of our keys, whose `sha256` claim is the body's hash.
pub fn verify_webhook(
    authorization: Option<&str>,
    body: &[u8],
    keys: &[ApiKey],
    now: i64,
) -> Result<Claims, TokenError> {
    let auth = authorization.ok_or(TokenError::Malformed)?;
    let token = auth.strip_prefix("Bearer ").unwrap_or(auth);
    let claims = verify(token, keys, now)?;
    let expected = body_hash(body);
    let given = claims.sha256.as_deref().unwrap_or_default();
    // Constant time: compare MACs of both strings rather than the strings.
    let tag = |s: &str| {
        let mut m = mac(&Secret::new("compare"));
        m.update(s.as_bytes());
        m.finalize().into_bytes()
    };
    if given.is_empty() || tag(given) != tag(&expected) {
        return Err(TokenError::BodyHash);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(k: &str, s: &str) -> ApiKey {
        ApiKey {
            key: k.into(),
            secret: Secret::new(s),
        }
    }

    /// protocols.md §1.3: the token in rust-sdks' livekit-api tests.
    const SDK_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoibmFtZSIsInZpZGVvIjp7InJvb21Kb2luIjp0cnVlLCJyb29tIjoibXktcm9vbSIsImNhblB1Ymxpc2giOnRydWUsImNhblN1YnNjcmliZSI6dHJ1ZSwiY2FuUHVibGlzaERhdGEiOnRydWV9LCJyb29tQ29uZmlnIjp7ImFnZW50cyI6W3siYWdlbnROYW1lIjoidGVzdC1hZ2VudCIsIm1ldGFkYXRhIjoidGVzdC1tZXRhZGF0YSJ9XX0sInN1YiI6ImlkZW50aXR5IiwiaXNzIjoibXlhcGlrZXkiLCJuYmYiOjE3NDE4Njk2NzksImV4cCI6NDEwMjQ0NDgwMH0.hmKovgw6sDbQUFZxAQ9Xjb9-VUzeBw1A6URTXFuCLMU";

    #[test]
    fn the_sdks_token_verifies_with_its_grants() {
        let keys = [key("myapikey", "thiskeyistotallyunsafe")];
        let c = verify(SDK_TOKEN, &keys, 1_741_869_700).unwrap();
        assert_eq!(c.sub, "identity");
        assert_eq!(c.name, "name");
        let v = c.video.unwrap();
        assert!(v.room_join);
        assert_eq!(v.room.as_deref(), Some("my-room"));
        assert_eq!(
            (v.can_publish, v.can_subscribe, v.can_publish_data),
            (Some(true), Some(true), Some(true))
        );
        // Wrong secret, another key, a flipped payload byte, before nbf, after exp.
        assert_eq!(
            verify(SDK_TOKEN, &[key("myapikey", "other")], 1_741_869_700),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify(SDK_TOKEN, &[key("k2", "thiskeyistotallyunsafe")], 1_741_869_700),
            Err(TokenError::UnknownKey("myapikey".into()))
        );
        let mut t = SDK_TOKEN.to_owned();
        t.replace_range(40..41, if &t[40..41] == "A" { "B" } else { "A" });
        assert!(verify(&t, &keys, 1_741_869_700).is_err());
        assert_eq!(
            verify(SDK_TOKEN, &keys, 1_741_869_679 - 61),
            Err(TokenError::NotYetValid)
        );
        assert!(verify(SDK_TOKEN, &keys, 1_741_869_679 - 59).is_ok());
        assert_eq!(verify(SDK_TOKEN, &keys, 4_102_444_800 + 61), Err(TokenError::Expired));
    }

    #[test]
    fn minted_tokens_verify_and_other_algorithms_do_not() {
        let k = key("APIkey1", "s3cret-s3cret-s3cret-s3cret-s3cret");
        let video = VideoGrant {
            room_join: true,
            room: Some("call-1".into()),
            can_publish: Some(false),
            can_subscribe: Some(true),
            hidden: true,
            ..VideoGrant::default()
        };
        let t = mint_for(&k, "sam", 600, Some(video.clone()), None);
        let c = verify(&t, std::slice::from_ref(&k), now()).unwrap();
        assert_eq!((c.iss.as_str(), c.sub.as_str()), ("APIkey1", "sam"));
        assert_eq!(c.video, Some(video));
        assert_eq!(c.sip, None);
        // alg "none" with the same claims and no signature.
        let payload = t.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert_eq!(
            verify(&none, std::slice::from_ref(&k), now()),
            Err(TokenError::Algorithm("none".into()))
        );
        assert_eq!(verify("a.b", &[k], now()), Err(TokenError::Malformed));
    }

    #[test]
    fn webhook_body_hash_matches_the_sdk_vector_and_guards_the_body() {
        // protocols.md §1.7, server-sdk-js's WebhookReceiver test.
        let body = br#"{"event":"room_started", "room":{"sid":"RM_TkVjUvAqgzKz", "name":"mytestroom", "emptyTimeout":300, "creationTime":"1628545903", "turnPassword":"ICkSr2rEeslkN6e9bXL4Ji5zzMD5Z7zzr6ulOaxMj6N", "enabledCodecs":[{"mime":"audio/opus"}, {"mime":"video/VP8"}]}}"#;
        assert_eq!(body_hash(body), "CoEQz1chqJ9bnZRcORddjplkvpjmPujmLTR42DbefYI=");
        let k = key("abcdefg", "abababa");
        let t = now();
        let token = mint(
            &k,
            &Claims {
                nbf: Some(t),
                exp: Some(t + 300),
                sha256: Some(body_hash(body)),
                ..Claims::default()
            },
        );
        let keys = [k];
        assert!(verify_webhook(Some(&token), body, &keys, t).is_ok());
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify_webhook(Some(&token), &tampered, &keys, t),
            Err(TokenError::BodyHash)
        );
        assert_eq!(verify_webhook(None, body, &keys, t), Err(TokenError::Malformed));
        assert_eq!(
            verify_webhook(Some(&token), body, &keys, t + 300 + 61),
            Err(TokenError::Expired)
        );
    }
}
