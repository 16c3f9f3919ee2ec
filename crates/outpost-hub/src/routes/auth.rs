//! Sign-in, refresh, sign-out, `me` and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::auth::{
    AccessClaims, LoginRequest, LoginResponse, Me, OfflineGrantClaims, RefreshRequest, UserSummary,
};
use outpost_domain::tenant::{Tenant, TenantStatus};
use outpost_domain::user::normalize_email;
use outpost_domain::{ErrorCode, SessionId};
use outpost_store::{Membership, RefreshOutcome, SessionRecord, UserRecord};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientInfo};
use crate::principal::{Principal, device_revoked, ended, expire, session_end_reason};
use crate::state::{AppState, HubState};
use crate::tokens::{new_refresh_token, refresh_token_hash};

fn bad_credentials() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCredentials,
        "e-mail or password is not correct",
    )
}

fn locked() -> ApiError {
    ApiError::new(
        ErrorCode::AccountLocked,
        "too many failed sign-ins; try again later",
    )
}

/// `POST /v1/auth/login`.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in", body = LoginResponse)),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    state.address_limits.sign_in(client.address)?;
    // A malformed address (control characters) is bad input; any other is just not an account.
    let email = normalize_email(&req.email).map_err(|e| {
        if e.malformed {
            ApiError::from(e)
        } else {
            bad_credentials()
        }
    })?;
    if req.password.len() > 1024 {
        return Err(bad_credentials());
    }
    if let Some(name) = &req.device_name {
        outpost_domain::text::check_line("device_name", name)?;
        if name.chars().count() > 200 {
            return Err(ApiError::invalid(
                "field `device_name`: at most 200 characters",
            ));
        }
    }
    let central = state.store.central();
    let now = state.clock.now();
    if central
        .locked_until(&email)
        .await?
        .is_some_and(|until| until > now)
    {
        return Err(locked());
    }
    let user = central.user_by_email(&email).await?;
    // Always pay for one Argon2 verification, so timing does not tell whether the address exists.
    let hash = user
        .as_ref()
        .map_or(state.dummy_hash.as_str(), |u| u.password_hash.as_str());
    let matches = state.passwords.verify(&req.password, hash).await?;
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        other => {
            return Err(fail(&state, &email, other.as_ref(), &client, "bad_credentials").await);
        }
    };
    if let Some(device) = req.device_id
        && central
            .device(device)
            .await?
            .is_some_and(|d| d.revoked_at.is_some())
    {
        return Err(device_revoked());
    }
    let memberships = central.memberships(user.id).await?;
    let membership = choose_membership(&memberships, req.tenant.as_deref())?;
    if let Some(tenant) = &membership.tenant
        && tenant.status == TenantStatus::Suspended
    {
        return Err(ApiError::new(
            ErrorCode::TenantSuspended,
            "this tenant is suspended",
        ));
    }
    let session = SessionRecord {
        id: SessionId::generate(),
        user_id: user.id,
        tenant_id: membership.tenant.as_ref().map(|t| t.id),
        role: membership.role,
        device_id: req.device_id,
        device_name: req.device_name.clone(),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        created_at: now,
        last_activity_at: now,
        absolute_expires_at: now + Duration::seconds(state.config.session_absolute_timeout_secs),
        ended_at: None,
        end_reason: None,
    };
    let refresh = new_refresh_token();
    let event = session_actor(&session, &client)
        .event("auth.login", Outcome::Success)
        .entity("user", user.id);
    central
        .create_session(&session, &refresh_token_hash(&refresh), &email, event)
        .await?;
    Ok(Json(issue(
        &state,
        &user,
        membership.tenant.clone(),
        &session,
        refresh,
    )?))
}

/// Counts a failed sign-in (audited centrally) and answers without saying which part was wrong.
async fn fail(
    state: &HubState,
    email: &str,
    user: Option<&UserRecord>,
    client: &ClientInfo,
    reason: &str,
) -> ApiError {
    let now = state.clock.now();
    let mut actor = Actor::system(now);
    actor.role = None;
    actor.user_id = user.map(|u| u.id);
    actor.ip = client.ip.clone();
    actor.request_id = client.request_id.clone();
    let event = actor
        .event("auth.login_failed", Outcome::Failure)
        .details(json!({ "email": email, "reason": reason }));
    let lock_until = now + Duration::seconds(state.config.lockout_duration_secs);
    match state
        .store
        .central()
        .record_login_failure(email, state.config.lockout_threshold, lock_until, event)
        .await
    {
        Ok(true) => locked(),
        Ok(false) => bad_credentials(),
        Err(err) => err.into(),
    }
}

fn choose_membership<'a>(
    memberships: &'a [Membership],
    slug: Option<&str>,
) -> ApiResult<&'a Membership> {
    match slug {
        Some(slug) => memberships
            .iter()
            .find(|m| m.tenant.as_ref().is_some_and(|t| t.slug == slug))
            .ok_or_else(|| ApiError::forbidden("you are not a member of this tenant")),
        None => {
            if let Some(platform) = memberships.iter().find(|m| m.tenant.is_none()) {
                return Ok(platform);
            }
            match memberships {
                [only] => Ok(only),
                [] => Err(ApiError::forbidden("you are not a member of any tenant")),
                _ => Err(ApiError::invalid(
                    "you belong to several tenants: give `tenant` (its slug)",
                )),
            }
        }
    }
}

