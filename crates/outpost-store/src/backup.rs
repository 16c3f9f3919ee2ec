//! Tenant backups: every row of one tenant's database in a backend-neutral form, and the
//! encrypted file that carries them.
//!
//! Both backends have the same tables and column names (only the SQL types differ), so a row
//! travels as one JSON value per column, typed by [`Kind`]. A backup taken on the embedded
//! backend restores on PostgreSQL and the other way round, and a `move` between servers is
//! the same copy without the file.
//!
//! The file: one plain header line (`OUTPOST-TENANT-BACKUP 1 <salt>`, no tenant data), then
//! frames of `u32` length, 24-byte nonce and XChaCha20-Poly1305 ciphertext of one [`Record`].
//! The key derives from the hub's master key and the file's random salt; each frame's
//! associated data binds the header, the frame's position and whether it is the last, so
//! frames cannot be reordered, dropped or cut off without the reader noticing.

use std::io::{ErrorKind, Read, Write};
use std::sync::LazyLock;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use outpost_domain::kind::FieldType;
use outpost_domain::tenant::Tenant;
use outpost_domain::{Entity, Role, UserId};

use crate::keys::{Key, MasterKey, random_key};
use crate::{StoreError, StoreResult};

/// How a column's values travel: the JSON shape each backend converts to and from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A UUID as hyphenated text.
    Uuid,
    Text,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A UTC time, RFC 3339 with microseconds (the embedded backend's own text form).
    Time,
    Bool,
    Int,
    Real,
}

/// One table of the tenant database, as a backup carries it.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The unique column rows are read in order of (so that a copy is repeatable).
    pub order_by: &'static str,
    /// A column the database numbers itself, whose sequence must be moved past the restored
    /// rows (PostgreSQL identity columns).
    pub identity: Option<&'static str>,
    pub columns: &'static [(&'static str, Kind)],
}

impl Table {
    /// The column names, quoted and comma-separated, in the order rows carry them.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use Kind::{Bool, Date, Int, Real, Text, Time, Uuid};

/// Every table of a tenant database, parents before children: each kind's records and
/// history (from its description), then the change feed, the applied ops and the audit chain.
pub static TABLES: LazyLock<Vec<Table>> = LazyLock::new(|| {
    let mut tables = Vec::new();
    for entity in Entity::ALL {
        let kind = entity.kind();
        let mut columns = vec![("id", Uuid)];
        columns.extend(kind.fields.iter().map(|f| (f.name, column_kind(f.ty))));
        columns.extend([
            ("version", Int),
            ("created_at", Time),
            ("updated_at", Time),
            ("updated_by", Uuid),
            ("deleted_at", Time),
        ]);
        columns.extend(kind.search.iter().map(|k| (k.column, Text)));
        tables.push(Table {
            name: kind.table,
            order_by: "id",
            identity: None,
            columns: columns.leak(),
        });
        tables.push(Table {
            name: kind.history_table,
            order_by: "id",
            identity: Some("id"),
            columns: vec![
                ("id", Int),
                (kind.history_key, Uuid),
                ("version", Int),
                ("action", Text),
                ("changes", Text),
                ("actor_user_id", Uuid),
                ("session_id", Uuid),
                ("device_id", Uuid),
                ("at", Time),
                ("client_time", Time),
            ]
            .leak(),
        });
    }
    tables.extend([CHANGE_FEED_TABLE, APPLIED_OPS_TABLE, AUDIT_TABLE]);
    tables
});

/// How a field of a kind travels in a backup.
fn column_kind(ty: FieldType) -> Kind {
    match ty {
        FieldType::Text | FieldType::Json => Text,
        FieldType::Date => Date,
        FieldType::Timestamp => Time,
        FieldType::Bool => Bool,
        FieldType::Real => Real,
        FieldType::Integer => Int,
        FieldType::Id => Uuid,
    }
}

/// Pushed ops and uploaded events already applied, with their answers.
pub const APPLIED_OPS_TABLE: Table = Table {
    name: "applied_ops",
    order_by: "op_id",
    identity: None,
    columns: &[
        ("op_id", Uuid),
        ("kind", Text),
        ("device_id", Uuid),
        ("user_id", Uuid),
        ("received_at", Time),
        ("result", Text),
    ],
};

/// The change feed: a copy that ends with the same last entry missed no change.
pub const CHANGE_FEED_TABLE: Table = Table {
    name: "change_feed",
    order_by: "seq",
    identity: Some("seq"),
    columns: &[
        ("seq", Int),
        ("entity", Text),
        ("entity_id", Text),
        ("version", Int),
        ("action", Text),
        ("at", Time),
    ],
};

/// The tenant's audit chain, last so that a copy can add the events appended meanwhile.
pub const AUDIT_TABLE: Table = Table {
    name: "audit_events",
    order_by: "seq",
    identity: None,
    columns: &[
        ("seq", Int),
        ("at", Time),
        ("tenant_id", Uuid),
        ("actor_user_id", Uuid),
        ("actor_role", Text),
        ("session_id", Uuid),
        ("device_id", Uuid),
        ("ip", Text),
        ("action", Text),
        ("entity", Text),
        ("entity_id", Text),
        ("outcome", Text),
        ("details", Text),
        ("prev_hash", Text),
        ("hash", Text),
    ],
};

/// The table named `name`, for rows coming from a file.
pub fn table(name: &str) -> StoreResult<&'static Table> {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown table {name} in backup")))
}

