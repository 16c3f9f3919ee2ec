//! Tenant administration (platform admins).

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use outpost_domain::audit::Outcome;
use outpost_domain::page::Page;
use outpost_domain::tenant::{NewTenant, Tenant, TenantStatus};
use outpost_domain::{ErrorCode, Permission, TenantId};
use outpost_store::StoreError;
use outpost_store::keys::MasterKey;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::principal::Principal;
use crate::state::AppState;
use crate::tenant_copies::{restore_backup, write_backup};

/// `POST /v1/tenants`: creates the tenant's database and registers it.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    operation_id = "create_tenant",
    tag = "tenants",
    request_body = NewTenant,
    responses((status = 201, description = "Provisioned", body = Tenant))
)]
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
#[utoipa::path(
    get,
    path = "/v1/tenants",
    operation_id = "list_tenants",
    tag = "tenants",
    responses((status = 200, description = "Every tenant", body = Page<Tenant>))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<Tenant>>> {
    principal.require(Permission::TenantManage)?;
    Ok(Json(Page::complete(state.store.central().tenants().await?)))
}

/// `GET /v1/tenants/{id}`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{id}",
    operation_id = "get_tenant",
    tag = "tenants",
    params(("id" = TenantId, Path)),
    responses((status = 200, body = Tenant))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    managed(&state, &principal, id).await.map(Json)
}

/// The registered tenant `id`, for a principal allowed to manage tenants; 404 when unknown.
async fn managed(state: &AppState, principal: &Principal, id: TenantId) -> ApiResult<Tenant> {
    principal.require(Permission::TenantManage)?;
    let tenant = state.store.central().tenant(id).await?;
    tenant.ok_or_else(ApiError::not_found)
}

/// `DELETE /v1/tenants/{id}`: removes the database and the registry entry, audited centrally.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{id}",
    operation_id = "delete_tenant",
    tag = "tenants",
    params(("id" = TenantId, Path)),
    responses((status = 204, description = "Deleted with its database"))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<StatusCode> {
    let tenant = managed(&state, &principal, id).await?;
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
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/suspend",
    operation_id = "suspend_tenant",
    tag = "tenants",
    params(("id" = TenantId, Path)),
    responses((status = 200, body = Tenant))
)]
pub async fn suspend(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    set_status(&state, &principal, id, TenantStatus::Suspended).await
}

/// `POST /v1/tenants/{id}/resume`.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/resume",
    operation_id = "resume_tenant",
    tag = "tenants",
    params(("id" = TenantId, Path)),
    responses((status = 200, body = Tenant))
)]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Tenant>> {
    set_status(&state, &principal, id, TenantStatus::Active).await
}

/// `POST /v1/tenants/{id}/move` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// A server name from the hub's `database_servers`.
    server: String,
}

/// `POST /v1/tenants/{id}/move`: moves the tenant's database to another server (PostgreSQL),
/// read-only meanwhile; answers once the registry points at the copy, with the new location.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/move",
    operation_id = "move_tenant",
    tag = "tenants",
    params(("id" = TenantId, Path)),
    request_body = MoveRequest,
    responses((status = 200, description = "The tenant's new location", body = serde_json::Value))
)]
pub async fn move_to(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
    ApiJson(req): ApiJson<MoveRequest>,
) -> ApiResult<Json<Value>> {
    managed(&state, &principal, id).await?;
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

/// `POST /v1/tenants/{id}/backup`: the tenant's whole database as an encrypted backup file,
/// the same file `outpost-hub tenant backup` writes (only a hub with this master key opens
/// it). The file is complete before the answer starts, so a failure is an error answer, never
/// a download cut short.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/backup",
    operation_id = "backup_tenant",
    tag = "tenants",
    params(("id" = TenantId, Path)),
    responses((status = 200, description = "The encrypted backup file", content_type = "application/octet-stream", body = Vec<u8>))
)]
pub async fn backup(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Response> {
    let tenant = managed(&state, &principal, id).await?;
    let master = MasterKey::load(&state.config.master_key_path())?;
    let (out, _) = write_backup(
        state.store.as_ref(),
        &master,
        &tenant,
        BufWriter::new(spool(&state)?),
        &principal.actor(),
        "api",
        Box::new(|_| {}),
    )
    .await?;
    let mut file = out
        .into_inner()
        .map_err(|e| StoreError::Io(e.into_error()))?;
    file.rewind().map_err(StoreError::Io)?;
    let length = file.metadata().map_err(StoreError::Io)?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.outpost-backup\"", tenant.slug),
            ),
        ],
        body,
    )
        .into_response())
}

