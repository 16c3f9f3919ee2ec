//! Transport records in the caller's tenant (DESIGN.md, "Transport between tenants"): a
//! hospital's facilities and transport requests, an EMS agency's units and trips, through
//! the handlers every kind shares. Who may do what comes from the kinds' descriptions:
//! coordinators (`trip.create`) write facilities and requests, dispatchers (`unit.manage`)
//! units; trips are made by the hub when a bid is accepted and moved by their crews.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use outpost_domain::page::Page;
use outpost_domain::record::{HistoryEntry, RecordPatch, to_map};
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::facility::{Facility, FacilityFields};
use outpost_domain::transport::request::{TransportRequest, TransportRequestFields};
use outpost_domain::transport::shift::{Shift, ShiftFields, ShiftStatus};
use outpost_domain::transport::trip::Trip;
use outpost_domain::transport::unit::{Unit, UnitFields};
use outpost_domain::{Entity, FacilityId, PatientId, ShiftId, TransportRequestId, TripId, UnitId};
use outpost_store::{Filter, FilterOp, RecordQuery};

use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::principal::Principal;
use crate::routes::records::{self, DeleteQuery, PageQuery, record_routes};
use crate::state::AppState;

record_routes!(
    "transport",
    Entity::Facility,
    Facility,
    FacilityFields,
    FacilityId,
    "/v1/facilities",
    "/v1/facilities/{id}",
    "The facility",
    create_facility,
    get_facility,
    update_facility,
    delete_facility
);
record_routes!(
    "transport",
    Entity::TransportRequest,
    TransportRequest,
    TransportRequestFields,
    TransportRequestId,
    "/v1/transport-requests",
    "/v1/transport-requests/{id}",
    "The transport request",
    create_transport_request,
    get_transport_request,
    update_transport_request,
    delete_transport_request
);
record_routes!(
    "transport",
    Entity::Unit,
    Unit,
    UnitFields,
    UnitId,
    "/v1/units",
    "/v1/units/{id}",
    "The unit",
    create_unit,
    get_unit,
    update_unit,
    delete_unit
);
record_routes!(
    "transport",
    Entity::UnitShift,
    Shift,
    ShiftFields,
    ShiftId,
    "/v1/unit-shifts",
    "/v1/unit-shifts/{id}",
    "The shift",
    create_unit_shift,
    get_unit_shift,
    update_unit_shift,
    delete_unit_shift
);

/// `GET /v1/facilities`.
#[utoipa::path(get, path = "/v1/facilities", operation_id = "list_facilities", tag = "transport",
    params(PageQuery),
    responses((status = 200, description = "Facilities in name order", body = Page<Facility>)))]
pub async fn list_facilities(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Facility>>> {
    let query = query.records()?;
    Ok(Json(
        records::list(&state, &principal, Entity::Facility, query).await?,
    ))
}

/// `GET /v1/units`.
#[utoipa::path(get, path = "/v1/units", operation_id = "list_units", tag = "transport",
    params(PageQuery),
    responses((status = 200, description = "Units in call-sign order", body = Page<Unit>)))]
