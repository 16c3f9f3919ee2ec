//! Moving a tenant's database to another server (`outpost-hub tenant move`).
//!
//! 1. The tenant turns read-only: the hub refuses changes (503, they wait in the clients'
//!    outboxes) while audited reads go on.
//! 2. Writers that passed the read-only check just before are waited for (the write lock).
//! 3. Every row is copied from one snapshot into a new database on the target server.
//! 4. Under the source's write lock, which is then kept, the audit events that reads appended
//!    meanwhile are copied too, and the copy is checked: same change feed, same applied ops,
//!    a chain that verifies.
//! 5. The registry switches to the copy (clearing read-only) with the central audit event,
//!    and every hub instance is told to reopen the tenant.
//! 6. The old database is dropped. Dropping ends the connection holding its lock and any
//!    request still waiting for it, so nothing can be written there after the copy.
//!
//! Until step 5 a failure drops the copy and leaves the tenant where it was, writable again.

use tokio::sync::mpsc;

use outpost_domain::audit::AuditEvent;
use outpost_domain::{TenantId, ValidationError};
use outpost_store::backup::{AUDIT_TABLE, Batch, CHANGE_FEED_TABLE, TABLES, Table};
use outpost_store::{StoreError, StoreResult};
use serde_json::json;

use crate::copy::{self, last_key};
use crate::router::{Conn, Target};
use crate::sql::{begin, col, hold_write_lock};
use crate::{CENTRAL_SERVER, OrBackend, PostgresStore, admin, audit};

/// What must not change between the snapshot and the final copy (writes are refused).
#[derive(Debug, PartialEq)]
struct Marks {
    changes: i64,
    applied_ops: i64,
    audit: i64,
}

async fn marks(conn: &Conn) -> StoreResult<Marks> {
    let applied = conn
        .query_one("SELECT count(*) FROM applied_ops", &[])
        .await
        .db()?;
    Ok(Marks {
        changes: last_key(&**conn, &CHANGE_FEED_TABLE).await?,
        applied_ops: col(&applied, 0)?,
        audit: last_key(&**conn, &AUDIT_TABLE).await?,
    })
}

pub(crate) async fn move_tenant(
    store: &PostgresStore,
    id: TenantId,
    server: &str,
    audit: AuditEvent,
) -> StoreResult<String> {
    let opened = store.pg_tenant(id).await?;
    let (source, slug) = (opened.target.clone(), opened.slug.clone());
    drop(opened);
    if server == CENTRAL_SERVER || store.router.server(server).is_err() {
        return Err(ValidationError::new("server", "is not a configured database server").into());
    }
    if source.server == server {
        return Err(ValidationError::new("server", "already holds this tenant").into());
    }
    // A name of its own, so that two configured servers may even be one cluster.
    let target = Target {
        server: server.to_owned(),
        database: format!(
            "{}{}_{}",
            store.prefix,
            id.as_uuid().simple(),
            &uuid::Uuid::now_v7().simple().to_string()[24..]
        ),
    };
    if !set_read_only(store, id, true).await? {
        return Err(ValidationError::new("tenant", "is already being moved").into());
    }
    if let Err(err) =
        admin::create_database_on(&store.router, &target.server, &target.database).await
    {
        set_read_only(store, id, false).await?;
        return Err(err);
    }
    let location = target.location();
    let places = Places {
        source: &source,
        target: &target,
        slug: &slug,
    };
    match copy_and_switch(store, id, places, audit).await {
        Ok(lock) => {
            // Without the announcement, other instances find the old database gone at their
            // next request for the tenant and read the registry again.
            if let Err(err) = store.announce_move(id).await {
                tracing::warn!(error = %err, "the move could not be announced to other instances");
            }
            let dropped =
                admin::drop_database_on(&store.router, &source.server, &source.database).await;
            drop(lock);
            dropped.map_err(|err| {
                StoreError::Corrupt(format!(
                    "the tenant now lives at {location}, but its old database {} could not be \
                     dropped ({err}): drop it by hand",
                    source.database
                ))
            })?;
            Ok(location)
        }
        Err(err) => {
            admin::drop_database_on(&store.router, &target.server, &target.database).await?;
            set_read_only(store, id, false).await?;
            Err(err)
        }
    }
}

