//! The handlers every kind of record shares: list, create, read, change, delete and history,
//! with the permissions, versions, errors and views its kind's description gives. A kind's
//! routes are thin annotated functions that call these with their [`Entity`] and type the
//! answer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use outpost_domain::page::Page;
use outpost_domain::record::{HistoryEntry, Record};
use outpost_domain::{Entity, ErrorCode, RecordId};
use outpost_store::{
    Filter, FilterOp, RecordCursor, RecordQuery, TenantStore, WriteOutcome, typed,
};

use crate::error::{ApiError, ApiResult};
use crate::principal::Principal;
use crate::routes::patients::tenant_store;
use crate::routes::views;
use crate::state::AppState;

/// `?version=` of a delete.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    pub version: Option<i64>,
}

/// A listing's page: `?q=&limit=&cursor=`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Case-insensitive prefix of a word of the name.
    q: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The longest word search of a listing, in characters.
const MAX_QUERY_CHARS: usize = 100;

impl PageQuery {
    /// The store's query, checked.
    pub fn records(self) -> ApiResult<RecordQuery> {
        if self
            .q
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            return Err(ApiError::invalid(format!(
                "parameter `q`: at most {MAX_QUERY_CHARS} characters"
            )));
        }
        Ok(RecordQuery {
            q: self.q.filter(|q| !q.trim().is_empty()),
            filters: Vec::new(),
            limit: limit(self.limit)?,
            after: cursor(self.cursor.as_deref())?,
        })
    }
}

/// The default and the largest page of a listing.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

fn may_read(principal: &Principal, entity: Entity) -> ApiResult<()> {
    if entity.kind().may_read(&principal.permissions) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "your role may not read {}",
            plural(entity)
        )))
    }
}

/// May the caller write `fields` of a record of `entity`?
fn may_write<'a>(
    principal: &Principal,
    entity: Entity,
    fields: impl Iterator<Item = &'a String>,
) -> ApiResult<()> {
    let kind = entity.kind();
    if !kind.may_write(&principal.permissions) {
        return Err(ApiError::forbidden(format!(
            "your role may not change {}",
            plural(entity)
        )));
    }
    principal.require_writable()?;
    if let Some(why) = kind.write_refusal(fields, &principal.permissions, false) {
        return Err(ApiError::forbidden(why));
    }
    Ok(())
}

/// "calendar entries" for the kind whose table is `calendar_entries`.
fn plural(entity: Entity) -> String {
    entity.kind().table.replace('_', " ")
}

/// The page size asked for, checked.
pub fn limit(asked: Option<u32>) -> ApiResult<u32> {
    let limit = asked.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(format!(
            "parameter `limit`: between 1 and {MAX_LIMIT}"
        )))
    }
}

/// A cursor from an earlier page of this API.
pub fn cursor(text: Option<&str>) -> ApiResult<Option<RecordCursor>> {
    text.map(|c| {
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<RecordCursor>(&bytes).ok())
            .ok_or_else(|| ApiError::invalid("parameter `cursor`: not a cursor from this API"))
    })
    .transpose()
}

/// A page of records the caller may see, typed.
pub async fn list<T: DeserializeOwned>(
    state: &AppState,
    principal: &Principal,
    entity: Entity,
    mut query: RecordQuery,
) -> ApiResult<Page<T>> {
    may_read(principal, entity)?;
    // Rows only some readers see are chosen in the query, so that a page is full of them.
    if let Some(rule) = entity.kind().rows
        && !principal.permissions.contains(&rule.all)
    {
        query.filters.push(Filter {
            field: rule.members,
            op: FilterOp::Contains,
            value: Value::String(principal.user_id.to_string()),
        });
    }
    let store = tenant_store(state, principal).await?;
    let page = store
        .list_records(entity, &query, &principal.actor())
        .await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .filter_map(|r| views::record(principal, entity, r))
            .map(|r| typed(&r))
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor.map(|c| URL_SAFE_NO_PAD.encode(c)),
    })
}

