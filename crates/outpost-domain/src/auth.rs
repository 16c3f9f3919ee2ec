//! Sign-in wire types and the claims of access tokens and offline grants.

use serde::{Deserialize, Serialize};

use crate::ids::{DeviceId, SessionId, TenantId, UserId};
use crate::roles::{Permission, Role};
use crate::tenant::Tenant;

/// `POST /v1/auth/login`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The tenant's slug; may be left out when the user belongs to one tenant only.
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    #[serde(default)]
    pub device_name: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("tenant", &self.tenant)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/auth/refresh`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The user as shown to themselves and to admins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub full_name: String,
}

/// The answer to a successful login or refresh.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub user: UserSummary,
    /// Absent for a platform admin's central-scope session.
    pub tenant: Option<Tenant>,
    pub role: Role,
    pub permissions: Vec<Permission>,
    /// A hub-signed JWT bounding how long the client may unlock its cache offline.
    pub offline_grant: Option<String>,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub user: UserSummary,
    pub tenant: Option<Tenant>,
    pub role: Role,
    pub permissions: Vec<Permission>,
    pub session_id: SessionId,
}

/// Claims of an access token (EdDSA JWT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    /// Absent for a central-scope (platform admin) token.
    pub tid: Option<TenantId>,
    pub role: Role,
    pub sid: SessionId,
    pub did: Option<DeviceId>,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// Claims of an offline grant: the client may unlock its cache without the hub until `exp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfflineGrantClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub tid: TenantId,
    pub did: Option<DeviceId>,
    pub sid: SessionId,
    pub exp: i64,
    pub iat: i64,
}
