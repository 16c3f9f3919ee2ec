//! One tenant's database: the PostgreSQL implementation of [`TenantStore`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use outpost_domain::audit::{Actor, AuditEvent, AuditRecord, ChainReport, Outcome};
use outpost_domain::page::Page;
use outpost_domain::patient::{Changes, Patient, PatientFields};
use outpost_domain::sync::{LocalAuditEvent, Op, OpResult, OpRules, PullResponse, SnapshotLine};
use outpost_domain::{LocalEventId, PatientId, TenantId, UserId, ValidationError};
use outpost_store::changes::{Synced, change_event, patch_error, search_event, stale_event};
use outpost_store::columns::PATIENT_META;
use outpost_store::{
    DatabaseStatus, HistoryEntry, PatientCursor, PatientQuery, PatientReport, StoreError,
    StoreResult, TenantStore, WriteOutcome,
};

use crate::router::{Conn, Router, Target, Use};
use crate::sql::{begin, col, id, opt_id, unique_as};
use crate::{OrBackend, audit, copy, history, status, sync};
use outpost_store::backup::Batch;

/// How a patient field is stored.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Date,
    Bool,
    Float,
}

/// Columns holding [`PatientFields`], named as the fields are, with their SQL kind.
const FIELDS: &[(&str, Kind)] = &[
    ("mrn", Kind::Text),
    ("given_name", Kind::Text),
    ("family_name", Kind::Text),
    ("birth_date", Kind::Date),
    ("sex", Kind::Text),
    ("phone", Kind::Text),
    ("email", Kind::Text),
    ("address", Kind::Text),
    ("hypertension", Kind::Bool),
    ("heart_disease", Kind::Bool),
    ("ever_married", Kind::Bool),
    ("work_type", Kind::Text),
    ("residence_type", Kind::Text),
    ("avg_glucose_level", Kind::Float),
    ("bmi", Kind::Float),
    ("smoking_status", Kind::Text),
    ("stroke", Kind::Bool),
];

/// A bound parameter of any column type.
type Param = Box<dyn ToSql + Sync + Send>;

/// One tenant's database, reached through the router.
pub struct PgTenant {
    pub(crate) router: Arc<Router>,
    pub(crate) target: Target,
    pub(crate) tenant_id: TenantId,
    pub(crate) slug: String,
    /// The store's open handles, so that a handle whose database is gone (moved by another
    /// instance whose announcement did not arrive) drops out and the next request reads the
    /// registry again.
    pub(crate) open_tenants: std::sync::Weak<crate::OpenTenants>,
}

impl PgTenant {
    pub(crate) async fn conn(&self) -> StoreResult<Conn> {
        self.conn_for(Use::Request).await
    }

    pub(crate) async fn conn_for(&self, usage: Use) -> StoreResult<Conn> {
        let conn = self.router.get_for(&self.target, usage).await;
        if let Err(err) = &conn
            && missing_database(err)
            && let Some(open) = self.open_tenants.upgrade()
        {
            crate::forget(&open, self.tenant_id);
        }
        conn
    }
}

/// Whether connecting failed because the database no longer exists.
fn missing_database(err: &StoreError) -> bool {
    let StoreError::Backend(source) = err else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
}

pub(crate) fn select_patient() -> String {
    let fields: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
    format!("SELECT {PATIENT_META}, {} FROM patients", fields.join(", "))
}

/// A row selected with [`select_patient`], with its deletion time.
pub(crate) fn read_patient(row: &Row) -> StoreResult<(Patient, Option<DateTime<Utc>>)> {
    let mut map = Map::new();
    for (i, (name, kind)) in FIELDS.iter().enumerate() {
        let idx = 6 + i;
        let value = match kind {
            Kind::Text => col::<Option<String>>(row, idx)?.map(Value::String),
            Kind::Date => col::<Option<NaiveDate>>(row, idx)?.map(|d| Value::String(d.to_string())),
            Kind::Bool => col::<Option<bool>>(row, idx)?.map(Value::Bool),
            Kind::Float => col::<Option<f64>>(row, idx)?.map(|f| json!(f)),
        };
        if let Some(value) = value {
            map.insert((*name).to_owned(), value);
        }
    }
    let fields: PatientFields = serde_json::from_value(Value::Object(map))
        .map_err(|e| StoreError::Corrupt(format!("stored patient does not read back: {e}")))?;
    Ok((
        Patient {
            id: id(row, 0)?,
            fields,
            version: col(row, 1)?,
            created_at: col(row, 2)?,
            updated_at: col(row, 3)?,
            updated_by: opt_id(row, 4)?,
        },
        col(row, 5)?,
    ))
}

