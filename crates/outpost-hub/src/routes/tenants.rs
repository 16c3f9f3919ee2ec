//! Tenant administration (platform admins).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use outpost_domain::audit::Outcome;
use outpost_domain::page::Page;
use outpost_domain::tenant::{NewTenant, Tenant, TenantStatus};
use outpost_domain::{Permission, TenantId};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::principal::Principal;
use crate::state::AppState;

/// `POST /v1/tenants`: creates the tenant's database and registers it.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(new): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    principal.require(Permission::TenantManage)?;
    new.validate()?;
    let event = principal
        .actor()
        .event("tenant.create", Outcome::Success)
        .details(json!({ "slug": new.slug, "kind": new.kind }));
    let tenant = state.store.provision_tenant(&new, event).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// `GET /v1/tenants`.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<Tenant>>> {
    principal.require(Permission::TenantManage)?;
    Ok(Json(Page::complete(state.store.central().tenants().await?)))
}

/// `GET /v1/tenants/{id}`.
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    principal.require(Permission::TenantManage)?;
    let tenant = state.store.central().tenant(id).await?;
    tenant.map(Json).ok_or_else(ApiError::not_found)
}

/// `DELETE /v1/tenants/{id}`: removes the database and the registry entry, audited centrally.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<StatusCode> {
    principal.require(Permission::TenantManage)?;
    let tenant = state
        .store
        .central()
        .tenant(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut event = principal
        .actor()
        .event("tenant.delete", Outcome::Success)
        .entity("tenant", id)
        .details(json!({ "slug": tenant.slug }));
    event.tenant_id = Some(id);
    state.store.delete_tenant(id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/tenants/{id}/suspend`: its users are refused from the next request on.
pub async fn suspend(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    set_status(&state, &principal, id, TenantStatus::Suspended).await
}

/// `POST /v1/tenants/{id}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    set_status(&state, &principal, id, TenantStatus::Active).await
}

/// `POST /v1/tenants/{id}/move` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// A server name from the hub's `database_servers`.
    server: String,
}

/// `POST /v1/tenants/{id}/move`: moves the tenant's database to another server (PostgreSQL),
/// read-only meanwhile; answers once the registry points at the copy, with the new location.
pub async fn move_to(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
    ApiJson(req): ApiJson<MoveRequest>,
) -> ApiResult<Json<Value>> {
    principal.require(Permission::TenantManage)?;
    if state.store.central().tenant(id).await?.is_none() {
        return Err(ApiError::not_found());
    }
    let event = principal.actor().event("tenant.move", Outcome::Success);
    let location = state.store.move_tenant(id, &req.server, event).await?;
    let tenant = state.store.central().tenant(id).await?;
    Ok(Json(json!({ "tenant": tenant, "location": location })))
}

async fn set_status(
    state: &AppState,
    principal: &Principal,
    id: TenantId,
    status: TenantStatus,
) -> ApiResult<Json<Tenant>> {
    principal.require(Permission::TenantManage)?;
    let mut event = principal
        .actor()
        .event(status.change_action(), Outcome::Success)
        .entity("tenant", id);
    event.tenant_id = Some(id);
    let tenant = state
        .store
        .central()
        .set_tenant_status(id, status, event)
        .await?;
    Ok(Json(tenant))
}
