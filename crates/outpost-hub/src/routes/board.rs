//! The transport board (DESIGN.md, "Transport between tenants"): a hospital's coordinators
//! publish, cancel and accept; EMS dispatchers read the open board and bid; the transport
//! center reads all of it. Each decision is one central transaction that queues what the
//! other databases must do; the route then carries its own events out (the outbox worker
//! would otherwise, shortly) so that it answers with the steps done.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use outpost_domain::audit::Outcome;
use outpost_domain::page::Page;
use outpost_domain::tenant::Tenant;
use outpost_domain::transport::board::{
    Bid, BoardEntry, BoardFilter, BoardScope, CancelRequest, NewBid,
};
use outpost_domain::transport::report::{self, TransportReport};
use outpost_domain::transport::request::TransportRequest;
use outpost_domain::transport::{Level, Priority, TripStatus};
use outpost_domain::{Entity, ErrorCode, Permission, TenantKind, TransportRequestId};
use outpost_store::board::BoardQuery;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::flow;
use crate::principal::Principal;
use crate::routes::records;
use crate::state::AppState;

/// The caller's tenant, which must be of `kind` (a hospital's routes, an agency's).
async fn tenant_of(state: &AppState, principal: &Principal) -> ApiResult<Tenant> {
    let id = principal.tenant()?;
    state
        .store
        .central()
        .tenant(id)
        .await?
        .ok_or_else(ApiError::not_found)
}

fn must_be(tenant: &Tenant, kind: TenantKind, what: &str) -> ApiResult<()> {
    if tenant.kind == kind {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("only {what} may do this")))
    }
}

/// Which board entries a tenant sees.
fn scope(tenant: &Tenant) -> BoardScope {
    match tenant.kind {
        TenantKind::TransportCenter => BoardScope::All,
        TenantKind::EmsAgency => BoardScope::Agency(tenant.id),
        _ => BoardScope::Hospital(tenant.id),
    }
}

/// Whether a scope sees an entry (an agency: open, or one it bid on).
async fn visible(state: &AppState, scope: BoardScope, entry: &BoardEntry) -> ApiResult<bool> {
    Ok(match scope {
        BoardScope::All => true,
        BoardScope::Hospital(tenant) => entry.hospital_tenant_id == tenant,
        BoardScope::Agency(tenant) => {
            entry.status == TripStatus::Published
                || !state
                    .store
                    .board()
                    .bids(entry.id, Some(tenant))
                    .await?
                    .is_empty()
        }
    })
}

/// The bids of an entry a scope sees: a hospital and the transport center every one, an
/// agency its own.
async fn bids_seen(state: &AppState, scope: BoardScope, entry: &BoardEntry) -> ApiResult<Vec<Bid>> {
    let agency = match scope {
        BoardScope::Agency(tenant) => Some(tenant),
        _ => None,
    };
    Ok(state.store.board().bids(entry.id, agency).await?)
}

/// The hospital's own request (audited as read), typed.
async fn own_request(
    state: &AppState,
    principal: &Principal,
    id: TransportRequestId,
) -> ApiResult<TransportRequest> {
    records::get(state, principal, Entity::TransportRequest, id.into()).await
}

/// `POST /v1/transport-requests/{id}/publish`: the request goes on the board with the
/// minimum necessary (never the patient).
#[utoipa::path(post, path = "/v1/transport-requests/{id}/publish", operation_id = "publish_transport_request", tag = "transport",
    params(("id" = TransportRequestId, Path)),
    responses((status = 200, description = "The request, published", body = TransportRequest)))]
pub async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TransportRequestId>,
) -> ApiResult<Json<TransportRequest>> {
    principal.require(Permission::TripCreate)?;
    principal.require_writable()?;
    let tenant = tenant_of(&state, &principal).await?;
    must_be(&tenant, TenantKind::Hospital, "a hospital")?;
    let request = own_request(&state, &principal, id).await?;
    if request.fields.status != TripStatus::Draft {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            format!(
                "a transport request that is {} cannot be published",
                request.fields.status.as_str()
            ),
        ));
    }
    flow::publish(&state, &principal.actor(), &tenant, &request).await?;
    Ok(Json(own_request(&state, &principal, id).await?))
}

/// `POST /v1/transport-requests/{id}/cancel`: a draft is cancelled in place; a published
/// request leaves the board (its bids declined) and its trip, if any, is cancelled too.
#[utoipa::path(post, path = "/v1/transport-requests/{id}/cancel", operation_id = "cancel_transport_request", tag = "transport",
    params(("id" = TransportRequestId, Path)),
    request_body = CancelRequest,
    responses((status = 200, description = "The request, cancelled", body = TransportRequest)))]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TransportRequestId>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> ApiResult<Json<TransportRequest>> {
    principal.require(Permission::TripCreate)?;
    principal.require_writable()?;
    body.validate()?;
    let reason = body.reason.trim().to_owned();
    let tenant = tenant_of(&state, &principal).await?;
    must_be(&tenant, TenantKind::Hospital, "a hospital")?;
    let request = own_request(&state, &principal, id).await?;
    if request.fields.status.is_final() {
        return Err(ApiError::new(
            ErrorCode::InvalidTransition,
            format!(
                "a transport request that is {} cannot be cancelled",
                request.fields.status.as_str()
            ),
        ));
    }
    flow::cancel(&state, &principal.actor(), &tenant, &request, &reason).await?;
    Ok(Json(own_request(&state, &principal, id).await?))
}

