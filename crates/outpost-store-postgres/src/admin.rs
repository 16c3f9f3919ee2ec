//! Creating and dropping databases on a server, for provisioning tenants and for tests.

use tokio_postgres::Client;

use outpost_store::StoreResult;

use crate::OrBackend;

/// `name` as a quoted SQL identifier (database and role names cannot be bound parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates an empty database owned by the connected user.
pub async fn create_database(server: &Client, name: &str) -> StoreResult<()> {
    server
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
        .await
        .db()
}

/// Drops a database, ending the sessions still connected to it (another hub's idle pool).
pub async fn drop_database(server: &Client, name: &str) -> StoreResult<()> {
    server
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .db()
}