/// Creates a record with a fresh id.
pub async fn create<T: DeserializeOwned>(
    state: &AppState,
    principal: &Principal,
    entity: Entity,
    fields: Map<String, Value>,
) -> ApiResult<T> {
    may_write(principal, entity, std::iter::empty())?;
    if let Some(why) = entity.kind().creation_refusal(
        &fields,
        &principal.permissions,
        false,
        principal.now.date_naive(),
    ) {
        return Err(ApiError::forbidden(why));
    }
    if !entity
        .kind()
        .may_create_rows(Some(principal.user_id), &principal.permissions)
    {
        return Err(ApiError::forbidden(format!(
            "your role may not create {}",
            plural(entity)
        )));
    }
    let store = tenant_store(state, principal).await?;
    let mut created = store
        .create_records(
            entity,
            vec![(RecordId::generate(), fields)],
            &principal.actor(),
        )
        .await?;
    let record = created.pop().ok_or_else(ApiError::internal)?;
    state.announce_changes(principal.tenant()?).await;
    seen(principal, entity, record)
}

/// One live record.
pub async fn get<T: DeserializeOwned>(
    state: &AppState,
    principal: &Principal,
    entity: Entity,
    id: RecordId,
) -> ApiResult<T> {
    may_read(principal, entity)?;
    let store = tenant_store(state, principal).await?;
    let record = store
        .record(entity, id, &principal.actor())
        .await?
        .ok_or_else(ApiError::not_found)?;
    seen(principal, entity, record)
}

/// Refuses, as not found, a record of a kind only some readers see when the caller is not
/// one of them (read before a change; other kinds need no read).
async fn may_see(
    store: &dyn TenantStore,
    principal: &Principal,
    entity: Entity,
    id: RecordId,
) -> ApiResult<()> {
    if entity.kind().rows.is_none() {
        return Ok(());
    }
    store
        .record(entity, id, &principal.actor())
        .await?
        .and_then(|r| views::record(principal, entity, r))
        .map(drop)
        .ok_or_else(ApiError::not_found)
}

/// Applies a partial update made on `version`; 409 with the current record when stale.
pub async fn update<T: DeserializeOwned>(
    state: &AppState,
    principal: &Principal,
    entity: Entity,
    id: RecordId,
    version: i64,
    changes: Map<String, Value>,
) -> ApiResult<T> {
    may_write(principal, entity, changes.keys())?;
    let store = tenant_store(state, principal).await?;
    may_see(store.as_ref(), principal, entity, id).await?;
    let outcome = store
        .update_record(
            entity,
            id,
            version,
            &changes,
            principal.now.date_naive(),
            &principal.actor(),
        )
        .await?;
    match outcome {
        WriteOutcome::Done(record) => {
            state.announce_changes(principal.tenant()?).await;
            seen(principal, entity, record)
        }
        WriteOutcome::Stale(current) => Err(stale(principal, entity, current)),
        WriteOutcome::NotFound => Err(ApiError::not_found()),
    }
}

/// Tombstones a record (at `version`, when given).
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    entity: Entity,
    id: RecordId,
    version: Option<i64>,
) -> ApiResult<()> {
    if !entity.kind().may_delete(&principal.permissions) {
        return Err(ApiError::forbidden(format!(
            "your role may not delete {}",
            plural(entity)
        )));
    }
    principal.require_writable()?;
    let store = tenant_store(state, principal).await?;
    may_see(store.as_ref(), principal, entity, id).await?;
    match store
        .delete_record(entity, id, version, &principal.actor())
        .await?
    {
        WriteOutcome::Done(_) => {
            state.announce_changes(principal.tenant()?).await;
            Ok(())
        }
        WriteOutcome::Stale(current) => Err(stale(principal, entity, current)),
        WriteOutcome::NotFound => Err(ApiError::not_found()),
    }
}