fn session_actor(session: &SessionRecord, client: &ClientInfo) -> Actor {
    Actor {
        user_id: Some(session.user_id),
        role: Some(session.role.as_str().to_owned()),
        tenant_id: session.tenant_id,
        session_id: Some(session.id),
        device_id: session.device_id,
        ip: client.ip.clone(),
        at: session.last_activity_at,
        request_id: client.request_id.clone(),
    }
}

/// Signs the access token and offline grant of a session.
fn issue(
    state: &HubState,
    user: &UserRecord,
    tenant: Option<Tenant>,
    session: &SessionRecord,
    refresh_token: String,
) -> ApiResult<LoginResponse> {
    let now = state.clock.now();
    let ttl = state.config.access_token_ttl_secs;
    let claims = AccessClaims {
        iss: state.tokens.issuer().to_owned(),
        aud: state.tokens.audience().to_owned(),
        sub: user.id,
        tid: session.tenant_id,
        role: session.role,
        sid: session.id,
        did: session.device_id,
        exp: now.timestamp() + ttl,
        iat: now.timestamp(),
        jti: uuid::Uuid::now_v7().to_string(),
    };
    let access_token = state.tokens.sign_access(&claims).map_err(|e| {
        tracing::error!(error = %e, "cannot sign access token");
        ApiError::internal()
    })?;
    let offline_grant = match session.tenant_id {
        Some(tid) => Some(
            state
                .tokens
                .sign_offline_grant(&OfflineGrantClaims {
                    iss: state.tokens.issuer().to_owned(),
                    aud: state.tokens.offline_audience(),
                    sub: user.id,
                    tid,
                    did: session.device_id,
                    sid: session.id,
                    exp: now.timestamp() + state.config.offline_grant_hours * 3600,
                    iat: now.timestamp(),
                })
                .map_err(|_| ApiError::internal())?,
        ),
        None => None,
    };
    Ok(LoginResponse {
        access_token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: ttl,
        user: summary(user),
        tenant,
        role: session.role,
        permissions: state.permissions_of(session.role).into_iter().collect(),
        offline_grant,
    })
}

fn summary(user: &UserRecord) -> UserSummary {
    UserSummary {
        id: user.id,
        email: user.email.clone(),
        full_name: user.full_name.clone(),
    }
}

/// `POST /v1/auth/refresh`: rotates the refresh token; a retry of a lost answer within the
/// window gets the same successor again; any other replay revokes the session.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    operation_id = "refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, description = "A new token pair", body = LoginResponse)),
    security(())
)]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<LoginResponse>> {
    state.address_limits.refresh(client.address)?;
    let central = state.store.central();
    let now = state.clock.now();
    let new_token = state.tokens.successor(&req.refresh_token);
    let outcome = central
        .rotate_refresh(
            &refresh_token_hash(&req.refresh_token),
            &refresh_token_hash(&new_token),
            now,
            Duration::seconds(state.config.refresh_retry_window_secs),
        )
        .await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused(session) => {
            let mut event = session_actor(&session, &client)
                .event("auth.refresh_reuse", Outcome::Denied)
                .details(json!({ "revoked_session": session.id }));
            event.at = now;
            central.append_audit(event).await?;
            return Err(ApiError::new(
                ErrorCode::SessionEnded,
                "this refresh token was already used; the session has been revoked",
            ));
        }
        RefreshOutcome::Ended(session) => return Err(ended(&session)),
        RefreshOutcome::Unknown => return Err(ApiError::unauthenticated()),
    };
    if let Some(reason) = session_end_reason(&state, &session, now) {
        return Err(expire(&state, &session, reason, &client).await);
    }
    let user = central
        .user(session.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(ApiError::unauthenticated)?;
    let tenant = match session.tenant_id {
        Some(id) => Some(
            central
                .tenant(id)
                .await?
                .ok_or_else(ApiError::unauthenticated)?,
        ),
        None => None,
    };
    if tenant
        .as_ref()
        .is_some_and(|t| t.status == TenantStatus::Suspended)
    {
        return Err(ApiError::new(
            ErrorCode::TenantSuspended,
            "this tenant is suspended",
        ));
    }
    Ok(Json(issue(&state, &user, tenant, &session, new_token)?))
}

/// `POST /v1/auth/logout`: ends the session; its access tokens fail from now on.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    responses((status = 204, description = "The session has ended"))
)]
pub async fn logout(State(state): State<AppState>, principal: Principal) -> ApiResult<StatusCode> {
    let event = principal
        .actor()
        .event("auth.logout", Outcome::Success)
        .entity("session", principal.session_id);
    state
        .store
        .central()
        .end_session(principal.session_id, "logout", principal.now, event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "me",
    tag = "auth",
    responses((status = 200, description = "Who the token belongs to", body = Me))
)]
pub async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Me>> {
    let central = state.store.central();
    let user = central
        .user(principal.user_id)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let tenant = match principal.tenant_id {
        Some(id) => central.tenant(id).await?,
        None => None,
    };
    Ok(Json(Me {
        user: summary(&user),
        tenant,
        role: principal.role,
        permissions: principal.permissions.iter().copied().collect(),
        session_id: principal.session_id,
    }))
}

/// `GET /v1/auth/jwks`: public keys, so clients can verify tokens and offline grants.
#[utoipa::path(
    get,
    path = "/v1/auth/jwks",
    operation_id = "jwks",
    tag = "auth",
    responses((status = 200, description = "The token signing keys (JWK set)", body = serde_json::Value)),
    security(())
)]
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.tokens.jwks().clone())
}