pub async fn list_units(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Unit>>> {
    let query = query.records()?;
    Ok(Json(
        records::list(&state, &principal, Entity::Unit, query).await?,
    ))
}

/// `GET /v1/unit-shifts?unit_id=&status=&from=&to=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShiftQuery {
    unit_id: Option<UnitId>,
    status: Option<ShiftStatus>,
    /// Shifts ending at or after this time.
    from: Option<DateTime<Utc>>,
    /// Shifts starting before this time.
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/unit-shifts`: the agency's shifts (DESIGN.md's `unit_availability`).
#[utoipa::path(get, path = "/v1/unit-shifts", operation_id = "list_unit_shifts", tag = "transport",
    params(ShiftQuery),
    responses((status = 200, description = "Shifts in order of their start", body = Page<Shift>)))]
pub async fn list_unit_shifts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ShiftQuery>,
) -> ApiResult<Json<Page<Shift>>> {
    let equal = vec![
        ("unit_id", query.unit_id.map(|u| u.to_string())),
        ("status", query.status.map(|s| s.as_str().to_owned())),
    ];
    let query = time_query(
        ("end", query.from),
        ("start", query.to),
        equal,
        query.limit,
        query.cursor.as_deref(),
    )?;
    Ok(Json(
        records::list(&state, &principal, Entity::UnitShift, query).await?,
    ))
}

/// Filters of a listing by time: `from ≤ its from field`, `its to field < to` (a listing in
/// pickup order: `from ≤ pickup_from < to`), and equalities.
fn time_query(
    (from_field, from): (&'static str, Option<DateTime<Utc>>),
    (to_field, to): (&'static str, Option<DateTime<Utc>>),
    equal: Vec<(&'static str, Option<String>)>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> ApiResult<RecordQuery> {
    let mut filters = Vec::new();
    let mut filter = |field, op, value: Option<String>| {
        if let Some(value) = value {
            filters.push(Filter {
                field,
                op,
                value: Value::String(value),
            });
        }
    };
    filter(from_field, FilterOp::AtLeast, from.map(|t| t.to_rfc3339()));
    filter(to_field, FilterOp::Before, to.map(|t| t.to_rfc3339()));
    for (field, value) in equal {
        filter(field, FilterOp::Equals, value);
    }
    Ok(RecordQuery {
        q: None,
        filters,
        limit: records::limit(limit)?,
        after: records::cursor(cursor)?,
    })
}

/// `GET /v1/transport-requests?from=&to=&status=&patient_id=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// Requests whose pickup window opens at or after this time.
    from: Option<DateTime<Utc>>,
    /// Requests whose pickup window opens before this time.
    to: Option<DateTime<Utc>>,
    status: Option<TripStatus>,
    patient_id: Option<PatientId>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/transport-requests`.
#[utoipa::path(get, path = "/v1/transport-requests", operation_id = "list_transport_requests", tag = "transport",
    params(RequestQuery),
    responses((status = 200, description = "Requests in order of their pickup window", body = Page<TransportRequest>)))]
pub async fn list_transport_requests(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<RequestQuery>,
) -> ApiResult<Json<Page<TransportRequest>>> {
    let equal = vec![
        ("status", query.status.map(|s| s.as_str().to_owned())),
        ("patient_id", query.patient_id.map(|p| p.to_string())),
    ];
    let query = time_query(
        ("pickup_from", query.from),
        ("pickup_from", query.to),
        equal,
        query.limit,
        query.cursor.as_deref(),
    )?;
    Ok(Json(
        records::list(&state, &principal, Entity::TransportRequest, query).await?,
    ))
}

/// `GET /v1/trips?unit_id=&status=&from=&to=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TripQuery {
    unit_id: Option<UnitId>,
    status: Option<TripStatus>,
    /// Trips whose pickup window opens at or after this time.
    from: Option<DateTime<Utc>>,
    /// Trips whose pickup window opens before this time.
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /v1/trips`.
#[utoipa::path(get, path = "/v1/trips", operation_id = "list_trips", tag = "transport",
    params(TripQuery),
    responses((status = 200, description = "Trips in order of their pickup window", body = Page<Trip>)))]
pub async fn list_trips(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<TripQuery>,
) -> ApiResult<Json<Page<Trip>>> {
    let equal = vec![
        ("unit_id", query.unit_id.map(|u| u.to_string())),
        ("status", query.status.map(|s| s.as_str().to_owned())),
    ];
    let query = time_query(
        ("pickup_from", query.from),
        ("pickup_from", query.to),
        equal,
        query.limit,
        query.cursor.as_deref(),
    )?;
    Ok(Json(
        records::list(&state, &principal, Entity::Trip, query).await?,
    ))
}

/// `GET /v1/trips/{id}`.
#[utoipa::path(get, path = "/v1/trips/{id}", operation_id = "get_trip", tag = "transport",
    params(("id" = TripId, Path)),
    responses((status = 200, description = "The trip", body = Trip)))]
pub async fn get_trip(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TripId>,
) -> ApiResult<Json<Trip>> {
    Ok(Json(
        records::get(&state, &principal, Entity::Trip, id.into()).await?,
    ))
}

/// `GET /v1/trips/{id}/history`: every step, with the crew's device time and the hub's.
#[utoipa::path(get, path = "/v1/trips/{id}/history", operation_id = "trip_history", tag = "transport",
    params(("id" = TripId, Path)),
    responses((status = 200, description = "Every version, oldest first", body = Page<HistoryEntry>)))]
pub async fn trip_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TripId>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    Ok(Json(
        records::history(&state, &principal, Entity::Trip, id.into()).await?,
    ))
}

/// `GET /v1/transport-requests/{id}/history`.
#[utoipa::path(get, path = "/v1/transport-requests/{id}/history", operation_id = "transport_request_history", tag = "transport",
    params(("id" = TransportRequestId, Path)),
    responses((status = 200, description = "Every version, oldest first", body = Page<HistoryEntry>)))]
pub async fn transport_request_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<TransportRequestId>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    Ok(Json(
        records::history(&state, &principal, Entity::TransportRequest, id.into()).await?,
    ))
}
