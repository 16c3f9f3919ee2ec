//! `GET /v1/audit/verify`: checks hash chains.

use axum::Json;
use axum::extract::State;

use outpost_domain::Permission;
use outpost_domain::audit::ChainReport;
use outpost_domain::page::Page;
use outpost_store::{Store, StoreResult};

use crate::error::ApiResult;
use crate::principal::Principal;
use crate::state::AppState;

/// Verifies the caller's tenant chain, or for a platform session the central chain and every
/// tenant's.
#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    operation_id = "verify_audit",
    tag = "audit",
    responses((status = 200, description = "Each chain, with the first broken sequence number if any", body = Page<ChainReport>))
)]
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<ChainReport>>> {
    principal.require(Permission::AuditRead)?;
    let reports = match principal.tenant_id {
        Some(tenant) => vec![state.store.tenant(tenant).await?.verify_audit().await?],
        None => verify_all(state.store.as_ref()).await?,
    };
    Ok(Json(Page::complete(reports)))
}

/// The central chain and every tenant chain (also used by `outpost-hub audit verify`).
pub async fn verify_all(store: &dyn Store) -> StoreResult<Vec<ChainReport>> {
    let mut reports = vec![store.central().verify_audit().await?];
    for tenant in store.central().tenants().await? {
        reports.push(store.tenant(tenant.id).await?.verify_audit().await?);
    }
    Ok(reports)
}
