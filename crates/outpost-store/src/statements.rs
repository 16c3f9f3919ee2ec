//! The SQL of records of any kind, made once from the kind's description for both backends:
//! their tables have the same columns, and only the placeholders (`?1` or `$1`) and the
//! parameter types differ. A statement's arguments are JSON values with the [`FieldType`]
//! each backend binds them as.

use chrono::{DateTime, Utc};
use serde_json::Value;

use outpost_domain::Kind;
use outpost_domain::ValidationError;
use outpost_domain::kind::FieldType;
use outpost_domain::record::{Changes, Record};

use crate::error::{StoreError, StoreResult};
use crate::records::{Filter, FilterOp, RecordCursor, RecordQuery};

/// How a backend writes the `n`th placeholder (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `?1` (SQLite).
    Question,
    /// `$1` (PostgreSQL).
    Dollar,
}

impl Placeholder {
    fn at(self, n: usize) -> String {
        match self {
            Placeholder::Question => format!("?{n}"),
            Placeholder::Dollar => format!("${n}"),
        }
    }
}

/// An argument: a value and the type to bind it as.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub ty: FieldType,
    pub value: Value,
}

impl Arg {
    fn text(text: impl Into<String>) -> Self {
        Self {
            ty: FieldType::Text,
            value: Value::String(text.into()),
        }
    }

    fn id(id: impl ToString) -> Self {
        Self {
            ty: FieldType::Id,
            value: Value::String(id.to_string()),
        }
    }

    fn int(n: i64) -> Self {
        Self {
            ty: FieldType::Integer,
            value: Value::from(n),
        }
    }

    fn at(at: DateTime<Utc>) -> Self {
        Self {
            ty: FieldType::Timestamp,
            value: Value::String(at.to_rfc3339()),
        }
    }

    fn opt_id(id: Option<impl ToString>) -> Self {
        Self {
            ty: FieldType::Id,
            value: id.map_or(Value::Null, |i| Value::String(i.to_string())),
        }
    }

    fn opt_text(text: Option<String>) -> Self {
        Self {
            ty: FieldType::Text,
            value: text.map_or(Value::Null, Value::String),
        }
    }
}

/// SQL and its arguments, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Statement {
    fn new(sql: String) -> Self {
        Self {
            sql,
            args: Vec::new(),
        }
    }

    /// Adds an argument and answers its placeholder.
    fn bind(&mut self, mark: Placeholder, arg: Arg) -> String {
        self.args.push(arg);
        mark.at(self.args.len())
    }
}

/// The bookkeeping columns that precede the fields in [`select`].
pub const META_COLUMNS: usize = 6;

/// `SELECT` of every column of `kind`'s table: id, version, created_at, updated_at,
/// updated_by, deleted_at, then the fields in the kind's order.
pub fn select(kind: &Kind) -> String {
    let fields = kind
        .fields
        .iter()
        .map(|f| quoted(f.name))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT id, version, created_at, updated_at, updated_by, deleted_at, {fields} FROM {}",
        kind.table
    )
}

