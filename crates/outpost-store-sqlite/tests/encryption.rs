//! Every file is SQLCipher-encrypted with its own key: no plaintext header, no readable
//! patient data in the file or its write-ahead log, and one tenant's key opens no other file.

use chrono::Utc;
use serde_json::json;

use outpost_domain::TenantKind;
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::NewTenant;
use outpost_store::{Store, StoreError};
use outpost_store_sqlite::keys::Key;
use outpost_store_sqlite::{MasterKey, SqliteStore, open_encrypted};

const SQLITE_HEADER: &[u8] = b"SQLite format 3\0";

fn tenant_key(dir: &std::path::Path, master: &MasterKey, id: outpost_domain::TenantId) -> Key {
    let central =
        open_encrypted(&dir.join("data/central.db"), &master.central_key()).expect("central");
    let wrapped: Vec<u8> = central
        .query_row(
            "SELECT wrapped_key FROM tenants WHERE id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .expect("wrapped");
    master.unwrap(id, &wrapped).expect("unwrap")
}

#[tokio::test]
async fn tenant_files_are_encrypted_with_keys_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let key_file = dir.path().join("master.key");
    let store = SqliteStore::create(&data, &key_file).expect("store");
    let actor = Actor::system(Utc::now());
    let mut ids = Vec::new();
    for slug in ["alpha", "beta"] {
        let new = NewTenant {
            slug: slug.into(),
            name: slug.into(),
            kind: TenantKind::Clinic,
        };
        ids.push(
            store
                .provision_tenant(&new, actor.event("tenant.create", Outcome::Success))
                .await
                .expect("tenant")
                .id,
        );
    }
    let fields = serde_json::from_value(json!({
        "mrn": "ENC-1", "given_name": "Quenelda", "family_name": "Zanzibarova", "birth_date": "1966-06-06"
    }))
    .expect("fields");
    store
        .tenant(ids[0])
        .await
        .expect("store")
        .create_patients(vec![fields], &actor)
        .await
        .expect("create");

    let alpha = data.join(format!("tenants/{}.db", ids[0]));
    let beta = data.join(format!("tenants/{}.db", ids[1]));
    let mut files = vec![alpha.clone(), beta.clone(), data.join("central.db")];
    files.push(alpha.with_extension("db-wal"));
    for file in files.iter().filter(|f| f.exists()) {
        let bytes = std::fs::read(file).expect("read");
        assert!(
            !bytes.starts_with(SQLITE_HEADER),
            "{} has a plaintext header",
            file.display()
        );
        for needle in [
            &b"Zanzibarova"[..],
            b"Quenelda",
            b"CREATE TABLE",
            b"patients",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds plaintext",
                file.display()
            );
        }
    }

    let master = MasterKey::load(&key_file).expect("master");
    let alpha_key = tenant_key(dir.path(), &master, ids[0]);
    let beta_key = tenant_key(dir.path(), &master, ids[1]);
    assert_ne!(*alpha_key, *beta_key);
    assert!(open_encrypted(&alpha, &alpha_key).is_ok());
    assert!(matches!(
        open_encrypted(&alpha, &beta_key),
        Err(StoreError::WrongKey)
    ));
    assert!(matches!(
        open_encrypted(&beta, &alpha_key),
        Err(StoreError::WrongKey)
    ));
    assert!(matches!(
        open_encrypted(&data.join("central.db"), &alpha_key),
        Err(StoreError::WrongKey)
    ));
    // A sealed key does not open for another tenant id (registry rows cannot be swapped).
    let central = open_encrypted(&data.join("central.db"), &master.central_key()).expect("central");
    let wrapped_alpha: Vec<u8> = central
        .query_row(
            "SELECT wrapped_key FROM tenants WHERE id = ?1",
            [ids[0].to_string()],
            |r| r.get(0),
        )
        .expect("wrapped");
    assert!(master.unwrap(ids[1], &wrapped_alpha).is_err());
}

#[test]
fn the_library_is_sqlcipher() {
    let conn = rusqlite::Connection::open_in_memory().expect("memory");
    let version: String = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .expect("cipher_version");
    assert!(!version.is_empty());
}
