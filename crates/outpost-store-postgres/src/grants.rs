//! The privileges of the hub's runtime role.
//!
//! Migrations run as the databases' owner; the hub serves requests as a role of its own that
//! may read and write every table but cannot UPDATE, DELETE or TRUNCATE audit rows, so that a
//! bug or an injected statement in the hub cannot rewrite history. The triggers the
//! migrations install refuse those statements for the owner too: together, privileges plus
//! triggers.

use tokio_postgres::Client;

use outpost_store::StoreResult;

use crate::OrBackend;
use crate::admin::quote_ident;

/// Grants `role` the hub's run-time privileges on the database `owner` is connected to. Run
/// after every migration, so that tables added later are covered.
pub async fn grant_runtime(owner: &Client, role: &str) -> StoreResult<()> {
    let database: String = owner
        .query_one("SELECT current_database()", &[])
        .await
        .db()?
        .get(0);
    let (database, role) = (quote_ident(&database), quote_ident(role));
    owner
        .batch_execute(&format!(
            "GRANT CONNECT ON DATABASE {database} TO {role};
             GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
             REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {role};
             REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {role};"
        ))
        .await
        .db()
}