/// The parameter of every field column, in [`FIELDS`] order.
fn field_values(fields: &PatientFields) -> StoreResult<Vec<Param>> {
    let Value::Object(map) = serde_json::to_value(fields)
        .map_err(|e| StoreError::Corrupt(format!("patient fields do not serialise: {e}")))?
    else {
        return Err(StoreError::Corrupt(
            "patient fields are not an object".into(),
        ));
    };
    FIELDS
        .iter()
        .map(|(name, kind)| {
            let value = map.get(*name).filter(|v| !v.is_null());
            let param: Param = match kind {
                Kind::Text => Box::new(value.map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })),
                Kind::Bool => Box::new(value.and_then(Value::as_bool)),
                Kind::Float => Box::new(value.and_then(Value::as_f64)),
                Kind::Date => Box::new(
                    value
                        .and_then(Value::as_str)
                        .map(|s| s.parse::<NaiveDate>())
                        .transpose()
                        .map_err(|_| StoreError::Corrupt("birth date does not parse".into()))?,
                ),
            };
            Ok(param)
        })
        .collect()
}

fn search_keys(fields: &PatientFields) -> [String; 3] {
    [
        fields.family_name.to_lowercase(),
        fields.given_name.to_lowercase(),
        fields.mrn.to_lowercase(),
    ]
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// A patient, deleted or not, with its deletion time.
pub(crate) async fn load(
    client: &impl GenericClient,
    id: PatientId,
) -> StoreResult<Option<(Patient, Option<DateTime<Utc>>)>> {
    client
        .query_opt(
            &format!("{} WHERE id = $1", select_patient()),
            &[&id.as_uuid()],
        )
        .await
        .db()?
        .as_ref()
        .map(read_patient)
        .transpose()
}

async fn load_live(client: &impl GenericClient, id: PatientId) -> StoreResult<Option<Patient>> {
    Ok(load(client, id)
        .await?
        .and_then(|(p, deleted)| deleted.is_none().then_some(p)))
}

/// Writes the history row, feed entry and audit event of a change.
async fn record_change(
    tx: &impl GenericClient,
    patient: &Patient,
    action: &str,
    changes: &Changes,
    actor: &Actor,
    synced: Option<&Synced>,
) -> StoreResult<()> {
    history::record(
        tx,
        patient,
        action,
        changes,
        actor,
        synced.map(|s| s.client_time),
    )
    .await?;
    audit::append(tx, &change_event(actor, action, patient, changes, synced)).await?;
    Ok(())
}

/// Writes a new version of a patient with its history row, feed entry and audit event.
pub(crate) async fn save_update(
    tx: &impl GenericClient,
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
    // Only the changed columns (and the search key of a changed name or MRN), as the
    // embedded backend does.
    let mut columns = vec!["version", "updated_at", "updated_by"];
    let mut values: Vec<Param> = vec![
        Box::new(patient.version),
        Box::new(actor.at),
        Box::new(actor.user_id.map(|u| u.as_uuid())),
    ];
    for ((column, _), value) in FIELDS.iter().zip(field_values(&patient.fields)?) {
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
            values.push(Box::new(value));
        }
    }
    values.push(Box::new(patient.id.as_uuid()));
    let assignments = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    tx.execute(
        &format!(
            "UPDATE patients SET {assignments} WHERE id = ${}",
            values.len()
        ),
        &refs(&values),
    )
    .await
    .map_err(unique_as("mrn"))?;
    record_change(tx, &patient, "update", changed, actor, synced).await?;
    Ok(patient)
}

/// Tombstones a patient with its history row, feed entry and audit event.
pub(crate) async fn save_delete(
    tx: &impl GenericClient,
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
    tx.execute(
        "UPDATE patients SET version = $1, updated_at = $2, updated_by = $3, deleted_at = $2 \
         WHERE id = $4",
        &[
            &patient.version,
            &actor.at,
            &actor.user_id.map(|u| u.as_uuid()),
            &patient.id.as_uuid(),
        ],
    )
    .await
    .db()?;
    record_change(tx, &patient, "delete", &Changes::new(), actor, synced).await?;
    Ok(patient)
}

