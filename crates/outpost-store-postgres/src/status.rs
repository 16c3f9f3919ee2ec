//! Health of one database.

use std::sync::Arc;
use std::time::Instant;

use outpost_domain::TenantId;
use outpost_store::{DatabaseStatus, StoreResult};

use crate::OrBackend;
use crate::migrate;
use crate::router::{Router, Target};
use crate::sql::col;

/// Reachability (a connection and a round trip), schema version, size on the server and the
/// probe's latency, connection included when none was idle.
pub async fn of(
    router: &Arc<Router>,
    target: &Target,
    name: &str,
    tenant_id: Option<TenantId>,
) -> DatabaseStatus {
    let started = Instant::now();
    let probe = async {
        let conn = router.get(target).await?;
        let row = conn
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .db()?;
        let size: i64 = col(&row, 0)?;
        let version = migrate::version(&*conn).await?;
        StoreResult::Ok((size, version))
    }
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match probe {
        Ok((size, version)) => {
            DatabaseStatus::reached(name, tenant_id, version, size.unsigned_abs(), latency_ms)
        }
        Err(err) => DatabaseStatus::unreachable(name, tenant_id, &err),
    }
}