/// `GET /v1/transport-requests/{id}/bids`: every bid on one of the hospital's requests.
#[utoipa::path(get, path = "/v1/transport-requests/{id}/bids", operation_id = "transport_request_bids", tag = "transport",
    params(("id" = TransportRequestId, Path)),
    responses((status = 200, description = "The bids, oldest first", body = Page<Bid>)))]
pub async fn request_bids(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TransportRequestId>,
) -> ApiResult<Json<Page<Bid>>> {
    principal.require(Permission::TripRead)?;
    let tenant = tenant_of(&state, &principal).await?;
    must_be(&tenant, TenantKind::Hospital, "a hospital")?;
    own_request(&state, &principal, id).await?;
    let bids = match flow::entry_of(&state, &tenant, id).await? {
        Some(entry) => state.store.board().bids(entry.id, None).await?,
        None => Vec::new(),
    };
    Ok(Json(Page::complete(bids)))
}

/// `POST /v1/transport-requests/{id}/bids/{bid_id}/accept`: the bid wins, the others are
/// declined, and the trip is made in the agency's database for the bid's unit.
#[utoipa::path(post, path = "/v1/transport-requests/{id}/bids/{bid_id}/accept", operation_id = "accept_bid", tag = "transport",
    params(("id" = TransportRequestId, Path), ("bid_id" = Uuid, Path)),
    responses((status = 200, description = "The request, assigned", body = TransportRequest)))]
pub async fn accept(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, bid)): ApiPath<(TransportRequestId, Uuid)>,
) -> ApiResult<Json<TransportRequest>> {
    principal.require(Permission::TripAssign)?;
    principal.require_writable()?;
    let tenant = tenant_of(&state, &principal).await?;
    must_be(&tenant, TenantKind::Hospital, "a hospital")?;
    own_request(&state, &principal, id).await?;
    flow::accept(&state, &principal.actor(), &tenant, id, bid).await?;
    Ok(Json(own_request(&state, &principal, id).await?))
}

/// `GET /v1/board?level=&priority=&city=&status=&from=&to=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardParams {
    level: Option<Level>,
    priority: Option<Priority>,
    /// The origin's or the destination's city.
    city: Option<String>,
    status: Option<TripStatus>,
    /// Pickup windows opening at or after this time.
    from: Option<DateTime<Utc>>,
    /// Pickup windows opening before this time.
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn board_cursor(text: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
    text.map(|c| {
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| ApiError::invalid("parameter `cursor`: not a cursor from this API"))
    })
    .transpose()
}

/// `GET /v1/board`: entries in pickup order, as the caller's tenant may see them.
#[utoipa::path(get, path = "/v1/board", operation_id = "board", tag = "transport",
    params(BoardParams),
    responses((status = 200, description = "Board entries in pickup order", body = Page<BoardEntry>)))]
pub async fn board(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<BoardParams>,
) -> ApiResult<Json<Page<BoardEntry>>> {
    principal.require(Permission::BoardRead)?;
    let tenant = tenant_of(&state, &principal).await?;
    if params
        .city
        .as_ref()
        .is_some_and(|c| c.chars().count() > 100)
    {
        return Err(ApiError::invalid(
            "parameter `city`: at most 100 characters",
        ));
    }
    let limit = records::limit(params.limit)?;
    let query = BoardQuery {
        filter: BoardFilter {
            level: params.level,
            priority: params.priority,
            city: params.city.filter(|c| !c.trim().is_empty()),
            status: params.status,
            from: params.from,
            to: params.to,
        },
        scope: scope(&tenant),
        limit,
        after: board_cursor(params.cursor.as_deref())?,
    };
    let mut items = state.store.board().entries(&query).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|e| {
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(e.pickup_from, e.id)).unwrap_or_default())
        })
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// The entry the caller's tenant may see, or 404.
async fn seen_entry(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<(Tenant, BoardEntry)> {
    principal.require(Permission::BoardRead)?;
    let tenant = tenant_of(state, principal).await?;
    let entry = state
        .store
        .board()
        .entry(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !visible(state, scope(&tenant), &entry).await? {
        return Err(ApiError::not_found());
    }
    Ok((tenant, entry))
}

/// `GET /v1/board/{entry_id}`.
#[utoipa::path(get, path = "/v1/board/{entry_id}", operation_id = "board_entry", tag = "transport",
    params(("entry_id" = Uuid, Path)),
    responses((status = 200, description = "The board entry", body = BoardEntry)))]
