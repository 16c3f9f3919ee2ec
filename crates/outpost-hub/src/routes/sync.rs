//! Sync: push an outbox, pull changes after a cursor, stream a first snapshot, and listen for
//! announcements of new changes.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use outpost_domain::sync::{
    ChangesAvailable, LocalAuditEvent, MAX_AUDIT_DETAILS_BYTES, MAX_PUSH_OPS, MIN_SCHEMA_VERSION,
    OpRules, OpStatus, PullResponse, PushRequest, PushResponse, SCHEMA_VERSION, SnapshotLine,
    UNSAID_SCHEMA,
};
use outpost_domain::{Entity, ErrorCode, Permission, TenantKind};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::metrics::OpenStream;
use crate::principal::Principal;
use crate::routes::patients::tenant_store;
use crate::routes::views;
use crate::state::AppState;

const DEFAULT_PULL: u32 = 500;
const MAX_PULL: u32 = 5000;

fn check_local_event(event: &LocalAuditEvent) -> ApiResult<()> {
    let action_ok = event.action.len() <= 64
        && event
            .action
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && event
            .action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
    let short = |v: &Option<String>| v.as_ref().is_none_or(|s| s.chars().count() <= 64);
    if !action_ok || !short(&event.entity) || !short(&event.entity_id) {
        return Err(ApiError::invalid(
            "field `audit`: an event has a malformed action, entity or entity_id",
        ));
    }
    if event.details.to_string().len() > MAX_AUDIT_DETAILS_BYTES {
        return Err(ApiError::invalid("field `audit`: event details over 8 KiB"));
    }
    Ok(())
}

/// `POST /v1/sync/push`: offline audit events first, then the ops in order.
#[utoipa::path(
    post,
    path = "/v1/sync/push",
    operation_id = "push",
    tag = "sync",
    request_body = PushRequest,
    responses((status = 200, description = "Each op's result, in order", body = PushResponse))
)]
pub async fn push(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<PushRequest>,
) -> ApiResult<Json<PushResponse>> {
    reads_some_kind(&principal)?;
    principal.require_writable()?;
    if !(MIN_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&req.schema_version) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedSchema,
            format!(
                "this hub applies client schema {MIN_SCHEMA_VERSION} to {SCHEMA_VERSION}, not {}; \
                 update the client (its changes are kept)",
                req.schema_version
            ),
        ));
    }
    if req.ops.len() + req.audit.len() > MAX_PUSH_OPS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_PUSH_OPS} ops and events per push"
        )));
    }
    for event in &req.audit {
        check_local_event(event)?;
    }
    let tenant = principal.tenant()?;
    let store = tenant_store(&state, &principal).await?;
    let actor = principal.actor();
    let audit_accepted = if req.audit.is_empty() {
        Vec::new()
    } else {
        store.append_local_audit(req.audit, &actor).await?
    };
    let rules = OpRules {
        permissions: principal.permissions.clone(),
        user: Some(principal.user_id),
        today: principal.now.date_naive(),
    };
    let entities: Vec<Entity> = req.ops.iter().map(|op| op.entity).collect();
    let results = if req.ops.is_empty() {
        Vec::new()
    } else {
        store.apply_ops(req.ops, rules, &actor).await?
    };
    let cursor = store.cursor().await?;
    for result in &results {
        let outcome = match result.status {
            OpStatus::Applied => "applied",
            OpStatus::Merged => "merged",
            OpStatus::Conflict => "conflict",
            OpStatus::Rejected => "rejected",
        };
        metrics::counter!("outpost_sync_push_ops_total", "outcome" => outcome).increment(1);
    }
    if results
        .iter()
        .any(|r| matches!(r.status, OpStatus::Applied | OpStatus::Merged))
    {
        state.announce(tenant, cursor).await;
    }
    let results = results
        .into_iter()
        .zip(&entities)
        .map(|(mut r, entity)| {
            r.record = r.record.and_then(|p| views::record(&principal, *entity, p));
            r
        })
        .collect();
    Ok(Json(PushResponse {
        results,
        audit_accepted,
        cursor,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    cursor: Option<i64>,
    limit: Option<u32>,
    /// The client's sync schema: kinds it does not know are left out. A client that does not
    /// say is of schema 3 (those before it did not).
    schema: Option<i64>,
    /// Only the kinds this schema did not know or that changed since: an updated client
    /// catching up on them, from cursor 0.
    learned_after: Option<i64>,
}

/// `GET /v1/sync/snapshot?schema=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The client's sync schema, as for a pull.
    schema: Option<i64>,
}

/// The schema a client speaks and the one after which it asks for kinds, checked.
fn schemas(schema: Option<i64>, learned_after: Option<i64>) -> ApiResult<(i64, i64)> {
    let schema = schema.unwrap_or(UNSAID_SCHEMA);
    let after = learned_after.unwrap_or(0);
    if !(MIN_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&schema) || !(0..schema).contains(&after) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedSchema,
            format!(
                "this hub serves client schema {MIN_SCHEMA_VERSION} to {SCHEMA_VERSION}, \
                 and `learned_after` below it"
            ),
        ));
    }
    Ok((schema, after))
}

