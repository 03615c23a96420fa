//! Stores for tests: a fresh SQLite file always, and a fresh PostgreSQL database when
//! `XFLEET_TEST_POSTGRES_URL` names a server (CI sets it; with `CI=true` it is required).

use super::Store;

pub(crate) struct TestStore {
    pub store: Store,
    pub label: &'static str,
    _dir: Option<crate::util::TempDir>,
}

impl TestStore {
    /// The store, its label and the directory that must outlive it.
    pub fn into_parts(self) -> (Store, &'static str, Option<crate::util::TempDir>) {
        (self.store, self.label, self._dir)
    }
}

pub(crate) async fn test_stores() -> Vec<TestStore> {
    let dir = crate::util::TempDir::new("store");
    let sqlite = Store::open(&super::sqlite_url(&dir.path().join("test.db")))
        .await
        .expect("open sqlite");
    let mut stores = vec![TestStore {
        store: sqlite,
        label: "sqlite",
        _dir: Some(dir),
    }];
    match std::env::var("XFLEET_TEST_POSTGRES_URL") {
        Ok(url) => stores.push(TestStore {
            store: fresh_postgres(&url).await,
            label: "postgres",
            _dir: None,
        }),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI must set XFLEET_TEST_POSTGRES_URL so storage tests run on PostgreSQL")
        }
        Err(_) => eprintln!("XFLEET_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped"),
    }
    stores
}

/// Creates an empty database on the server named by `admin_url` and opens it.
pub(crate) async fn fresh_postgres(admin_url: &str) -> Store {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("xfleet_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Store::open(&format!("{base}/{name}"))
        .await
        .expect("open postgres")
}