/// The kind's list order: its order columns, then the id.
pub fn order(kind: &Kind) -> String {
    kind.order
        .iter()
        .map(|c| quoted(c))
        .chain(["id".to_owned()])
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(column: &str) -> String {
    format!("\"{column}\"")
}

/// The type a column of the kind is bound as (a field's own, or text for a search key).
fn column_type(kind: &Kind, column: &str) -> FieldType {
    kind.field(column).map_or(FieldType::Text, |f| f.ty)
}

/// Live records matching `query`, in the kind's order, one more than the limit (so that the
/// caller knows whether more follow).
pub fn list(kind: &Kind, query: &RecordQuery, mark: Placeholder) -> StoreResult<Statement> {
    let mut statement = Statement::new(format!("{} WHERE deleted_at IS NULL", select(kind)));
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    if !words.is_empty() && kind.search.is_empty() {
        return Err(StoreError::Invalid(ValidationError::malformed(
            "q",
            "this kind of record is not searched by words",
        )));
    }
    for word in words {
        let lo = statement.bind(mark, Arg::text(word.clone()));
        let hi = statement.bind(mark, Arg::text(format!("{word}\u{10FFFF}")));
        let any = kind
            .search
            .iter()
            .map(|k| format!("({c} >= {lo} AND {c} < {hi})", c = k.column))
            .collect::<Vec<_>>()
            .join(" OR ");
        statement.sql.push_str(&format!(" AND ({any})"));
    }
    for Filter { field, op, value } in &query.filters {
        let (op, arg) = match op {
            FilterOp::Equals => ("=", None),
            FilterOp::AtLeast => (">=", None),
            FilterOp::Before => ("<", None),
            // A list of ids is stored as JSON text: the id, quoted, is in it.
            FilterOp::Contains => (
                "LIKE",
                Some(Arg::text(format!(
                    "%\"{}\"%",
                    value.as_str().unwrap_or_default()
                ))),
            ),
        };
        let arg = arg.unwrap_or_else(|| Arg {
            ty: column_type(kind, field),
            value: value.clone(),
        });
        let at = statement.bind(mark, arg);
        statement
            .sql
            .push_str(&format!(" AND {} {op} {at}", quoted(field)));
    }
    if let Some(RecordCursor { keys, id }) = &query.after {
        if keys.len() != kind.order.len() {
            return Err(StoreError::Invalid(ValidationError::malformed(
                "cursor",
                "does not continue a listing of this kind",
            )));
        }
        let mut marks = Vec::with_capacity(keys.len() + 1);
        for (column, key) in kind.order.iter().zip(keys) {
            let ty = column_type(kind, column);
            if !fits(ty, key) {
                return Err(StoreError::Invalid(ValidationError::malformed(
                    "cursor",
                    "does not continue a listing of this kind",
                )));
            }
            let arg = Arg {
                ty,
                value: key.clone(),
            };
            marks.push(statement.bind(mark, arg));
        }
        marks.push(statement.bind(mark, Arg::id(id)));
        statement
            .sql
            .push_str(&format!(" AND ({}) > ({})", order(kind), marks.join(", ")));
    }
    statement.sql.push_str(&format!(
        " ORDER BY {} LIMIT {}",
        order(kind),
        u64::from(query.limit.max(1)) + 1
    ));
    Ok(statement)
}

/// Whether a cursor's key can be bound as a column of type `ty` (a cursor comes from a
/// client: a wrong one is the client's error, not the store's).
fn fits(ty: FieldType, value: &Value) -> bool {
    match (ty, value) {
        (_, Value::Null) => false,
        (FieldType::Text | FieldType::Json, Value::String(_)) => true,
        (FieldType::Id, Value::String(s)) => s.parse::<uuid::Uuid>().is_ok(),
        (FieldType::Date, Value::String(s)) => s.parse::<chrono::NaiveDate>().is_ok(),
        (FieldType::Timestamp, Value::String(s)) => DateTime::parse_from_rfc3339(s).is_ok(),
        (FieldType::Bool, Value::Bool(_)) => true,
        (FieldType::Integer, Value::Number(n)) => n.is_i64(),
        (FieldType::Real, Value::Number(_)) => true,
        _ => false,
    }
}

/// Inserts `record` (its first version): every column, the search keys included.
pub fn insert(kind: &Kind, record: &Record, mark: Placeholder) -> Statement {
    let mut statement = Statement::new(String::new());
    let mut columns: Vec<String> = ["id", "version", "created_at", "updated_at", "updated_by"]
        .map(str::to_owned)
        .to_vec();
    let mut marks = vec![
        statement.bind(mark, Arg::id(record.id)),
        statement.bind(mark, Arg::int(record.version)),
        statement.bind(mark, Arg::at(record.created_at)),
        statement.bind(mark, Arg::at(record.updated_at)),
        statement.bind(mark, Arg::opt_id(record.updated_by)),
    ];
    for field in kind.fields {
        columns.push(quoted(field.name));
        let value = record
            .fields
            .get(field.name)
            .cloned()
            .unwrap_or(Value::Null);
        marks.push(statement.bind(
            mark,
            Arg {
                ty: field.ty,
                value,
            },
        ));
    }
    for (key, value) in kind.search.iter().zip(kind.search_values(&record.fields)) {
        columns.push(key.column.to_owned());
        marks.push(statement.bind(mark, Arg::opt_text(value)));
    }
    statement.sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        kind.table,
        columns.join(", "),
        marks.join(", ")
    );
    statement
}

/// Writes `record`'s new version: the bookkeeping, the changed columns and the search keys of
/// changed fields only, since an index whose columns are assigned is rewritten even when the
/// value stays the same.
pub fn update(kind: &Kind, record: &Record, changes: &Changes, mark: Placeholder) -> Statement {
    let mut statement = Statement::new(String::new());
    let mut assignments = vec![
        format!(
            "version = {}",
            statement.bind(mark, Arg::int(record.version))
        ),
        format!(
            "updated_at = {}",
            statement.bind(mark, Arg::at(record.updated_at))
        ),
        format!(
            "updated_by = {}",
            statement.bind(mark, Arg::opt_id(record.updated_by))
        ),
    ];
    for field in kind.fields.iter().filter(|f| changes.contains_key(f.name)) {
        let value = record
            .fields
            .get(field.name)
            .cloned()
            .unwrap_or(Value::Null);
        let at = statement.bind(
            mark,
            Arg {
                ty: field.ty,
                value,
            },
        );
        assignments.push(format!("{} = {at}", quoted(field.name)));
    }
    for (key, value) in kind.search.iter().zip(kind.search_values(&record.fields)) {
        if changes.contains_key(key.field) {
            let at = statement.bind(mark, Arg::opt_text(value));
            assignments.push(format!("{} = {at}", key.column));
        }
    }
    let id = statement.bind(mark, Arg::id(record.id));
    statement.sql = format!(
        "UPDATE {} SET {} WHERE id = {id}",
        kind.table,
        assignments.join(", ")
    );
    statement
}

/// Tombstones `record` at its new version.
pub fn delete(kind: &Kind, record: &Record, mark: Placeholder) -> Statement {
    let mut statement = Statement::new(String::new());
    let version = statement.bind(mark, Arg::int(record.version));
    let at = statement.bind(mark, Arg::at(record.updated_at));
    let by = statement.bind(mark, Arg::opt_id(record.updated_by));
    let id = statement.bind(mark, Arg::id(record.id));
    statement.sql = format!(
        "UPDATE {} SET version = {version}, updated_at = {at}, updated_by = {by}, \
         deleted_at = {at} WHERE id = {id}",
        kind.table
    );
    statement
}
