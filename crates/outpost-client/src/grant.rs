//! Verifying the hub's offline grant with its public keys, against the client's clock.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

use outpost_domain::auth::OfflineGrantClaims;

use crate::error::{ClientError, ClientResult};
use crate::home::Profile;

/// Checks the grant's signature (EdDSA, a key from `jwks`), audience, subject and tenant, and
/// that `now` is before its expiry.
pub fn verify(
    grant: &str,
    jwks: &Value,
    profile: &Profile,
    now: DateTime<Utc>,
) -> ClientResult<OfflineGrantClaims> {
    let header = decode_header(grant).map_err(|_| ClientError::OfflineGrantInvalid)?;
    if header.alg != Algorithm::EdDSA {
        return Err(ClientError::OfflineGrantInvalid);
    }
    let kid = header.kid.ok_or(ClientError::OfflineGrantInvalid)?;
    let x = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .and_then(|k| k["x"].as_str())
        .ok_or(ClientError::OfflineGrantInvalid)?;
    let key = DecodingKey::from_ed_components(x).map_err(|_| ClientError::OfflineGrantInvalid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    // Expiry is judged below against the injected clock; audience by suffix.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub", "aud"]);
    let claims = decode::<OfflineGrantClaims>(grant, &key, &validation)
        .map_err(|_| ClientError::OfflineGrantInvalid)?
        .claims;
    if !claims.aud.ends_with("-offline")
        || claims.sub != profile.user_id
        || claims.tid != profile.tenant_id
    {
        return Err(ClientError::OfflineGrantInvalid);
    }
    if now.timestamp() >= claims.exp {
        return Err(ClientError::OfflineGrantExpired);
    }
    Ok(claims)
}