/// `POST /v1/tenants/restore`: the body is a backup file (`application/octet-stream`, at most
/// `restore_limit_bytes`). Recreates the tenant under its own id and slug, as
/// `outpost-hub tenant restore` does; a damaged file, or one made under another master key,
/// is refused with 422 and registers nothing.
#[utoipa::path(
    post,
    path = "/v1/tenants/restore",
    operation_id = "restore_tenant",
    tag = "tenants",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A backup file"),
    responses((status = 201, description = "Restored", body = serde_json::Value))
)]
pub async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    principal.require(Permission::TenantManage)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some("application/octet-stream") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the backup file as application/octet-stream",
        ));
    }
    let master = MasterKey::load(&state.config.master_key_path())?;
    let mut file = tokio::fs::File::from_std(spool(&state)?);
    let mut chunks = body.into_data_stream();
    let mut size = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid("the upload was interrupted"))?;
        size += chunk.len();
        if size > state.config.restore_limit_bytes {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the backup file is larger than this hub accepts (restore_limit_bytes)",
            ));
        }
        file.write_all(&chunk).await.map_err(StoreError::Io)?;
    }
    // The last write may still be under way; flushing waits for it and reports its error.
    file.flush().await.map_err(StoreError::Io)?;
    let mut file = file.into_std().await;
    file.rewind().map_err(StoreError::Io)?;
    let restored = restore_backup(
        state.store.as_ref(),
        &master,
        BufReader::new(file),
        &principal.actor(),
        "api",
        Box::new(|_| {}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenant": restored.tenant,
            "rows": restored.rows,
            "members": restored.members,
            "members_without_account": restored.missing,
        })),
    ))
}

/// An unnamed temporary file next to the hub's data (tenant backups can be large for a
/// memory-backed `/tmp`); it disappears when closed.
fn spool(state: &AppState) -> ApiResult<File> {
    tempfile::tempfile_in(&state.config.data_dir)
        .or_else(|_| tempfile::tempfile())
        .map_err(|e| StoreError::Io(e).into())
}

/// One tenant's line in the answer of `POST /v1/tenants/migrate`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Migrated {
    tenant_id: TenantId,
    slug: String,
    /// The schema version the tenant is at now; absent when it failed.
    schema_version: Option<i64>,
    /// Why it failed.
    error: Option<String>,
}

/// `POST /v1/tenants/migrate`: brings every tenant's database to this hub's schema, going on
/// past a tenant that fails; answers one line per tenant.
#[utoipa::path(
    post,
    path = "/v1/tenants/migrate",
    operation_id = "migrate_tenants",
    tag = "tenants",
    responses((status = 200, description = "Each tenant's schema or failure", body = Page<Migrated>))
)]
pub async fn migrate_all(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<Migrated>>> {
    principal.require(Permission::TenantManage)?;
    let mut report = Vec::new();
    for tenant in state.store.central().tenants().await? {
        let outcome = state.store.migrate_tenant(tenant.id).await;
        report.push(Migrated {
            tenant_id: tenant.id,
            slug: tenant.slug,
            schema_version: outcome.as_ref().ok().copied(),
            error: outcome.err().map(|e| e.to_string()),
        });
    }
    Ok(Json(Page::complete(report)))
}