/// Rows of one table, each one value per column in [`Table::columns`] order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub table: String,
    pub rows: Vec<Vec<Value>>,
}

impl Batch {
    /// Checks that every row has the table's width, before anything is written.
    pub fn checked(&self) -> StoreResult<&'static Table> {
        let table = table(&self.table)?;
        if self.rows.iter().any(|r| r.len() != table.columns.len()) {
            return Err(StoreError::Corrupt(format!(
                "a row of {} in the backup has the wrong number of columns",
                table.name
            )));
        }
        Ok(table)
    }
}

/// The rows a copy reads at once.
pub const BATCH_ROWS: usize = 1000;

/// The time text every backend exchanges.
pub fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parses a [`Kind::Time`] value.
pub fn parse_time(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a time in the backup is not RFC 3339".into()))
}

/// One value on its way between a backend and a backup: checked against its column's
/// [`Kind`] when read from a file, so that a backend only binds values of the right type.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Uuid(uuid::Uuid),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Bool(bool),
    Int(i64),
    Real(f64),
}

impl Cell {
    /// The value of a `kind` column in a backup; `Corrupt` when it does not fit.
    pub fn from_json(value: &Value, kind: Kind) -> StoreResult<Cell> {
        let wrong =
            || StoreError::Corrupt(format!("a {kind:?} value in the backup does not parse"));
        Ok(match (value, kind) {
            (Value::Null, _) => Cell::Null,
            (Value::String(s), Kind::Text) => Cell::Text(s.clone()),
            (Value::String(s), Kind::Uuid) => Cell::Uuid(s.parse().map_err(|_| wrong())?),
            (Value::String(s), Kind::Date) => Cell::Date(s.parse().map_err(|_| wrong())?),
            (Value::String(s), Kind::Time) => Cell::Time(parse_time(s)?),
            (Value::Bool(b), Kind::Bool) => Cell::Bool(*b),
            (Value::Number(n), Kind::Int) => Cell::Int(n.as_i64().ok_or_else(wrong)?),
            (Value::Number(n), Kind::Real) => Cell::Real(n.as_f64().ok_or_else(wrong)?),
            _ => return Err(wrong()),
        })
    }

    /// The value as a backup carries it.
    pub fn into_json(self) -> StoreResult<Value> {
        Ok(match self {
            Cell::Null => Value::Null,
            Cell::Text(s) => Value::String(s),
            Cell::Uuid(u) => Value::String(u.to_string()),
            Cell::Date(d) => Value::String(d.to_string()),
            Cell::Time(t) => Value::String(time_text(t)),
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::from(i),
            Cell::Real(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| StoreError::Corrupt("a stored number is not finite".into()))?,
        })
    }
}

/// The rows of a batch as cells, checked against its table.
pub fn cells(batch: &Batch) -> StoreResult<(&'static Table, Vec<Vec<Cell>>)> {
    let table = batch.checked()?;
    let rows = batch
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(table.columns)
                .map(|(value, (_, kind))| Cell::from_json(value, *kind))
                .collect()
        })
        .collect::<StoreResult<_>>()?;
    Ok((table, rows))
}

/// A member of the tenant when the backup was taken; memberships live centrally and are
/// given back on restore to the users that still exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub user_id: UserId,
    pub role: Role,
}

/// What a backup file holds, in order: one `Tenant`, any number of `Rows`, one `End`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Tenant {
        tenant: Tenant,
        schema_version: i64,
        members: Vec<MemberEntry>,
        taken_at: DateTime<Utc>,
    },
    Rows(Batch),
    End {
        rows: u64,
    },
}

const MAGIC: &str = "OUTPOST-TENANT-BACKUP";
const FORMAT_VERSION: u32 = 1;
const NONCE_LEN: usize = 24;
/// No record is near this; a larger length means a damaged file, not a reason to allocate.
const MAX_FRAME: usize = 64 << 20;

