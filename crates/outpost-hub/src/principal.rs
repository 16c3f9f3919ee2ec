//! The authenticated caller, and the one mechanism every route uses to check permissions.

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::TenantStatus;
use outpost_domain::{DeviceId, ErrorCode, Permission, Role, SessionId, TenantId, UserId};
use outpost_store::SessionRecord;

use crate::error::{ApiError, ApiResult};
use crate::extract::ClientInfo;
use crate::state::{AppState, HubState};

/// Activity is written back at most this often, to keep the central database quiet.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// A caller whose access token verified and whose session is live. The tenant comes from
/// the verified token only, never from the URL or the body.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub tenant_id: Option<TenantId>,
    pub role: Role,
    pub session_id: SessionId,
    pub device_id: Option<DeviceId>,
    pub permissions: BTreeSet<Permission>,
    pub client: ClientInfo,
    pub now: DateTime<Utc>,
    /// The tenant is being moved to another server: changes are refused meanwhile.
    pub tenant_read_only: bool,
}

impl Principal {
    /// Refuses a change while the tenant is read-only (a move): 503, which clients treat as
    /// "try again later", so offline changes stay in their outboxes.
    pub fn require_writable(&self) -> ApiResult<()> {
        if self.tenant_read_only {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "this tenant is read-only while its database moves to another server; \
                 try again in a few minutes",
            ));
        }
        Ok(())
    }

    /// Refuses the request unless the caller's role holds `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your role ({}) does not have the permission {permission}",
                self.role
            )))
        }
    }

    /// Whether the caller's role holds `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The caller's tenant; refuses central-scope (platform) sessions.
    pub fn tenant(&self) -> ApiResult<TenantId> {
        self.tenant_id
            .ok_or_else(|| ApiError::forbidden("this route needs a sign-in to a tenant"))
    }

    /// The audit actor for this request.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            role: Some(self.role.as_str().to_owned()),
            tenant_id: self.tenant_id,
            session_id: Some(self.session_id),
            device_id: self.device_id,
            ip: self.client.ip.clone(),
            at: self.now,
            request_id: self.client.request_id.clone(),
        }
    }
}

/// The answer for a device that was revoked: the client wipes its cache on it.
pub fn device_revoked() -> ApiError {
    ApiError::new(
        ErrorCode::DeviceRevoked,
        "this device has been revoked; its local data must be wiped",
    )
}

/// The answer for a session that has ended, saying so when the device was revoked.
pub fn ended(session: &SessionRecord) -> ApiError {
    if session.end_reason.as_deref() == Some("device_revoked") {
        device_revoked()
    } else {
        ApiError::new(
            ErrorCode::SessionEnded,
            "the session has ended; sign in again",
        )
    }
}

/// Why a live-looking session is over, if it is.
pub fn session_end_reason(
    state: &HubState,
    session: &SessionRecord,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if session.ended_at.is_some() {
        Some("ended")
    } else if now >= session.absolute_expires_at {
        Some("absolute_timeout")
    } else if now - session.last_activity_at
        >= Duration::seconds(state.config.session_idle_timeout_secs)
    {
        Some("idle_timeout")
    } else {
        None
    }
}

/// Ends an expired session with its audit event (of the request `client` made), then answers
/// `session_ended`.
pub async fn expire(
    state: &HubState,
    session: &SessionRecord,
    reason: &str,
    client: &ClientInfo,
) -> ApiError {
    if session.ended_at.is_none() {
        let now = state.clock.now();
        let event = Actor {
            user_id: Some(session.user_id),
            role: Some(session.role.as_str().to_owned()),
            tenant_id: session.tenant_id,
            session_id: Some(session.id),
            device_id: session.device_id,
            ip: client.ip.clone(),
            at: now,
            request_id: client.request_id.clone(),
        }
        .event("auth.session_expired", Outcome::Success)
        .details(json!({ "reason": reason }));
        if let Err(err) = state
            .store
            .central()
            .end_session(session.id, reason, now, event)
            .await
        {
            tracing::error!(error = %err, "cannot end expired session");
        }
    }
    ApiError::new(
        ErrorCode::SessionEnded,
        "the session has ended; sign in again",
    )
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = ClientInfo::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthenticated)?;
        let now = state.clock.now();
        let claims = state
            .tokens
            .verify_access(token, now)
            .map_err(|_| ApiError::unauthenticated())?;
        let central = state.store.central();
        let session = central
            .session(claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub && s.tenant_id == claims.tid)
            .ok_or_else(ApiError::unauthenticated)?;
        if session.ended_at.is_some() {
            return Err(ended(&session));
        }
        if let Some(reason) = session_end_reason(state, &session, now) {
            return Err(expire(state, &session, reason, &client).await);
        }
        if now - session.last_activity_at >= Duration::seconds(TOUCH_INTERVAL_SECS) {
            central.touch_session(session.id, now).await?;
        }
        let mut tenant_read_only = false;
        if let Some(tenant_id) = session.tenant_id {
            let tenant = central
                .tenant(tenant_id)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            if tenant.status == TenantStatus::Suspended {
                return Err(ApiError::new(
                    ErrorCode::TenantSuspended,
                    "this tenant is suspended",
                ));
            }
            tenant_read_only = tenant.read_only;
        }
        Ok(Principal {
            user_id: session.user_id,
            tenant_id: session.tenant_id,
            role: session.role,
            session_id: session.id,
            device_id: session.device_id,
            permissions: state.permissions_of(session.role),
            client,
            now,
            tenant_read_only,
        })
    }
}
