//! `tenants/<id>.db`: the embedded implementation of [`TenantStore`].

use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::{Map, Value, json};

use outpost_domain::audit::{Actor, AuditEvent, AuditRecord, ChainReport, Outcome};
use outpost_domain::page::Page;
use outpost_domain::patient::{Changes, Patient, PatientFields};
use outpost_domain::{PatientId, TenantId, UserId};
use outpost_store::changes::{
    Synced, change_event, patch_error, search_event, snapshot_event, stale_event,
};
use outpost_store::columns::PATIENT_META;
use outpost_store::{
    DatabaseStatus, HistoryEntry, PatientCursor, PatientQuery, PatientReport, StoreError,
    StoreResult, TenantStore, WriteOutcome,
};

use tokio::sync::mpsc;

use outpost_domain::LocalEventId;
use outpost_domain::sync::{LocalAuditEvent, Op, OpResult, OpRules, PullResponse, SnapshotLine};

use crate::conn::Db;
use crate::sql::{OrBackend, get_opt_parsed, get_opt_ts, get_parsed, get_ts, ts, unique_as};
use crate::{audit, copy, history, open_encrypted, status, sync};
use outpost_store::backup::Batch;

/// Columns holding [`PatientFields`], named as the fields are.
const FIELD_COLUMNS: &[&str] = outpost_domain::patient::FIELD_NAMES;
const BOOL_COLUMNS: &[&str] = &["hypertension", "heart_disease", "ever_married", "stroke"];

/// One tenant's database file.
pub struct SqliteTenant {
    pub(crate) db: Db,
    /// Kept to open extra read connections (snapshots) on the same file.
    pub(crate) key: crate::keys::Key,
    pub(crate) tenant_id: TenantId,
    pub(crate) slug: String,
}

pub(crate) fn select_patient() -> String {
    format!(
        "SELECT {PATIENT_META}, {} FROM patients",
        FIELD_COLUMNS.join(", ")
    )
}

pub(crate) fn read_patient(
    row: &Row<'_>,
) -> rusqlite::Result<(Patient, Option<chrono::DateTime<chrono::Utc>>)> {
    let mut map = Map::new();
    for (i, name) in FIELD_COLUMNS.iter().enumerate() {
        let value: SqlValue = row.get(6 + i)?;
        let json = match value {
            SqlValue::Null => continue,
            SqlValue::Integer(n) if BOOL_COLUMNS.contains(name) => Value::Bool(n != 0),
            SqlValue::Integer(n) => json!(n),
            SqlValue::Real(f) => json!(f),
            SqlValue::Text(t) => Value::String(t),
            SqlValue::Blob(_) => continue,
        };
        map.insert((*name).to_owned(), json);
    }
    let fields: PatientFields =
        serde_json::from_value(Value::Object(map)).map_err(|e| crate::sql::conversion(6, e))?;
    Ok((
        Patient {
            id: get_parsed(row, 0)?,
            fields,
            version: row.get(1)?,
            created_at: get_ts(row, 2)?,
            updated_at: get_ts(row, 3)?,
            updated_by: get_opt_parsed(row, 4)?,
        },
        get_opt_ts(row, 5)?,
    ))
}

/// The SQL values of every field column, in `FIELD_COLUMNS` order.
pub(crate) fn field_values(fields: &PatientFields) -> StoreResult<Vec<SqlValue>> {
    let Value::Object(map) = serde_json::to_value(fields)
        .map_err(|e| StoreError::Corrupt(format!("patient fields do not serialise: {e}")))?
    else {
        return Err(StoreError::Corrupt(
            "patient fields are not an object".into(),
        ));
    };
    Ok(FIELD_COLUMNS
        .iter()
        .map(|name| match map.get(*name) {
            None | Some(Value::Null) => SqlValue::Null,
            Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(SqlValue::Integer)
                .unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or_default())),
            Some(Value::String(s)) => SqlValue::Text(s.clone()),
            Some(other) => SqlValue::Text(other.to_string()),
        })
        .collect())
}

pub(crate) fn search_keys(fields: &PatientFields) -> [SqlValue; 3] {
    [
        SqlValue::Text(fields.family_name.to_lowercase()),
        SqlValue::Text(fields.given_name.to_lowercase()),
        SqlValue::Text(fields.mrn.to_lowercase()),
    ]
}

