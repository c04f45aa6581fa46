//! Bearer-token auth. Tokens are random, shown once, and stored only as SHA-256 hashes; the
//! tenant of every request comes from the token, never from the request. Every token
//! expires (30 days unless its issuer says otherwise) and can be revoked; a refused token
//! says why (`token_expired`, `token_revoked`), so the desktop can ask its agent to sign
//! in again instead of retrying.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;
use crate::store::{Principal, TokenCheck};

/// A new token: `sbt_` + 32 random bytes in hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    format!("sbt_{}", hex::encode(bytes))
}

/// Lifetime of a token when its issuer does not choose one.
pub const DEFAULT_TOKEN_TTL_DAYS: u32 = 30;
/// The longest lifetime an issuer may choose.
pub const MAX_TOKEN_TTL_DAYS: u32 = 365;

/// Issue a token for `agent` that expires after `ttl_days` days (1 to 365).
pub async fn issue(
    store: &dyn crate::Store,
    agent: switchboard_core::AgentId,
    label: &str,
    ttl_days: u32,
) -> crate::store::StoreResult<switchboard_core::api::IssuedToken> {
    if !(1..=MAX_TOKEN_TTL_DAYS).contains(&ttl_days) {
        return Err(crate::store::StoreError::Invalid(format!(
            "a token lives 1 to {MAX_TOKEN_TTL_DAYS} days, not {ttl_days}"
        )));
    }
    if label.len() > 200 || label.contains('\0') {
        return Err(crate::store::StoreError::Invalid(
            "a token label is at most 200 characters".into(),
        ));
    }
    let token = new_token();
    let expires_at = crate::now_ms().saturating_add(i64::from(ttl_days) * 24 * 60 * 60 * 1000);
    let id = store.add_token(agent, &hash_token(&token), label, expires_at).await?;
    Ok(switchboard_core::api::IssuedToken { id, token, expires_at })
}

/// What the database keeps of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match state.store.authenticate(&hash_token(token), crate::now_ms()).await? {
            TokenCheck::Valid(p) => Ok(p),
            TokenCheck::Expired => Err(ApiError::TokenExpired),
            TokenCheck::Revoked => Err(ApiError::TokenRevoked),
            TokenCheck::Unknown => Err(ApiError::Unauthorized),
        }
    }
}