pub(crate) async fn insert_patient(
    tx: &impl GenericClient,
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
    let mut values: Vec<Param> = vec![
        Box::new(patient.id.as_uuid()),
        Box::new(1_i64),
        Box::new(actor.at),
        Box::new(actor.at),
        Box::new(actor.user_id.map(|u| u.as_uuid())),
    ];
    values.extend(field_values(&patient.fields)?);
    values.extend(
        search_keys(&patient.fields)
            .into_iter()
            .map(|k| Box::new(k) as Param),
    );
    let placeholders = (1..=values.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let fields: Vec<&str> = FIELDS.iter().map(|(name, _)| *name).collect();
    tx.execute(
        &format!(
            "INSERT INTO patients (id, version, created_at, updated_at, updated_by, {}, \
             family_key, given_key, mrn_key) VALUES ({placeholders})",
            fields.join(", ")
        ),
        &refs(&values),
    )
    .await
    .map_err(unique_as("mrn"))?;
    record_change(
        tx,
        &patient,
        "create",
        &patient.fields.as_creation(),
        actor,
        synced,
    )
    .await?;
    Ok(patient)
}

/// The search statement and its parameters.
fn search_sql(query: &PatientQuery) -> StoreResult<(String, Vec<Param>)> {
    let mut sql = format!("{} WHERE deleted_at IS NULL", select_patient());
    let mut args: Vec<Param> = Vec::new();
    let words = query
        .q
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase);
    for word in words {
        let (lo, hi) = (args.len() + 1, args.len() + 2);
        sql.push_str(&format!(
            " AND ((family_key >= ${lo} AND family_key < ${hi}) \
             OR (given_key >= ${lo} AND given_key < ${hi}) \
             OR (mrn_key >= ${lo} AND mrn_key < ${hi}))"
        ));
        let upper = format!("{word}\u{10FFFF}");
        args.push(Box::new(word));
        args.push(Box::new(upper));
    }
    if let Some(after) = &query.after {
        let n = args.len();
        let after_id: Uuid = after
            .id
            .parse()
            .map_err(|_| ValidationError::new("cursor", "is not a cursor this hub gave"))?;
        sql.push_str(&format!(
            " AND (family_key, given_key, id) > (${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3
        ));
        args.push(Box::new(after.family.clone()));
        args.push(Box::new(after.given.clone()));
        args.push(Box::new(after_id));
    }
    let limit = query.limit.max(1);
    sql.push_str(&format!(
        " ORDER BY family_key, given_key, id LIMIT {}",
        u64::from(limit) + 1
    ));
    Ok((sql, args))
}