pub(crate) fn load(
    conn: &Connection,
    id: PatientId,
) -> StoreResult<Option<(Patient, Option<chrono::DateTime<chrono::Utc>>)>> {
    conn.prepare_cached(&format!("{} WHERE id = ?1", select_patient()))
        .db()?
        .query_row([id.to_string()], read_patient)
        .optional()
        .db()
}

fn load_live(conn: &Connection, id: PatientId) -> StoreResult<Option<Patient>> {
    Ok(load(conn, id)?.and_then(|(p, deleted)| deleted.is_none().then_some(p)))
}

/// Writes a new version of a patient with its history row, feed entry and audit event.
pub(crate) fn save_update(
    conn: &Connection,
    current: Patient,
    fields: PatientFields,
    changed: &Changes,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<Patient> {
    let patient = Patient {
        fields,
        version: current.version + 1,
        updated_at: actor.at,
        updated_by: actor.user_id,
        ..current
    };
    // Only the changed columns (and the search key of a changed name or MRN): an index whose
    // columns are assigned is rewritten even when the value stays the same.
    let mut columns = vec!["version", "updated_at", "updated_by"];
    let mut values = vec![
        SqlValue::Integer(patient.version),
        SqlValue::Text(ts(actor.at)),
        actor
            .user_id
            .map_or(SqlValue::Null, |u| SqlValue::Text(u.to_string())),
    ];
    for (column, value) in FIELD_COLUMNS.iter().zip(field_values(&patient.fields)?) {
        if changed.contains_key(*column) {
            columns.push(column);
            values.push(value);
        }
    }
    let [family, given, mrn] = search_keys(&patient.fields);
    for (field, column, value) in [
        ("family_name", "family_key", family),
        ("given_name", "given_key", given),
        ("mrn", "mrn_key", mrn),
    ] {
        if changed.contains_key(field) {
            columns.push(column);
            values.push(value);
        }
    }
    values.push(SqlValue::Text(patient.id.to_string()));
    let assignments = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let id_param = values.len();
    conn.prepare_cached(&format!(
        "UPDATE patients SET {assignments} WHERE id = ?{id_param}"
    ))
    .db()?
    .execute(params_from_iter(values))
    .map_err(unique_as("mrn"))?;
    history::record(
        conn,
        &patient,
        "update",
        changed,
        actor,
        synced.map(|s| s.client_time),
    )?;
    audit::append(
        conn,
        &change_event(actor, "update", &patient, changed, synced),
    )?;
    Ok(patient)
}

/// Tombstones a patient with its history row, feed entry and audit event.
pub(crate) fn save_delete(
    conn: &Connection,
    current: Patient,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<Patient> {
    let patient = Patient {
        version: current.version + 1,
        updated_at: actor.at,
        updated_by: actor.user_id,
        ..current
    };
    conn.execute(
        "UPDATE patients SET version = ?1, updated_at = ?2, updated_by = ?3, deleted_at = ?2 WHERE id = ?4",
        params![
            patient.version,
            ts(actor.at),
            actor.user_id.map(|u| u.to_string()),
            patient.id.to_string()
        ],
    )
    .db()?;
    let changes = Changes::new();
    history::record(
        conn,
        &patient,
        "delete",
        &changes,
        actor,
        synced.map(|s| s.client_time),
    )?;
    audit::append(
        conn,
        &change_event(actor, "delete", &patient, &changes, synced),
    )?;
    Ok(patient)
}

pub(crate) fn insert_patient(
    conn: &Connection,
    id: PatientId,
    fields: PatientFields,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<Patient> {
    let patient = Patient {
        id,
        fields,
        version: 1,
        created_at: actor.at,
        updated_at: actor.at,
        updated_by: actor.user_id,
    };
    let mut values = vec![
        SqlValue::Text(patient.id.to_string()),
        SqlValue::Integer(1),
        SqlValue::Text(ts(actor.at)),
        SqlValue::Text(ts(actor.at)),
        actor
            .user_id
            .map_or(SqlValue::Null, |u| SqlValue::Text(u.to_string())),
    ];
    values.extend(field_values(&patient.fields)?);
    values.extend(search_keys(&patient.fields));
    let placeholders = (1..=values.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.prepare_cached(&format!(
        "INSERT INTO patients (id, version, created_at, updated_at, updated_by, {}, \
         family_key, given_key, mrn_key) VALUES ({placeholders})",
        FIELD_COLUMNS.join(", ")
    ))
    .db()?
    .execute(params_from_iter(values))
    .map_err(unique_as("mrn"))?;
    let changes = patient.fields.as_creation();
    history::record(
        conn,
        &patient,
        "create",
        &changes,
        actor,
        synced.map(|s| s.client_time),
    )?;
    audit::append(
        conn,
        &change_event(actor, "create", &patient, &changes, synced),
    )?;
    Ok(patient)
}

#[async_trait]
impl TenantStore for SqliteTenant {
    async fn create_patients(
        &self,
        patients: Vec<PatientFields>,
        actor: &Actor,
    ) -> StoreResult<Vec<Patient>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let created = patients
                    .into_iter()
                    .map(|fields| insert_patient(&tx, PatientId::generate(), fields, &actor, None))
                    .collect::<StoreResult<Vec<_>>>()?;
                tx.commit().db()?;
                Ok(created)
            })
            .await
    }

    async fn patient(&self, id: PatientId, actor: &Actor) -> StoreResult<Option<Patient>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let patient = load_live(&tx, id)?;
                let outcome = if patient.is_some() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                audit::append(
                    &tx,
                    &actor.event("patient.read", outcome).entity("patient", id),
                )?;
                tx.commit().db()?;
                Ok(patient)
            })
            .await
    }

    async fn search_patients(
        &self,
        query: &PatientQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Patient>> {
        let query = query.clone();
        let actor = actor.clone();
        self.db
            .call(move |conn| {
                let mut sql = format!("{} WHERE deleted_at IS NULL", select_patient());
                let mut args: Vec<SqlValue> = Vec::new();
                let words: Vec<String> = query
                    .q
                    .as_deref()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_lowercase)
                    .collect();
                for word in &words {
                    let (lo, hi) = (args.len() + 1, args.len() + 2);
                    sql.push_str(&format!(
                        " AND ((family_key >= ?{lo} AND family_key < ?{hi}) \
                         OR (given_key >= ?{lo} AND given_key < ?{hi}) \
                         OR (mrn_key >= ?{lo} AND mrn_key < ?{hi}))"
                    ));
                    args.push(SqlValue::Text(word.clone()));
                    args.push(SqlValue::Text(format!("{word}\u{10FFFF}")));
                }
                if let Some(after) = &query.after {
                    let n = args.len();
                    sql.push_str(&format!(
                        " AND (family_key, given_key, id) > (?{}, ?{}, ?{})",
                        n + 1,
                        n + 2,
                        n + 3
                    ));
                    args.push(SqlValue::Text(after.family.clone()));
                    args.push(SqlValue::Text(after.given.clone()));
                    args.push(SqlValue::Text(after.id.clone()));
                }
                let limit = query.limit.max(1);
                sql.push_str(&format!(
                    " ORDER BY family_key, given_key, id LIMIT {}",
                    u64::from(limit) + 1
                ));
                let tx = conn.transaction().db()?;
                let mut items = {
                    let mut stmt = tx.prepare(&sql).db()?;
                    stmt.query_map(params_from_iter(args), |row| {
                        read_patient(row).map(|(p, _)| p)
                    })
                    .db()?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .db()?
                };
                let more = items.len() > limit as usize;
                items.truncate(limit as usize);
                let next = if more {
                    items.last().map(PatientCursor::after)
                } else {
                    None
                };
                let ids: Vec<String> = items.iter().map(|p| p.id.to_string()).collect();
                audit::append(&tx, &search_event(&actor, query.q.as_deref(), &ids))?;
                tx.commit().db()?;
                Ok(Page {
                    items,
                    next_cursor: next.map(|c| serde_json::to_string(&c).unwrap_or_default()),
                })
            })
            .await
    }

    async fn update_patient(
        &self,
        id: PatientId,
        base_version: i64,
        changes: &Map<String, Value>,
        today: NaiveDate,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let (changes, actor) = (changes.clone(), actor.clone());
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let Some(current) = load_live(&tx, id)? else {
                    return Ok(WriteOutcome::NotFound);
                };
                if current.version != base_version {
                    audit::append(&tx, &stale_event(&actor, "update", &current, base_version))?;
                    tx.commit().db()?;
                    return Ok(WriteOutcome::Stale(current));
                }
                let (fields, changed) =
                    current.fields.apply(&changes, today).map_err(patch_error)?;
                if changed.is_empty() {
                    return Ok(WriteOutcome::Done(current));
                }
                let patient = save_update(&tx, current, fields, &changed, &actor, None)?;
                tx.commit().db()?;
                Ok(WriteOutcome::Done(patient))
            })
            .await
    }

    async fn delete_patient(
        &self,
        id: PatientId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let actor = actor.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let Some(current) = load_live(&tx, id)? else {
                    return Ok(WriteOutcome::NotFound);
                };
                if let Some(base) = base_version.filter(|v| *v != current.version) {
                    audit::append(&tx, &stale_event(&actor, "delete", &current, base))?;
                    tx.commit().db()?;
                    return Ok(WriteOutcome::Stale(current));
                }
                let patient = save_delete(&tx, current, &actor, None)?;
                tx.commit().db()?;
                Ok(WriteOutcome::Done(patient))
            })
            .await
    }

    async fn patient_history(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                if load_live(&tx, id)?.is_none() {
                    return Ok(None);
                }
                let entries = history::of_patient(&tx, id)?;
                audit::append(
                    &tx,
                    &actor
                        .event("patient.history", Outcome::Success)
                        .entity("patient", id),
                )?;
                tx.commit().db()?;
                Ok(Some(entries))
            })
            .await
    }

    async fn patient_report(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<PatientReport>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                let Some((patient, deleted_at)) = load(&tx, id)? else {
                    return Ok(None);
                };
                let versions = history::of_patient(&tx, id)?;
                let accesses = audit::of_entity(&tx, "patient", &id.to_string())?;
                audit::append(
                    &tx,
                    &actor
                        .event("report.patient", Outcome::Success)
                        .entity("patient", id),
                )?;
                tx.commit().db()?;
                Ok(Some(PatientReport {
                    patient,
                    deleted_at,
                    versions,
                    accesses,
                }))
            })
            .await
    }

    async fn apply_ops(
        &self,
        ops: Vec<Op>,
        rules: OpRules,
        actor: &Actor,
    ) -> StoreResult<Vec<OpResult>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| sync::apply_batch(conn, &ops, &rules, &actor))
            .await
    }

    async fn append_local_audit(
        &self,
        events: Vec<LocalAuditEvent>,
        actor: &Actor,
    ) -> StoreResult<Vec<LocalEventId>> {
        let actor = actor.clone();
        self.db
            .call(move |conn| sync::append_local(conn, &events, &actor))
            .await
    }

    async fn pull(&self, cursor: i64, limit: u32, actor: &Actor) -> StoreResult<PullResponse> {
        let actor = actor.clone();
        self.db
            .call(move |conn| sync::pull(conn, cursor, limit, &actor))
            .await
    }

    async fn snapshot(
        &self,
        actor: &Actor,
    ) -> StoreResult<mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>> {
        let (path, key) = (self.db.path().to_path_buf(), self.key.clone());
        let (conn, begin) = tokio::task::spawn_blocking(move || sync::begin_snapshot(&path, &key))
            .await
            .map_err(StoreError::backend)??;
        if let SnapshotLine::Begin {
            cursor, patients, ..
        } = &begin
        {
            self.append_audit(snapshot_event(actor, *cursor, *patients))
                .await?;
        }
        let (tx, rx) = mpsc::channel(8);
        tx.send(Ok(vec![begin]))
            .await
            .map_err(|_| StoreError::Corrupt("snapshot receiver closed".into()))?;
        tokio::task::spawn_blocking(move || sync::stream_snapshot(conn, tx));
        Ok(rx)
    }

    async fn export(&self) -> StoreResult<mpsc::Receiver<StoreResult<Batch>>> {
        let (path, key) = (self.db.path().to_path_buf(), self.key.clone());
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let begun = open_encrypted(&path, &key)
                .and_then(|conn| conn.execute_batch("BEGIN").db().map(|()| conn));
            match begun {
                Ok(conn) => copy::export(conn, tx),
                Err(err) => drop(tx.blocking_send(Err(err))),
            }
        });
        Ok(rx)
    }

    async fn cursor(&self) -> StoreResult<i64> {
        self.db.call(|conn| sync::cursor(conn)).await
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64> {
        self.db
            .call(move |conn| audit::append_alone(conn, &event))
            .await
    }

    async fn verify_audit(&self) -> StoreResult<ChainReport> {
        let slug = self.slug.clone();
        self.db.call(move |conn| audit::verify(conn, &slug)).await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        self.db
            .call(move |conn| audit::of_actor(conn, user, limit))
            .await
    }

    async fn status(&self) -> DatabaseStatus {
        status::of(&self.db, &self.slug, Some(self.tenant_id)).await
    }
}