/// `GET /v1/sync/pull?cursor=N&limit=M&schema=S&learned_after=L`.
#[utoipa::path(
    get,
    path = "/v1/sync/pull",
    operation_id = "pull",
    tag = "sync",
    params(PullQuery),
    responses((status = 200, description = "Changes after the cursor", body = PullResponse))
)]
pub async fn pull(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> ApiResult<Json<PullResponse>> {
    reads_some_kind(&principal)?;
    let limit = query.limit.unwrap_or(DEFAULT_PULL);
    if !(1..=MAX_PULL).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "parameter `limit`: between 1 and {MAX_PULL}"
        )));
    }
    let cursor = query.cursor.unwrap_or(0).max(0);
    let kinds = readable_kinds(&principal, schemas(query.schema, query.learned_after)?);
    let store = tenant_store(&state, &principal).await?;
    let mut page = store
        .pull(cursor, limit, &kinds, &principal.actor())
        .await?;
    for change in &mut page.changes {
        let entity = change.entity;
        let stored = change.record.take();
        let existed = stored.is_some();
        change.record = stored.and_then(|r| views::record(&principal, entity, r));
        // A record the caller may not see (any more) is sent as gone, without its version's
        // changes; so is a deleted one of a kind only some readers see.
        let hidden =
            (existed && change.record.is_none()) || (!existed && entity.kind().rows.is_some());
        change.history = if hidden {
            None
        } else {
            change
                .history
                .take()
                .map(|h| views::history(&principal, entity, h))
        };
    }
    Ok(Json(page))
}

/// Sync is for roles that read some kind of record (a clinic's staff, a hospital's
/// coordinators, an EMS agency's dispatchers and crews); what each reads is its kinds'.
fn reads_some_kind(principal: &Principal) -> ApiResult<()> {
    if readable_kinds(principal, (SCHEMA_VERSION, 0)).is_empty() {
        Err(ApiError::forbidden("your role reads no records to sync"))
    } else {
        Ok(())
    }
}

/// The kinds of record the caller reads and its client knows (`schema`), changed after
/// `learned_after`: a pull or a snapshot reads, counts and audits only these.
fn readable_kinds(principal: &Principal, (schema, learned_after): (i64, i64)) -> Vec<Entity> {
    Entity::ALL
        .iter()
        .copied()
        .filter(|e| e.schema() <= schema && e.changed_in() > learned_after)
        .filter(|e| e.kind().may_read(&principal.permissions))
        .collect()
}

