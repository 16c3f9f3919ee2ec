//! `outpost-hub import`: bulk load of any kind of record from CSV, driven by the kind's
//! description. Every row is read and checked on its own (a rejected row is reported with its
//! line, column and reason, and the others still load); rows become create ops with an id
//! derived from the row's own key, written through the store's sync path in batches (history,
//! audit and change feed for each), so a second run finds them and skips them.
//!
//! Formats: `kind` (the default), a header of the kind's field names (and optionally `id`);
//! `stroke-dataset`, the public stroke-risk data set's layout ([`stroke`]).

pub mod stroke;

use std::collections::BTreeMap;
use std::io::Read;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use outpost_domain::audit::Actor;
use outpost_domain::kind::{FieldType, Kind};
use outpost_domain::record::PatchError;
use outpost_domain::roles::Permission;
use outpost_domain::sync::{Op, OpAction, OpRules, OpStatus, SCHEMA_VERSION};
use outpost_domain::{Entity, OpId, RecordId};
use outpost_store::TenantStore;

use crate::error::ApiError;

/// Rows per batch: one transaction and one existence check each.
const BATCH: usize = 1000;

/// How the rows of a file are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A header of the kind's own field names (and optionally `id`).
    Kind,
    /// The public stroke-risk data set: patients only.
    StrokeDataset,
}

/// A row that was not loaded, and why (never its values: they may be PHI).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// The line of the file (the header is line 1).
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
}

impl Rejected {
    pub fn new(line: u64, column: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            line,
            column: column.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub rows: u64,
    pub imported: u64,
    /// Rows an earlier run already imported.
    pub skipped: u64,
    pub rejected: Vec<Rejected>,
    pub dry_run: bool,
}

/// A row ready to load: its id (from its key) and canonical fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub id: RecordId,
    pub fields: Map<String, Value>,
}