fn cipher(master: &MasterKey, salt: &[u8]) -> XChaCha20Poly1305 {
    let key: Key = master.backup_key(salt);
    XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.as_slice()))
}

fn frame_aad(header: &[u8], index: u64, last: bool) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

fn encode_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("cannot encode backup record: {err}"))
}

/// Writes a backup file: [`BackupWriter::tenant`], then [`BackupWriter::rows`] per batch,
/// then [`BackupWriter::finish`]. A file without its final frame does not restore.
pub struct BackupWriter<W: Write> {
    out: W,
    cipher: XChaCha20Poly1305,
    header: Vec<u8>,
    index: u64,
    rows: u64,
}

impl<W: Write> BackupWriter<W> {
    /// Starts a file with a fresh salt, so that every backup has its own key.
    pub fn new(mut out: W, master: &MasterKey) -> StoreResult<Self> {
        let salt = random_key();
        let header = format!("{MAGIC} {FORMAT_VERSION} {}\n", hex::encode(*salt)).into_bytes();
        out.write_all(&header)?;
        Ok(Self {
            out,
            cipher: cipher(master, salt.as_slice()),
            header,
            index: 0,
            rows: 0,
        })
    }

    pub fn tenant(
        &mut self,
        tenant: &Tenant,
        schema_version: i64,
        members: Vec<MemberEntry>,
        taken_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.frame(
            &Record::Tenant {
                tenant: tenant.clone(),
                schema_version,
                members,
                taken_at,
            },
            false,
        )
    }

    pub fn rows(&mut self, batch: Batch) -> StoreResult<()> {
        self.rows += batch.rows.len() as u64;
        self.frame(&Record::Rows(batch), false)
    }

    /// Writes the final frame and flushes; returns the number of rows written.
    pub fn finish(mut self) -> StoreResult<(W, u64)> {
        let rows = self.rows;
        self.frame(&Record::End { rows }, true)?;
        self.out.flush()?;
        Ok((self.out, rows))
    }

    fn frame(&mut self, record: &Record, last: bool) -> StoreResult<()> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(record).map_err(encode_error)?);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &frame_aad(&self.header, self.index, last),
                },
            )
            .map_err(encode_error)?;
        let len = u32::try_from(NONCE_LEN + sealed.len()).map_err(encode_error)?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&nonce)?;
        self.out.write_all(&sealed)?;
        self.index += 1;
        Ok(())
    }
}

/// Writes the batches of an export into `writer` until the export ends, then the final frame;
/// returns the output and the rows written per table.
pub async fn write_rows<W: Write>(
    mut writer: BackupWriter<W>,
    mut rows: tokio::sync::mpsc::Receiver<StoreResult<Batch>>,
) -> StoreResult<(W, std::collections::BTreeMap<String, u64>)> {
    let mut per_table = std::collections::BTreeMap::new();
    while let Some(batch) = rows.recv().await {
        let batch = batch?;
        *per_table.entry(batch.table.clone()).or_default() += batch.rows.len() as u64;
        writer.rows(batch)?;
    }
    let (out, _) = writer.finish()?;
    Ok((out, per_table))
}

/// Reads a backup file record by record, refusing one that was altered, cut short or made
/// under another master key.
pub struct BackupReader<R: Read> {
    input: R,
    cipher: XChaCha20Poly1305,
    header: Vec<u8>,
    index: u64,
    rows: u64,
    done: bool,
}

