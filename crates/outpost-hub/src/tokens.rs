//! Access tokens and offline grants (EdDSA JWTs), their verification, the JWKS, and opaque
//! refresh tokens.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use outpost_domain::auth::{AccessClaims, OfflineGrantClaims};
use outpost_store::SigningKeyRecord;

/// The audience of offline grants: distinct from access tokens so neither passes for the other.
pub const OFFLINE_AUDIENCE_SUFFIX: &str = "-offline";

/// Fixed PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why a presented token was refused. Deliberately coarse: the client learns only that it
/// must sign in again.
#[derive(Debug, thiserror::Error)]
#[error("token refused")]
pub struct TokenRefused;

/// Generates a new Ed25519 signing key.
pub fn generate_signing_key(now: DateTime<Utc>) -> SigningKeyRecord {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut_slice());
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes()
        .to_vec();
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(seed.as_slice());
    let kid = hex::encode(&Sha256::digest(&public)[..8]);
    SigningKeyRecord {
        kid,
        private_pkcs8: pkcs8,
        public_key: public,
        created_at: now,
    }
}

/// Signs and verifies the hub's tokens.
pub struct TokenKeys {
    kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
    issuer: String,
    audience: String,
    /// Keys the derivation of refresh tokens' successors ([`TokenKeys::successor`]).
    successor_key: Zeroizing<[u8; 32]>,
}

impl TokenKeys {
    /// Uses the newest key for signing and every key for verification.
    pub fn new(keys: &[SigningKeyRecord], issuer: &str, audience: &str) -> Option<Self> {
        let newest = keys.iter().max_by_key(|k| k.created_at)?;
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for key in keys {
            let x = URL_SAFE_NO_PAD.encode(&key.public_key);
            verifying.insert(key.kid.clone(), DecodingKey::from_ed_components(&x).ok()?);
            jwks.push(json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                "kid": key.kid, "x": x,
            }));
        }
        let mut successor_key = Zeroizing::new([0u8; 32]);
        successor_key.copy_from_slice(
            &Sha256::new()
                .chain_update(b"outpost refresh-token successor v1")
                .chain_update(&newest.private_pkcs8)
                .finalize(),
        );
        Some(Self {
            successor_key,
            kid: newest.kid.clone(),
            signing: EncodingKey::from_ed_der(&newest.private_pkcs8),
            verifying,
            jwks: json!({ "keys": jwks }),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// `GET /v1/auth/jwks`.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn offline_audience(&self) -> String {
        format!("{}{OFFLINE_AUDIENCE_SUFFIX}", self.audience)
    }

    pub fn sign_access(
        &self,
        claims: &AccessClaims,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(claims)
    }

    pub fn sign_offline_grant(
        &self,
        claims: &OfflineGrantClaims,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(claims)
    }

    /// The refresh token that replaces `token`: derived with a key only this hub holds, so
    /// that every retry of a lost rotation is answered with the same successor without
    /// storing it in clear, and nobody holding a spent token can compute its successor.
    pub fn successor(&self, token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.successor_key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(token.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.signing)
    }

    /// Verifies an access token: EdDSA only, a known `kid`, the signature, `iss`, `aud`, and
    /// `exp` against both the system clock and the hub's clock `now`.
    pub fn verify_access(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, TokenRefused> {
        let header = decode_header(token).map_err(|_| TokenRefused)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenRefused);
        }
        let key = header
            .kid
            .as_ref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenRefused)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.leeway = 0;
        let data = decode::<AccessClaims>(token, key, &validation).map_err(|_| TokenRefused)?;
        if data.claims.exp <= now.timestamp() {
            return Err(TokenRefused);
        }
        Ok(data.claims)
    }
}

/// A new opaque refresh token (256 random bits, base64url).
pub fn new_refresh_token() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut_slice());
    URL_SAFE_NO_PAD.encode(bytes.as_slice())
}

/// What the store keeps of a refresh token.
pub fn refresh_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
