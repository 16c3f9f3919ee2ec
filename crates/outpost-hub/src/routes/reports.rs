//! Reports: a user's activity, a patient's full story, and database status.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;

use outpost_domain::audit::{AuditRecord, Outcome};
use outpost_domain::page::Page;
use outpost_domain::user::Member;
use outpost_domain::{PatientId, Permission, UserId};
use outpost_store::{DatabaseStatus, PatientReport, SessionRecord};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::principal::Principal;
use crate::routes::patients::{patient_view, tenant_store, view_history};
use crate::state::AppState;

/// How many events per database a report shows at most (the newest).
const REPORT_EVENT_LIMIT: u32 = 5000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    user_id: UserId,
}

/// One tenant database's part of an activity report.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantActivity {
    pub tenant: String,
    pub events: Vec<AuditRecord>,
}

/// `GET /v1/reports/activity?user_id=`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActivityReport {
    pub user: Vec<Member>,
    pub sessions: Vec<SessionRecord>,
    pub central_events: Vec<AuditRecord>,
    pub tenant_events: Vec<TenantActivity>,
}

/// Sessions, reads and changes of one user across the central and tenant databases. Within
/// a tenant session only that tenant's part is shown.
#[utoipa::path(
    get,
    path = "/v1/reports/activity",
    operation_id = "activity_report",
    tag = "reports",
    params(ActivityQuery),
    responses((status = 200, description = "A user's sessions, reads and changes", body = ActivityReport))
)]
pub async fn activity(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<ActivityReport>> {
    principal.require(Permission::ReportRead)?;
    let central = state.store.central();
    let user = query.user_id;
    let memberships = central.memberships(user).await?;
    let scope = principal.tenant_id;
    let visible: Vec<_> = memberships
        .iter()
        .filter_map(|m| m.tenant.clone())
        .filter(|t| scope.is_none_or(|s| s == t.id))
        .collect();
    let members = match scope {
        Some(tenant) => central
            .member(Some(tenant), user)
            .await?
            .into_iter()
            .collect::<Vec<_>>(),
        None => {
            let mut all = Vec::new();
            for m in &memberships {
                all.extend(
                    central
                        .member(m.tenant.as_ref().map(|t| t.id), user)
                        .await?,
                );
            }
            all
        }
    };
    if members.is_empty() {
        return Err(ApiError::not_found());
    }
    let sessions = central
        .sessions_of(user)
        .await?
        .into_iter()
        .filter(|s| scope.is_none_or(|t| s.tenant_id == Some(t)))
        .collect();
    let central_events = central
        .audit_of_user(user, REPORT_EVENT_LIMIT)
        .await?
        .into_iter()
        .filter(|e| scope.is_none_or(|t| e.event.tenant_id == Some(t)))
        .collect();
    let mut tenant_events = Vec::new();
    for tenant in visible {
        let events = state
            .store
            .tenant(tenant.id)
            .await?
            .audit_of_user(user, REPORT_EVENT_LIMIT)
            .await?;
        tenant_events.push(TenantActivity {
            tenant: tenant.slug,
            events,
        });
    }
    let event = principal
        .actor()
        .event("report.activity", Outcome::Success)
        .entity("user", user);
    match scope {
        Some(tenant) => {
            state
                .store
                .tenant(tenant)
                .await?
                .append_audit(event)
                .await?
        }
        None => central.append_audit(event).await?,
    };
    Ok(Json(ActivityReport {
        user: members,
        sessions,
        central_events,
        tenant_events,
    }))
}

/// `GET /v1/reports/patients/{id}`: current record (even deleted), every version, every access.
#[utoipa::path(
    get,
    path = "/v1/reports/patients/{id}",
    operation_id = "patient_report",
    tag = "reports",
    params(("id" = PatientId, Path)),
    responses((status = 200, description = "A patient's record, versions and accesses", body = PatientReport))
)]
pub async fn patient(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<PatientId>,
) -> ApiResult<Json<PatientReport>> {
    principal.require(Permission::ReportRead)?;
    let store = tenant_store(&state, &principal).await?;
    let report = store
        .patient_report(id, &principal.actor())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(PatientReport {
        patient: patient_view(&principal, report.patient),
        deleted_at: report.deleted_at,
        versions: report
            .versions
            .into_iter()
            .map(|v| view_history(&principal, v))
            .collect(),
        accesses: report.accesses,
    }))
}

/// `GET /v1/status`: every database's reachability, schema version, size and latency.
#[utoipa::path(
    get,
    path = "/v1/status",
    operation_id = "database_status",
    tag = "reports",
    responses((status = 200, description = "Every database: reachable, schema, size, latency", body = Page<DatabaseStatus>))
)]
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Page<DatabaseStatus>>> {
    principal.require(Permission::StatusRead)?;
    Ok(Json(Page::complete(state.store.status().await)))
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = serde_json::Value)),
    security(())
)]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: ready when the central store answers (a load balancer sends requests only
/// to an instance that can serve them); 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "ready",
    tag = "operations",
    responses((status = 200, description = "The central store answers", body = serde_json::Value)),
    security(())
)]
pub async fn ready(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let central = state.store.central().status().await;
    if central.reachable {
        Ok(Json(json!({ "status": "ready" })))
    } else {
        Err(ApiError::new(
            outpost_domain::ErrorCode::Unavailable,
            "the central store does not answer",
        )
        .retry_after(5))
    }
}