/// `GET /v1/sync/snapshot`: newline-delimited JSON, `begin` first and `end` last, consistent
/// with the `begin` line's cursor.
#[utoipa::path(
    get,
    path = "/v1/sync/snapshot",
    operation_id = "snapshot",
    tag = "sync",
    params(SnapshotQuery),
    responses((status = 200, description = "A consistent snapshot, one JSON line each", content_type = "application/x-ndjson", body = SnapshotLine))
)]
pub async fn snapshot(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SnapshotQuery>,
) -> ApiResult<Response> {
    reads_some_kind(&principal)?;
    let kinds = readable_kinds(&principal, schemas(query.schema, None)?);
    let store = tenant_store(&state, &principal).await?;
    let receiver = store.snapshot(&kinds, &principal.actor()).await?;
    let hidden = std::collections::HashSet::new();
    let body = stream::unfold(
        (receiver, principal, hidden),
        |(mut rx, principal, mut hidden)| async move {
            let batch = rx.recv().await?;
            let chunk = match batch {
                Ok(lines) => {
                    let rows = lines
                        .iter()
                        .filter(|l| {
                            matches!(
                                l,
                                SnapshotLine::Record { .. } | SnapshotLine::History { .. }
                            )
                        })
                        .count();
                    metrics::counter!("outpost_sync_snapshot_rows_total").increment(rows as u64);
                    let mut out = Vec::with_capacity(lines.len() * 320);
                    for line in lines {
                        let Some(line) = views::snapshot_line(&principal, line, &mut hidden) else {
                            continue;
                        };
                        if serde_json::to_writer(&mut out, &line).is_err() {
                            return None;
                        }
                        out.push(b'\n');
                    }
                    Ok::<Bytes, std::io::Error>(Bytes::from(out))
                }
                Err(err) => {
                    tracing::error!(error = %err, "snapshot failed");
                    Err(std::io::Error::other("snapshot failed"))
                }
            };
            Some((chunk, (rx, principal, hidden)))
        },
    );
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        // Fused: a compressing layer may poll the body once more after its end.
        Body::from_stream(body.fuse()),
    )
        .into_response())
}

fn changes(cursor: i64) -> Event {
    Event::default()
        .event("changes")
        .json_data(ChangesAvailable { cursor })
        .unwrap_or_default()
}

/// `GET /v1/events`: server-sent events; `changes` carries the newest cursor, `board` the
/// board entry that changed (to board readers: dispatchers and coordinators).
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "events",
    tag = "sync",
    responses((status = 200, description = "Server-sent events: `changes` with a cursor, `board` with the board entry that changed, and keep-alives", content_type = "text/event-stream", body = String))
)]
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    reads_some_kind(&principal)?;
    let tenant = principal.tenant()?;
    let cursor = tenant_store(&state, &principal).await?.cursor().await?;
    let receiver = state
        .events
        .subscribe(tenant)
        .ok_or_else(ApiError::internal)?;
    // Board readers hear of board changes too: a hospital of its own entries only.
    let board = if principal.can(Permission::BoardRead) {
        let kind = state
            .store
            .central()
            .tenant(tenant)
            .await?
            .map(|t| t.kind)
            .ok_or_else(ApiError::not_found)?;
        let only = (kind == TenantKind::Hospital).then_some(tenant);
        Some((state.events.subscribe_board(), only))
    } else {
        None
    };
    let stopping = state.shutting_down.subscribe();
    let first = Some(cursor);
    let open = OpenStream::new();
    let stream = stream::unfold(
        (receiver, board, stopping, first, open),
        |(mut rx, mut board, mut stopping, first, open)| async move {
            let event = match first {
                Some(cursor) => changes(cursor),
                None => loop {
                    let notice = async {
                        match board.as_mut() {
                            Some((rx, _)) => Some(rx.recv().await),
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        received = rx.recv() => match received {
                            Ok(cursor) => break changes(cursor),
                            Err(RecvError::Lagged(_)) => continue,
                            Err(RecvError::Closed) => return None,
                        },
                        Some(received) = notice => match received {
                            Ok(notice) => {
                                let only = board.as_ref().and_then(|(_, only)| *only);
                                if only.is_none_or(|h| h == notice.hospital) {
                                    break Event::default()
                                        .event("board")
                                        .json_data(serde_json::json!({"entry_id": notice.entry}))
                                        .unwrap_or_default();
                                }
                            }
                            Err(RecvError::Lagged(_)) => continue,
                            Err(RecvError::Closed) => return None,
                        },
                        _ = stopping.wait_for(|stop| *stop) => return None,
                    }
                },
            };
            Some((Ok(event), (rx, board, stopping, None, open)))
        },
    );
    // The keep-alive is an event rather than a comment, with data (an event without any is
    // dropped by parsers): the client's parser hands it over, and it tells the link is up.
    let keep_alive = KeepAlive::new()
        .interval(Duration::from_secs(15))
        .event(Event::default().event("keep-alive").data("{}"));
    Ok(Sse::new(stream).keep_alive(keep_alive))
}