/// Sets or clears the flag; whether it changed (a second move of the same tenant finds it
/// set and stops).
async fn set_read_only(store: &PostgresStore, id: TenantId, read_only: bool) -> StoreResult<bool> {
    let conn = store.central.conn().await?;
    conn.execute(
        "UPDATE tenants SET read_only = $1 WHERE id = $2 AND read_only <> $1",
        &[&read_only, &id.as_uuid()],
    )
    .await
    .db()
    .map(|changed| changed == 1)
}

/// An error for a copy whose source changed under it.
fn changed_meanwhile(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "the tenant's {what} changed during the copy; nothing was switched, try again"
    ))
}

/// Where a move goes from and to.
struct Places<'a> {
    source: &'a Target,
    target: &'a Target,
    slug: &'a str,
}

/// Copies and switches the registry; returns the connection holding the source's write lock,
/// which must stay open until the source is dropped.
async fn copy_and_switch(
    store: &PostgresStore,
    id: TenantId,
    places: Places<'_>,
    audit: AuditEvent,
) -> StoreResult<Conn> {
    let Places {
        source,
        target,
        slug,
    } = places;
    let router = &store.router;
    let barrier = router.owner(source).await?;
    hold_write_lock(&barrier).await?;
    barrier.batch_execute("COMMIT").await.db()?;
    drop(barrier);
    store.migrate(target).await?;
    let mut dest = router.owner(target).await?;

    let snapshot = router.owner(source).await?;
    snapshot
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db()?;
    let copied = marks(&snapshot).await?;
    let all: Vec<(&'static Table, Option<i64>)> = TABLES.iter().map(|t| (t, None)).collect();
    pipe(&snapshot, &all, &mut dest).await?;
    snapshot.batch_execute("COMMIT").await.db()?;
    drop(snapshot);

    let lock = router.owner(source).await?;
    hold_write_lock(&lock).await?;
    let now = marks(&lock).await?;
    if now.changes != copied.changes {
        return Err(changed_meanwhile("change feed"));
    }
    if now.applied_ops != copied.applied_ops {
        return Err(changed_meanwhile("applied ops"));
    }
    pipe(&lock, &[(&AUDIT_TABLE, Some(copied.audit))], &mut dest).await?;
    copy::reset_identities(&*dest).await?;
    if marks(&dest).await? != now {
        return Err(StoreError::Corrupt(
            "the copy does not hold what the source holds; nothing was switched".into(),
        ));
    }
    let chain = audit::verify(&*dest, slug).await?;
    if !chain.valid {
        return Err(StoreError::Corrupt(
            "the copied audit chain does not verify; nothing was switched".into(),
        ));
    }
    drop(dest);

    let audit = outpost_store::tenant_audit(audit, id).details(json!({
        "from": source.location(),
        "to": target.location(),
        "audit_events": now.audit,
    }));
    let mut central = store.central.conn().await?;
    let tx = begin(&mut central).await?;
    tx.execute(
        "UPDATE tenants SET location = $1, read_only = false WHERE id = $2",
        &[&target.location(), &id.as_uuid()],
    )
    .await
    .db()?;
    audit::append(&tx, &audit).await?;
    tx.commit().await.db()?;
    Ok(lock)
}

/// Copies `tables` (each from above its key, when given) from `source` into `dest`, reading
/// and writing at the same time.
async fn pipe(
    source: &Conn,
    tables: &[(&'static Table, Option<i64>)],
    dest: &mut Conn,
) -> StoreResult<()> {
    let (tx, mut rx) = mpsc::channel::<StoreResult<Batch>>(4);
    let read = async move {
        for (table, after) in tables {
            if !copy::send_table(&**source, table, *after, &tx).await? {
                break;
            }
        }
        StoreResult::Ok(())
    };
    let write = async move {
        while let Some(batch) = rx.recv().await {
            copy::import(dest, &batch?).await?;
        }
        StoreResult::Ok(())
    };
    let (read, write) = tokio::join!(read, write);
    read.and(write)
}