/// Every version of a live record, as the caller may see them.
pub async fn history(
    state: &AppState,
    principal: &Principal,
    entity: Entity,
    id: RecordId,
) -> ApiResult<Page<HistoryEntry>> {
    may_read(principal, entity)?;
    let store = tenant_store(state, principal).await?;
    may_see(store.as_ref(), principal, entity, id).await?;
    let entries = store
        .record_history(entity, id, &principal.actor())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Page {
        items: entries
            .into_iter()
            .map(|e| views::history(principal, entity, e))
            .collect(),
        next_cursor: None,
    })
}

/// The record as the caller may see it, typed.
fn seen<T: DeserializeOwned>(
    principal: &Principal,
    entity: Entity,
    record: Record,
) -> ApiResult<T> {
    let record = views::record(principal, entity, record).ok_or_else(ApiError::not_found)?;
    Ok(typed(&record)?)
}

/// 409 `version_conflict` with the current record as the caller may see it.
fn stale(principal: &Principal, entity: Entity, current: Record) -> ApiError {
    let current = views::record(principal, entity, current)
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or(Value::Null);
    ApiError::new(
        ErrorCode::VersionConflict,
        format!(
            "the {} was changed since the version you edited",
            entity.as_str().replace('_', " ")
        ),
    )
    .with("current", current)
}

/// The create, read, change and delete routes of one kind over the shared handlers
/// ([`records`]); the operation ids are the handlers' names.
macro_rules! record_routes {
    (
        $tag:literal, $entity:expr, $record:ty, $fields:ty, $id:ty,
        $path:literal, $item_path:literal, $item:literal,
        $create:ident, $get:ident, $update:ident, $delete:ident
    ) => {
        #[doc = concat!("`POST ", $path, "`.")]
        #[utoipa::path(post, path = $path, tag = $tag, request_body = $fields,
                            responses((status = 201, description = "Created", body = $record)))]
        pub async fn $create(
            State(state): State<AppState>,
            principal: Principal,
            ApiJson(fields): ApiJson<$fields>,
        ) -> ApiResult<(StatusCode, Json<$record>)> {
            let created = records::create(&state, &principal, $entity, to_map(&fields)).await?;
            Ok((StatusCode::CREATED, Json(created)))
        }

        #[doc = concat!("`GET ", $item_path, "`.")]
        #[utoipa::path(get, path = $item_path, tag = $tag, params(("id" = $id, Path)),
                            responses((status = 200, description = $item, body = $record)))]
        pub async fn $get(
            State(state): State<AppState>,
            principal: Principal,
            ApiPath(id): ApiPath<$id>,
        ) -> ApiResult<Json<$record>> {
            Ok(Json(
                records::get(&state, &principal, $entity, id.into()).await?,
            ))
        }

        #[doc = concat!("`PATCH ", $item_path, "` with `version`.")]
        #[utoipa::path(patch, path = $item_path, tag = $tag, params(("id" = $id, Path)),
                            request_body = RecordPatch,
                            responses((status = 200, description = "Updated", body = $record)))]
        pub async fn $update(
            State(state): State<AppState>,
            principal: Principal,
            ApiPath(id): ApiPath<$id>,
            ApiJson(patch): ApiJson<RecordPatch>,
        ) -> ApiResult<Json<$record>> {
            let (version, changes) = (patch.version, patch.changes);
            let updated =
                records::update(&state, &principal, $entity, id.into(), version, changes).await?;
            Ok(Json(updated))
        }

        #[doc = concat!("`DELETE ", $item_path, "[?version=N]`: a tombstone.")]
        #[utoipa::path(delete, path = $item_path, tag = $tag,
                            params(("id" = $id, Path), DeleteQuery),
                            responses((status = 204, description = "Deleted (a tombstone)")))]
        pub async fn $delete(
            State(state): State<AppState>,
            principal: Principal,
            ApiPath(id): ApiPath<$id>,
            ApiQuery(query): ApiQuery<DeleteQuery>,
        ) -> ApiResult<StatusCode> {
            records::delete(&state, &principal, $entity, id.into(), query.version).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}
pub(crate) use record_routes;
