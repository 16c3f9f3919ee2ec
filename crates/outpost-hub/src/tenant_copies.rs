//! One tenant's database to an encrypted backup file and back, shared by the command line
//! (`outpost-hub tenant backup|restore`, files on the hub's machine) and the API
//! (`POST /v1/tenants/{id}/backup`, `POST /v1/tenants/restore`, the file as the body).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde_json::json;
use tokio::sync::mpsc;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::Tenant;
use outpost_store::backup::{BackupReader, BackupWriter, Batch, MemberEntry, Record, write_rows};
use outpost_store::keys::MasterKey;
use outpost_store::{Store, StoreError, StoreResult};

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupSummary {
    pub schema_version: i64,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
}

/// What a restore brought back.
#[derive(Debug)]
pub struct Restored {
    pub tenant: Tenant,
    pub rows: u64,
    /// Members whose account exists on this hub, given their roles back.
    pub members: usize,
    /// Members of the backup without an account on this hub.
    pub missing: usize,
}

/// Called with the number of rows in each batch as it goes by (a progress bar).
pub type Progress = Box<dyn Fn(u64) + Send>;

/// Writes `tenant`'s whole database to `out`, encrypted under a key derived from the master
/// key. The backup is audited first (`via` says how it was asked for), in the tenant's own
/// chain, so that the file records that it was taken, and in the central chain, where an
/// auditor finds every copy taken of any tenant. On error `out` holds an unusable partial
/// file.
pub async fn write_backup<W: Write>(
    store: &dyn Store,
    master: &MasterKey,
    tenant: &Tenant,
    out: W,
    actor: &Actor,
    via: &str,
    progress: Progress,
) -> StoreResult<(W, BackupSummary)> {
    let tenant_store = store.tenant(tenant.id).await?;
    let schema_version = tenant_store
        .status()
        .await
        .schema_version
        .ok_or_else(|| StoreError::Corrupt("the tenant's database does not answer".into()))?;
    let members = store
        .central()
        .members(Some(tenant.id))
        .await?
        .into_iter()
        .map(|m| MemberEntry {
            user_id: m.id,
            role: m.role,
        })
        .collect::<Vec<_>>();
    let mut event = actor
        .event("tenant.backup", Outcome::Success)
        .entity("tenant", tenant.id)
        .details(json!({ "via": via }));
    event.tenant_id = Some(tenant.id);
    tenant_store.append_audit(event.clone()).await?;
    store.central().append_audit(event).await?;
    let mut writer = BackupWriter::new(out, master)?;
    writer.tenant(tenant, schema_version, members, actor.at)?;
    let rows = counted(tenant_store.export().await?, progress);
    let (out, rows) = write_rows(writer, rows).await?;
    Ok((
        out,
        BackupSummary {
            schema_version,
            rows,
        },
    ))
}

/// Recreates the tenant a backup holds, under its own id and slug (refused while either is
/// registered), gives its members back their roles, and audits the restore centrally and in
/// the tenant's chain. A damaged file or a file made under another master key registers
/// nothing.
pub async fn restore_backup<R: Read + Send + 'static>(
    store: &dyn Store,
    master: &MasterKey,
    input: R,
    actor: &Actor,
    via: &str,
    progress: Progress,
) -> StoreResult<Restored> {
    let mut reader = BackupReader::new(input, master)?;
    let Some(Record::Tenant {
        tenant,
        members,
        taken_at,
        ..
    }) = reader.next_record()?
    else {
        return Err(StoreError::UnusableBackup(
            "it does not start with a tenant",
        ));
    };
    let (rx, reading) = reader.into_rows();
    let event = actor
        .event("tenant.restore", Outcome::Success)
        .details(json!({ "slug": tenant.slug, "taken_at": taken_at, "via": via }));
    store
        .restore_tenant(&tenant, counted(rx, progress), event)
        .await?;
    let rows = reading.await.map_err(StoreError::backend)?;
    let (mut given, mut missing) = (0, 0);
    for member in members {
        if store.central().user(member.user_id).await?.is_none() {
            missing += 1;
            continue;
        }
        let event = actor
            .event("membership.restore", Outcome::Success)
            .entity("user", member.user_id)
            .details(json!({ "role": member.role, "via": via }));
        store
            .central()
            .add_membership(member.user_id, Some(tenant.id), member.role, event)
            .await?;
        given += 1;
    }
    store
        .tenant(tenant.id)
        .await?
        .append_audit(
            actor
                .event("tenant.restore", Outcome::Success)
                .entity("tenant", tenant.id)
                .details(json!({ "taken_at": taken_at, "via": via })),
        )
        .await?;
    Ok(Restored {
        tenant,
        rows,
        members: given,
        missing,
    })
}

/// Passes batches through, telling `progress` how many rows each holds.
fn counted(
    mut rows: mpsc::Receiver<StoreResult<Batch>>,
    progress: Progress,
) -> mpsc::Receiver<StoreResult<Batch>> {
    let (tx, out) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(batch) = rows.recv().await {
            if let Ok(batch) = &batch {
                progress(batch.rows.len() as u64);
            }
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    out
}
