//! `outpost-hub tenant backup|restore|move`: one tenant's database to an encrypted file and
//! back, or to another server, on either backend.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_hub::tenant_copies::{Progress, restore_backup, write_backup};
use outpost_store::Store;
use outpost_store::keys::MasterKey;

use crate::tenant_by_slug;

/// Writes `slug`'s whole database to `out` (which must not exist), encrypted under a key
/// derived from the master key, as `out.partial` (mode 0600) renamed once complete and
/// synced.
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
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let (bar, progress) = spinner("backed up");
    let written = async {
        let (out, summary) = write_backup(
            store,
            master,
            &tenant,
            BufWriter::new(file),
            actor,
            "cli",
            progress,
        )
        .await?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        anyhow::Ok(summary)
    }
    .await;
    bar.finish_and_clear();
    let summary = match written {
        Ok(summary) => summary,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err.context("backup failed; no file was left"));
        }
    };
    fs::rename(&partial, out)?;
    let rows = summary
        .rows
        .iter()
        .map(|(table, rows)| format!("{rows} {table}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "Backed up {slug} (schema {}) to {}: {rows}",
        summary.schema_version,
        out.display(),
    );
    Ok(())
}

/// A row counter on standard error (so the summary on standard output stays readable by
/// scripts), and the progress callback that feeds it.
fn spinner(verb: &'static str) -> (indicatif::ProgressBar, Progress) {
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} rows {msg} ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(verb);
    let counter = bar.clone();
    (bar, Box::new(move |rows| counter.inc(rows)))
}

/// Recreates the tenant a backup file holds (see [`restore_backup`]).
pub async fn restore(
    store: &dyn Store,
    master: &MasterKey,
    file: &Path,
    actor: &Actor,
) -> Result<()> {
    let input = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let (bar, progress) = spinner("restored");
    let restored =
        restore_backup(store, master, BufReader::new(input), actor, "cli", progress).await;
    bar.finish_and_clear();
    let restored = restored.context("restore failed; nothing was registered")?;
    println!(
        "Restored {} (id {}) from {}: {} rows, {} members{}",
        restored.tenant.slug,
        restored.tenant.id,
        file.display(),
        restored.rows,
        restored.members,
        if restored.missing > 0 {
            format!(" ({} without an account on this hub)", restored.missing)
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
