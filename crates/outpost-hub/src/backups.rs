//! `outpost-hub tenant backup|restore|move`: one tenant's database to an encrypted file and
//! back, or to another server, on either backend.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_store::Store;
use outpost_store::StoreResult;
use outpost_store::backup::{BackupReader, BackupWriter, Batch, MemberEntry, Record, write_rows};
use outpost_store::keys::MasterKey;

use crate::tenant_by_slug;
use tokio::sync::mpsc;

/// Writes `slug`'s whole database to `out` (which must not exist), encrypted under a key
/// derived from the master key. The backup is audited in the tenant's own chain first, so
/// the file records that it was taken.
pub async fn backup(
    store: &dyn Store,
    master: &MasterKey,
    slug: &str,
    out: &Path,
    actor: &Actor,
) -> Result<()> {
    let tenant = tenant_by_slug(store.central(), slug).await?;
    if out.exists() {
        bail!("{} exists; choose another file", out.display());
    }
    let tenant_store = store.tenant(tenant.id).await?;
    let schema_version = tenant_store
        .status()
        .await
        .schema_version
        .context("the tenant's database does not answer")?;
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
    tenant_store
        .append_audit(
            actor
                .event("tenant.backup", Outcome::Success)
                .entity("tenant", tenant.id)
                .details(json!({ "via": "cli" })),
        )
        .await?;
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let written = async {
        let mut writer = BackupWriter::new(BufWriter::new(file), master)?;
        writer.tenant(&tenant, schema_version, members, actor.at)?;
        let rows = with_progress(tenant_store.export().await?, "backed up");
        let (out, per_table) = write_rows(writer, rows).await?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        anyhow::Ok(per_table)
    }
    .await;
    let per_table = match written {
        Ok(per_table) => per_table,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err.context("backup failed; no file was left"));
        }
    };
    fs::rename(&partial, out)?;
    println!(
        "Backed up {slug} (schema {schema_version}) to {}: {}",
        out.display(),
        summary(&per_table)
    );
    Ok(())
}

/// Passes batches through while a spinner counts their rows (on standard error, so the
/// summary on standard output stays readable by scripts).
fn with_progress(
    mut rows: mpsc::Receiver<StoreResult<Batch>>,
    verb: &'static str,
) -> mpsc::Receiver<StoreResult<Batch>> {
    let (tx, out) = mpsc::channel(4);
    tokio::spawn(async move {
        let bar = indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} rows {msg} ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(verb);
        while let Some(batch) = rows.recv().await {
            if let Ok(batch) = &batch {
                bar.inc(batch.rows.len() as u64);
            }
            if tx.send(batch).await.is_err() {
                break;
            }
        }
        bar.finish_and_clear();
    });
    out
}

fn summary(per_table: &BTreeMap<String, u64>) -> String {
    per_table
        .iter()
        .map(|(table, rows)| format!("{rows} {table}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Recreates the tenant a backup file holds, under its own id and slug (refused while either
/// is registered), gives its members back their roles, and audits the restore centrally and in
/// the tenant's chain.
pub async fn restore(
    store: &dyn Store,
    master: &MasterKey,
    file: &Path,
    actor: &Actor,
) -> Result<()> {
    let input = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut reader = BackupReader::new(BufReader::new(input), master)?;
    let Some(Record::Tenant {
        tenant,
        members,
        taken_at,
        ..
    }) = reader.next_record()?
    else {
        bail!("{} does not start with a tenant", file.display());
    };
    let (rx, reading) = reader.into_rows();
    let rx = with_progress(rx, "restored");
    let event = actor
        .event("tenant.restore", Outcome::Success)
        .details(json!({
            "slug": tenant.slug,
            "taken_at": taken_at,
            "via": "cli",
        }));
    store
        .restore_tenant(&tenant, rx, event)
        .await
        .context("restore failed; nothing was registered")?;
    let rows = reading.await?;
    let (mut given, mut missing) = (0, 0);
    for member in members {
        if store.central().user(member.user_id).await?.is_none() {
            missing += 1;
            continue;
        }
        let event = actor
            .event("membership.restore", Outcome::Success)
            .entity("user", member.user_id)
            .details(json!({ "role": member.role, "via": "cli" }));
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
                .details(json!({ "taken_at": taken_at, "via": "cli" })),
        )
        .await?;
    println!(
        "Restored {} (id {}) from {}: {rows} rows, {given} members{}",
        tenant.slug,
        tenant.id,
        file.display(),
        if missing > 0 {
            format!(" ({missing} without an account on this hub)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Moves `slug`'s database to the configured server `server`.
pub async fn move_tenant(store: &dyn Store, slug: &str, server: &str, actor: &Actor) -> Result<()> {
    let tenant = tenant_by_slug(store.central(), slug).await?;
    let event = actor
        .event("tenant.move", Outcome::Success)
        .details(json!({ "via": "cli" }));
    let location = store.move_tenant(tenant.id, server, event).await?;
    println!("Moved {slug} to {location}");
    Ok(())
}