impl<R: Read> BackupReader<R> {
    pub fn new(mut input: R, master: &MasterKey) -> StoreResult<Self> {
        let mut header = Vec::new();
        let mut byte = [0u8; 1];
        while header.last() != Some(&b'\n') {
            if header.len() > 200 || input.read(&mut byte)? == 0 {
                return Err(StoreError::UnusableBackup("no backup header"));
            }
            header.push(byte[0]);
        }
        let text = std::str::from_utf8(&header)
            .map_err(|_| StoreError::UnusableBackup("no backup header"))?;
        let mut parts = text.trim_end().split(' ');
        if parts.next() != Some(MAGIC) {
            return Err(StoreError::UnusableBackup("no backup header"));
        }
        if parts.next() != Some(&FORMAT_VERSION.to_string()) {
            return Err(StoreError::UnusableBackup("unknown format version"));
        }
        let salt = parts
            .next()
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| StoreError::UnusableBackup("bad salt"))?;
        Ok(Self {
            input,
            cipher: cipher(master, &salt),
            header,
            index: 0,
            rows: 0,
            done: false,
        })
    }

    /// The row batches after the `Tenant` record, read on a blocking thread as a restore
    /// consumes them; a damaged file ends the stream with its error. The task answers how
    /// many rows were read.
    pub fn into_rows(
        mut self,
    ) -> (
        tokio::sync::mpsc::Receiver<StoreResult<Batch>>,
        tokio::task::JoinHandle<u64>,
    )
    where
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let reading = tokio::task::spawn_blocking(move || {
            let mut rows = 0u64;
            loop {
                let record = match self.next_record() {
                    Ok(Some(Record::Rows(batch))) => {
                        rows += batch.rows.len() as u64;
                        Ok(batch)
                    }
                    Ok(_) => return rows,
                    Err(err) => Err(err),
                };
                let failed = record.is_err();
                if tx.blocking_send(record).is_err() || failed {
                    return rows;
                }
            }
        });
        (rx, reading)
    }

    /// The next record; `None` after the final one. The first is always `Tenant`.
    pub fn next_record(&mut self) -> StoreResult<Option<Record>> {
        if self.done {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => {
                return Err(StoreError::UnusableBackup(
                    "it ends before its last frame (truncated)",
                ));
            }
            other => other?,
        }
        let len = u32::from_be_bytes(len) as usize;
        if !(NONCE_LEN..=MAX_FRAME).contains(&len) {
            return Err(StoreError::UnusableBackup("bad frame length"));
        }
        let mut frame = vec![0u8; len];
        self.input.read_exact(&mut frame).map_err(|err| {
            if err.kind() == ErrorKind::UnexpectedEof {
                StoreError::UnusableBackup("it ends inside a frame (truncated)")
            } else {
                err.into()
            }
        })?;
        let (nonce, body) = frame.split_at(NONCE_LEN);
        let open = |last| {
            self.cipher.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &frame_aad(&self.header, self.index, last),
                },
            )
        };
        let (plain, last) = match open(false) {
            Ok(plain) => (plain, false),
            Err(_) => (
                open(true).map_err(|_| {
                    StoreError::UnusableBackup(
                        "it was altered, or made by a hub with another master key",
                    )
                })?,
                true,
            ),
        };
        let plain = zeroize::Zeroizing::new(plain);
        let record: Record = serde_json::from_slice(&plain)
            .map_err(|_| StoreError::UnusableBackup("a record does not parse"))?;
        let expected_first = self.index == 0;
        self.index += 1;
        match (&record, expected_first, last) {
            (Record::Tenant { .. }, true, false) => {}
            (Record::Rows(batch), false, false) => self.rows += batch.rows.len() as u64,
            (Record::End { rows }, false, true) if *rows == self.rows => self.done = true,
            _ => return Err(StoreError::UnusableBackup("its records are out of order")),
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_domain::TenantId;
    use outpost_domain::TenantKind;
    use outpost_domain::tenant::TenantStatus;

    fn sample_tenant() -> Tenant {
        Tenant {
            id: TenantId::generate(),
            slug: "clinic".into(),
            name: "Clinic".into(),
            kind: TenantKind::Clinic,
            status: TenantStatus::Active,
            read_only: false,
            created_at: Utc::now(),
        }
    }

    fn written(master: &MasterKey) -> Vec<u8> {
        let mut writer = BackupWriter::new(Vec::new(), master).expect("writer");
        writer
            .tenant(&sample_tenant(), 3, Vec::new(), Utc::now())
            .expect("tenant");
        for n in 0..3 {
            writer
                .rows(Batch {
                    table: "change_feed".into(),
                    rows: vec![vec![Value::from(n), Value::from("Secretname")]],
                })
                .expect("rows");
        }
        writer.finish().expect("finish").0
    }

    fn read_all(bytes: &[u8], master: &MasterKey) -> StoreResult<Vec<Record>> {
        let mut reader = BackupReader::new(bytes, master)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    fn master(dir: &tempfile::TempDir, name: &str) -> MasterKey {
        MasterKey::create(&dir.path().join(name)).expect("master key")
    }

    #[test]
    fn a_backup_reads_back_and_holds_no_plain_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = master(&dir, "a.key");
        let bytes = written(&key);
        assert!(!bytes.windows(10).any(|w| w == b"Secretname"));
        let records = read_all(&bytes, &key).expect("read");
        assert_eq!(records.len(), 5);
        assert_eq!(records[4], Record::End { rows: 3 });
    }

    #[test]
    fn a_cut_altered_or_foreign_backup_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = master(&dir, "a.key");
        let bytes = written(&key);
        let cut = &bytes[..bytes.len() - 10];
        assert!(read_all(cut, &key).is_err());
        let mut altered = bytes.clone();
        let at = altered.len() - 5;
        altered[at] ^= 1;
        assert!(read_all(&altered, &key).is_err());
        assert!(read_all(&bytes, &master(&dir, "b.key")).is_err());
    }
}