/// The id of the record a row becomes: the same row key always gives the same id, so that a
/// second run recognises what the first loaded.
pub fn row_id(entity: Entity, key: &str) -> RecordId {
    let digest = Sha256::digest(format!("outpost-import\u{0}{}\u{0}{key}", entity.as_str()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RecordId::from_uuid(uuid::Uuid::new_v8(bytes))
}

/// A row's fields checked as the kind's (canonical form, rules, a creation's rule).
pub fn checked(
    kind: &Kind,
    line: u64,
    fields: &Map<String, Value>,
    today: NaiveDate,
) -> Result<Map<String, Value>, Rejected> {
    let canonical = kind.canonical(fields, today).map_err(|err| match err {
        PatchError::Invalid(v) => Rejected::new(line, Some(&v.field), v.rule),
        PatchError::Shape(message) => {
            let column = message.split('`').nth(1).map(str::to_owned);
            Rejected {
                line,
                column,
                reason: message,
            }
        }
    })?;
    kind.check_rule(None, &canonical)
        .map_err(|r| Rejected::new(line, None, r.message))?;
    Ok(canonical)
}

/// The rows of a file in the kind's own layout.
pub fn kind_rows(
    entity: Entity,
    input: impl Read,
    today: NaiveDate,
) -> Result<impl Iterator<Item = Result<Row, Rejected>>, ApiError> {
    let kind = entity.kind();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::invalid(format!("the file has no CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if let Some(unknown) = header
        .iter()
        .find(|h| *h != "id" && kind.field(h).is_none())
    {
        return Err(ApiError::invalid(format!(
            "column `{unknown}` is not a field of {}",
            entity.as_str()
        )));
    }
    let unique = kind.unique.first().map(|u| u.field);
    Ok(reader.into_records().map(move |record| {
        let record = record.map_err(|e| {
            Rejected::new(e.position().map_or(0, |p| p.line()), None, "not a CSV row")
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(Rejected::new(
                line,
                None,
                format!(
                    "{} columns where the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
        }
        let mut fields = Map::new();
        let mut explicit_id = None;
        for (name, cell) in header.iter().zip(record.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            if name == "id" {
                explicit_id = Some(
                    cell.parse::<RecordId>()
                        .map_err(|_| Rejected::new(line, Some("id"), "is not a UUID"))?,
                );
                continue;
            }
            let field = kind
                .field(name)
                .ok_or_else(|| Rejected::new(line, Some(name), "unknown"))?;
            fields.insert(
                name.clone(),
                cell_value(field.ty, cell)
                    .map_err(|reason| Rejected::new(line, Some(name), reason))?,
            );
        }
        let fields = checked(kind, line, &fields, today)?;
        let key = match (
            explicit_id,
            unique.and_then(|u| fields.get(u)).and_then(Value::as_str),
        ) {
            (Some(id), _) => return Ok(Row { line, id, fields }),
            (None, Some(key)) => key.to_lowercase(),
            (None, None) => record.iter().collect::<Vec<_>>().join("\u{1f}"),
        };
        Ok(Row {
            line,
            id: row_id(entity, &key),
            fields,
        })
    }))
}

/// A cell as the JSON its field takes (the kind's rules check it further).
fn cell_value(ty: FieldType, cell: &str) -> Result<Value, String> {
    Ok(match ty {
        FieldType::Text | FieldType::Date | FieldType::Timestamp | FieldType::Id => {
            Value::String(cell.to_owned())
        }
        FieldType::Bool => Value::Bool(match cell.to_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => return Err("is not true/false, yes/no or 1/0".into()),
        }),
        FieldType::Integer => {
            Value::from(cell.parse::<i64>().map_err(|_| "is not a whole number")?)
        }
        FieldType::Real => Value::from(cell.parse::<f64>().map_err(|_| "is not a number")?),
        FieldType::Json => serde_json::from_str(cell).map_err(|_| "is not JSON")?,
    })
}

/// Loads `rows` into `db`: each batch's rows already present are skipped, the others are
/// written as create ops (`dry_run`: checked and counted, nothing written). `progress` gets
/// the rows read so far.
pub async fn load(
    db: &dyn TenantStore,
    entity: Entity,
    rows: impl Iterator<Item = Result<Row, Rejected>>,
    dry_run: bool,
    actor: &Actor,
    mut progress: impl FnMut(u64),
) -> Result<Report, ApiError> {
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    let rules = OpRules {
        permissions: Permission::ALL.iter().copied().collect(),
        user: None,
        today: actor.at.date_naive(),
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut rows = rows.peekable();
    while let Some(row) = rows.next() {
        report.rows += 1;
        match row {
            Ok(row) => batch.push(row),
            Err(rejected) => report.rejected.push(rejected),
        }
        if batch.len() == BATCH || (rows.peek().is_none() && !batch.is_empty()) {
            write(
                db,
                entity,
                std::mem::take(&mut batch),
                &rules,
                dry_run,
                actor,
                &mut report,
            )
            .await?;
            progress(report.rows);
        }
    }
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

async fn write(
    db: &dyn TenantStore,
    entity: Entity,
    batch: Vec<Row>,
    rules: &OpRules,
    dry_run: bool,
    actor: &Actor,
    report: &mut Report,
) -> Result<(), ApiError> {
    let ids: Vec<RecordId> = batch.iter().map(|r| r.id).collect();
    let present = db.existing(entity, &ids).await?;
    // A key twice in one file: the first row loads, the next are duplicates.
    let mut seen = BTreeMap::new();
    let mut fresh = Vec::with_capacity(batch.len());
    for row in batch {
        if present.contains(&row.id) {
            report.skipped += 1;
        } else if let Some(first) = seen.insert(row.id, row.line) {
            report.rejected.push(Rejected::new(
                row.line,
                None,
                format!("the same record as line {first}"),
            ));
        } else {
            fresh.push(row);
        }
    }
    if dry_run {
        report.imported += fresh.len() as u64;
        return Ok(());
    }
    let lines: Vec<u64> = fresh.iter().map(|r| r.line).collect();
    let ops: Vec<Op> = fresh
        .into_iter()
        .map(|row| Op {
            op_id: OpId::generate(),
            entity,
            record_id: row.id,
            action: OpAction::Create,
            base_version: None,
            fields: row.fields,
            client_time: actor.at,
            schema_version: SCHEMA_VERSION,
        })
        .collect();
    if ops.is_empty() {
        return Ok(());
    }
    let results = db.apply_ops(ops, rules.clone(), actor).await?;
    for (line, result) in lines.into_iter().zip(results) {
        match (result.status, result.error) {
            (OpStatus::Applied | OpStatus::Merged, _) => report.imported += 1,
            (_, Some(error)) => report.rejected.push(Rejected::new(
                line,
                None,
                format!("{} ({})", error.message, error.code),
            )),
            (status, None) => report.rejected.push(Rejected::new(
                line,
                None,
                format!("not applied ({status:?})"),
            )),
        }
    }
    Ok(())
}