#[async_trait]
impl TenantStore for PgTenant {
    async fn create_patients(
        &self,
        patients: Vec<PatientFields>,
        actor: &Actor,
    ) -> StoreResult<Vec<Patient>> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let mut created = Vec::with_capacity(patients.len());
        for fields in patients {
            created.push(insert_patient(&tx, PatientId::generate(), fields, actor, None).await?);
        }
        tx.commit().await.db()?;
        Ok(created)
    }

    async fn patient(&self, id: PatientId, actor: &Actor) -> StoreResult<Option<Patient>> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let patient = load_live(&tx, id).await?;
        let outcome = if patient.is_some() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        audit::append(
            &tx,
            &actor.event("patient.read", outcome).entity("patient", id),
        )
        .await?;
        tx.commit().await.db()?;
        Ok(patient)
    }

    async fn search_patients(
        &self,
        query: &PatientQuery,
        actor: &Actor,
    ) -> StoreResult<Page<Patient>> {
        let (sql, args) = search_sql(query)?;
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let mut items = tx
            .query(&sql, &refs(&args))
            .await
            .db()?
            .iter()
            .map(|row| read_patient(row).map(|(p, _)| p))
            .collect::<StoreResult<Vec<_>>>()?;
        let limit = query.limit.max(1) as usize;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items.last().map(PatientCursor::after)
        } else {
            None
        };
        let ids: Vec<String> = items.iter().map(|p| p.id.to_string()).collect();
        audit::append(&tx, &search_event(actor, query.q.as_deref(), &ids)).await?;
        tx.commit().await.db()?;
        Ok(Page {
            items,
            next_cursor: next.map(|c| serde_json::to_string(&c).unwrap_or_default()),
        })
    }

    async fn update_patient(
        &self,
        id: PatientId,
        base_version: i64,
        changes: &Map<String, Value>,
        today: NaiveDate,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let Some(current) = load_live(&tx, id).await? else {
            return Ok(WriteOutcome::NotFound);
        };
        if current.version != base_version {
            audit::append(&tx, &stale_event(actor, "update", &current, base_version)).await?;
            tx.commit().await.db()?;
            return Ok(WriteOutcome::Stale(current));
        }
        let (fields, changed) = current.fields.apply(changes, today).map_err(patch_error)?;
        if changed.is_empty() {
            return Ok(WriteOutcome::Done(current));
        }
        let patient = save_update(&tx, current, fields, &changed, actor, None).await?;
        tx.commit().await.db()?;
        Ok(WriteOutcome::Done(patient))
    }

    async fn delete_patient(
        &self,
        id: PatientId,
        base_version: Option<i64>,
        actor: &Actor,
    ) -> StoreResult<WriteOutcome> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let Some(current) = load_live(&tx, id).await? else {
            return Ok(WriteOutcome::NotFound);
        };
        if let Some(base) = base_version.filter(|v| *v != current.version) {
            audit::append(&tx, &stale_event(actor, "delete", &current, base)).await?;
            tx.commit().await.db()?;
            return Ok(WriteOutcome::Stale(current));
        }
        let patient = save_delete(&tx, current, actor, None).await?;
        tx.commit().await.db()?;
        Ok(WriteOutcome::Done(patient))
    }

    async fn patient_history(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<Vec<HistoryEntry>>> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        if load_live(&tx, id).await?.is_none() {
            return Ok(None);
        }
        let entries = history::of_patient(&tx, id).await?;
        audit::append(
            &tx,
            &actor
                .event("patient.history", Outcome::Success)
                .entity("patient", id),
        )
        .await?;
        tx.commit().await.db()?;
        Ok(Some(entries))
    }

    async fn patient_report(
        &self,
        id: PatientId,
        actor: &Actor,
    ) -> StoreResult<Option<PatientReport>> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let Some((patient, deleted_at)) = load(&tx, id).await? else {
            return Ok(None);
        };
        let versions = history::of_patient(&tx, id).await?;
        let accesses = audit::of_entity(&tx, "patient", &id.to_string()).await?;
        audit::append(
            &tx,
            &actor
                .event("report.patient", Outcome::Success)
                .entity("patient", id),
        )
        .await?;
        tx.commit().await.db()?;
        Ok(Some(PatientReport {
            patient,
            deleted_at,
            versions,
            accesses,
        }))
    }

    async fn apply_ops(
        &self,
        ops: Vec<Op>,
        rules: OpRules,
        actor: &Actor,
    ) -> StoreResult<Vec<OpResult>> {
        let mut conn = self.conn().await?;
        sync::apply_batch(&mut conn, &ops, &rules, actor).await
    }

    async fn append_local_audit(
        &self,
        events: Vec<LocalAuditEvent>,
        actor: &Actor,
    ) -> StoreResult<Vec<LocalEventId>> {
        let mut conn = self.conn().await?;
        sync::append_local(&mut conn, &events, actor).await
    }

    async fn pull(&self, cursor: i64, limit: u32, actor: &Actor) -> StoreResult<PullResponse> {
        let mut conn = self.conn().await?;
        sync::pull(&mut conn, cursor, limit, actor).await
    }

    async fn snapshot(
        &self,
        actor: &Actor,
    ) -> StoreResult<mpsc::Receiver<StoreResult<Vec<SnapshotLine>>>> {
        let conn = self.conn_for(Use::Stream).await?;
        sync::snapshot(conn, actor).await
    }

    async fn export(&self) -> StoreResult<mpsc::Receiver<StoreResult<Batch>>> {
        let mut conn = self.conn_for(Use::Stream).await?;
        conn.enter("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            if let Err(err) = copy::send_all(&*conn, &tx).await {
                let _ = tx.send(Err(err)).await;
            }
            let _ = conn.leave("COMMIT").await;
        });
        Ok(rx)
    }

    async fn cursor(&self) -> StoreResult<i64> {
        let conn = self.conn().await?;
        sync::cursor(&*conn).await
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<i64> {
        let mut conn = self.conn().await?;
        let tx = begin(&mut conn).await?;
        let seq = audit::append(&tx, &event).await?;
        tx.commit().await.db()?;
        Ok(seq)
    }

    async fn verify_audit(&self) -> StoreResult<ChainReport> {
        let conn = self.conn().await?;
        audit::verify(&*conn, &self.slug).await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let conn = self.conn().await?;
        audit::of_actor(&*conn, user, limit).await
    }

    async fn status(&self) -> DatabaseStatus {
        status::of(&self.router, &self.target, &self.slug, Some(self.tenant_id)).await
    }
}
