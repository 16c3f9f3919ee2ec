//! Health of one database file.

use std::time::Instant;

use outpost_domain::TenantId;
use outpost_store::DatabaseStatus;

use crate::conn::Db;
use crate::migrate;

/// Reachability (a round trip through the connection), schema version, size on disk
/// (main file plus write-ahead log) and the round trip's latency.
pub async fn of(db: &Db, name: &str, tenant_id: Option<TenantId>) -> DatabaseStatus {
    let started = Instant::now();
    let probe = db
        .call(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(outpost_store::StoreError::backend)?;
            migrate::schema_version(conn)
        })
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let path = db.path();
    // An open connection keeps answering from a file that is gone (deleted, its volume
    // unmounted): the file itself must still be there.
    let probe = probe.and_then(|version| {
        std::fs::metadata(path)
            .map(|_| version)
            .map_err(outpost_store::StoreError::backend)
    });
    let wal = path.with_extension("db-wal");
    let size = [path.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    match probe {
        Ok(version) => DatabaseStatus::reached(name, tenant_id, version, size, latency_ms),
        Err(err) => DatabaseStatus::unreachable(name, tenant_id, &err),
    }
}
