//! User administration within the caller's tenant (platform admins: the platform scope).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use outpost_domain::audit::Outcome;
use outpost_domain::page::Page;
use outpost_domain::tenant::Tenant;
use outpost_domain::user::{Member, NewUser, UserPatch, check_full_name, check_password};
use outpost_domain::{ErrorCode, Permission, Role, UserId};
use outpost_store::MemberUpdate;

use crate::accounts::{ExistingEmail, NewAccount, add_member};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::principal::Principal;
use crate::state::AppState;

async fn scope(state: &AppState, principal: &Principal) -> ApiResult<Option<Tenant>> {
    principal.require(Permission::UserManage)?;
    match principal.tenant_id {
        Some(id) => Ok(Some(
            state
                .store
                .central()
                .tenant(id)
                .await?
                .ok_or_else(ApiError::not_found)?,
        )),
        None => Ok(None),
    }
}

/// `POST /v1/users`.
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "create_user",
    tag = "users",
    request_body = NewUser,
    responses((status = 201, description = "Created, or a membership added", body = Member))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    let tenant = scope(&state, &principal).await?;
    let account = NewAccount {
        email: new.email,
        full_name: new.full_name,
        role: new.role,
        password: new.password,
    };
    let member = add_member(
        state.store.as_ref(),
        &state.passwords,
        tenant.as_ref(),
        account,
        ExistingEmail::Refuse,
        &principal.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// `GET /v1/users`.
#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "list_users",
    tag = "users",
    responses((status = 200, body = Page<Member>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<Member>>> {
    let tenant = scope(&state, &principal).await?;
    let members = state.store.central().members(tenant.map(|t| t.id)).await?;
    Ok(Json(Page::complete(members)))
}

/// `PATCH /v1/users/{id}`: name, role, disabled (ends the user's sessions), password.
#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    operation_id = "update_user",
    tag = "users",
    params(("id" = UserId, Path)),
    request_body = UserPatch,
    responses((status = 200, body = Member))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<Member>> {
    let tenant = scope(&state, &principal).await?;
    if let Some(name) = &patch.full_name {
        check_full_name(name)?;
    }
    if let Some(role) = patch.role {
        let fits = match &tenant {
            Some(t) => role.fits_tenant(t.kind),
            None => role == Role::PlatformAdmin,
        };
        if !fits {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("role: {role} is not a role here"),
            ));
        }
    }
    if id == principal.user_id && (patch.disabled == Some(true) || patch.role.is_some()) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "you cannot disable yourself or change your own role",
        ));
    }
    let password_hash = match &patch.password {
        Some(password) => {
            check_password(password)?;
            Some(state.passwords.hash(password).await?)
        }
        None => None,
    };
    let update = MemberUpdate {
        full_name: patch.full_name.as_ref().map(|n| n.trim().to_owned()),
        role: patch.role,
        disabled: patch.disabled,
        password_hash,
    };
    let tenant_id = tenant.map(|t| t.id);
    let mut event = principal
        .actor()
        .event("user.update", Outcome::Success)
        .entity("user", id)
        .details(json!({
            "full_name_changed": patch.full_name.is_some(),
            "role": patch.role,
            "disabled": patch.disabled,
            "password_changed": patch.password.is_some(),
        }));
    event.tenant_id = tenant_id;
    let member = state
        .store
        .central()
        .update_member(tenant_id, id, &update, principal.now, event)
        .await?;
    Ok(Json(member))
}