pub async fn board_entry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<BoardEntry>> {
    Ok(Json(seen_entry(&state, &principal, id).await?.1))
}

/// `GET /v1/board/{entry_id}/bids`: a hospital and the transport center see every bid, an
/// agency its own (with their status: submitted, withdrawn, accepted, declined).
#[utoipa::path(get, path = "/v1/board/{entry_id}/bids", operation_id = "board_entry_bids", tag = "transport",
    params(("entry_id" = Uuid, Path)),
    responses((status = 200, description = "Bids, oldest first", body = Page<Bid>)))]
pub async fn entry_bids(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Page<Bid>>> {
    let (tenant, entry) = seen_entry(&state, &principal, id).await?;
    Ok(Json(Page::complete(
        bids_seen(&state, scope(&tenant), &entry).await?,
    )))
}

/// `POST /v1/board/{entry_id}/bids`: an agency offers one of its units and an ETA.
#[utoipa::path(post, path = "/v1/board/{entry_id}/bids", operation_id = "submit_bid", tag = "transport",
    params(("entry_id" = Uuid, Path)),
    request_body = NewBid,
    responses((status = 201, description = "The bid", body = Bid)))]
pub async fn submit_bid(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewBid>,
) -> ApiResult<(StatusCode, Json<Bid>)> {
    principal.require(Permission::TripBid)?;
    principal.require_writable()?;
    body.validate()?;
    let tenant = tenant_of(&state, &principal).await?;
    must_be(&tenant, TenantKind::EmsAgency, "an EMS agency")?;
    let (_, entry) = seen_entry(&state, &principal, id).await?;
    let bid = flow::bid(&state, &principal.actor(), &tenant, &entry, &body).await?;
    Ok((StatusCode::CREATED, Json(bid)))
}

/// `DELETE /v1/board/{entry_id}/bids/{bid_id}`: an agency withdraws its bid while the entry is
/// open.
#[utoipa::path(delete, path = "/v1/board/{entry_id}/bids/{bid_id}", operation_id = "withdraw_bid", tag = "transport",
    params(("entry_id" = Uuid, Path), ("bid_id" = Uuid, Path)),
    responses((status = 200, description = "The bid, withdrawn", body = Bid)))]
pub async fn withdraw_bid(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((entry, bid)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Bid>> {
    principal.require(Permission::TripBid)?;
    principal.require_writable()?;
    let tenant = tenant_of(&state, &principal).await?;
    must_be(&tenant, TenantKind::EmsAgency, "an EMS agency")?;
    let audit = principal
        .actor()
        .event("board.withdraw", Outcome::Success)
        .entity("trip_bid", bid);
    let bid = state
        .store
        .board()
        .withdraw_bid(entry, bid, tenant.id, principal.now, audit)
        .await?;
    if let Some(entry) = state.store.board().entry(entry).await? {
        state
            .announce_board(entry.id, entry.hospital_tenant_id)
            .await;
    }
    Ok(Json(bid))
}

/// `GET /v1/reports/transport?from=&to=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Start of the period (requests published at or after); default 30 days before `to`.
    from: Option<DateTime<Utc>>,
    /// End of the period (requests published before); default the end of today (UTC).
    to: Option<DateTime<Utc>>,
}

/// The longest period a report covers.
const MAX_REPORT_DAYS: i64 = 366;

/// `GET /v1/reports/transport`: requests by level, priority and status, times to the first
/// bid and to acceptance, on-time pickups and each agency's part, as the caller's tenant sees
/// the board (the transport center all of it, a hospital its requests, an agency its bids).
#[utoipa::path(get, path = "/v1/reports/transport", operation_id = "transport_report", tag = "transport",
    params(ReportParams),
    responses((status = 200, description = "The report over the period", body = TransportReport)))]
pub async fn transport_report(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> ApiResult<Json<TransportReport>> {
    principal.require(Permission::BoardRead)?;
    let tenant = tenant_of(&state, &principal).await?;
    let tomorrow = (principal.now.date_naive() + chrono::Days::new(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let to = params.to.unwrap_or(tomorrow);
    let from = params.from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to || to - from > chrono::Duration::days(MAX_REPORT_DAYS) {
        return Err(ApiError::invalid(format!(
            "parameters `from` and `to`: `from` before `to`, at most {MAX_REPORT_DAYS} days apart"
        )));
    }
    let scope = scope(&tenant);
    let board = state.store.board();
    let entries = board.published_between(scope, from, to).await?;
    let mut bids = board.bids_between(scope, from, to).await?;
    if let BoardScope::Agency(agency) = scope {
        bids.retain(|b| b.agency_tenant_id == agency);
    }
    let mut report = report::report(from, to, &entries, &bids);
    if let BoardScope::Agency(agency) = scope {
        report.agencies.retain(|a| a.agency_tenant_id == agency);
    }
    Ok(Json(report))
}
