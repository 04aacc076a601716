//! Durable storage for Huiyi: enterprises, users, web sessions, API credentials, request
//! nonces, meetings, attendance, the waiting room, shared meeting notes, recording and streaming jobs, and webhook subscriptions with their outbox, in SQLite (the default: one file in the data folder) or PostgreSQL.
//!
//! Every query is written once in SQL that both databases accept, run through sqlx's `Any`
//! driver; the migrations in `migrations/` are shared the same way.
//!
//! # Architecture invariant
//! This is the only crate with SQL. It knows nothing of HTTP, signing or media: callers pass
//! plain values and get typed rows back. A constraint violation that a client can cause is
//! returned as a typed error, never as an opaque database error.

mod accounts;
mod attendance;
mod chat;
mod egress;
mod livekit_webhooks;
mod meetings;
mod polls;
mod notes;
mod waiting;
mod webhooks;

use std::path::Path;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

pub use accounts::{AppCredential, Enterprise, Role, User, DEV_ENTERPRISE, DEV_SECRET_ID};
pub use attendance::{ParticipantSession, MAX_REPORT_SESSIONS};
pub use chat::{ChatMessage, MAX_ROOM_MESSAGES};
pub use egress::{EgressRow, IngressRow, EGRESS_DONE, MAX_EGRESS_LIST, MAX_INGRESSES};
pub use livekit_webhooks::{LiveKitDelivery, MAX_LIVEKIT_PENDING};
pub use meetings::{Meeting, MeetingStatus, NewMeeting};
pub use polls::{Ballot, Poll, PollRefusal, PollState, MAX_MEETING_POLLS};
pub use notes::NotesUpdate;
pub use waiting::{WaitingEntry, WaitingState, MAX_WAITING_RECORDS};
pub use webhooks::{AttemptOutcome, Delivery, DeliveryStatus, Webhook};
/// The database driver, so callers can read a database error's code.
pub use sqlx;

/// A failure of the store. `Conflict` and `NotFound` are the client's; `Database` is ours.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database is behind the pool (a few statements differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool with the schema migrated.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens `url` (`sqlite://…` or `postgres://…`), creating a SQLite file if needed, and
    /// migrates it to the current schema.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        // SQLite allows one writer; a single connection avoids "database is locked".
        let max = if backend == Backend::Sqlite { 1 } else { 8 };
        let pool = AnyPoolOptions::new().max_connections(max).connect(&url).await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA foreign_keys = ON").execute(&pool).await?;
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// The default store: SQLite in `data_dir/huiyi.db`.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", data_dir.display())))?;
        Self::connect(&format!("sqlite://{}", data_dir.join("huiyi.db").display())).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A random id of `len` alphanumeric characters.
pub fn random_id(len: usize) -> String {
    use rand::distr::Alphanumeric;
    use rand::Rng;
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(col).map_err(StoreError::from)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A store for one test: Postgres when `HUIYI_TEST_POSTGRES_URL` names a server (a fresh
    /// schema per test), SQLite in a temp file otherwise.
    pub async fn store() -> Store {
        if let Ok(base) = std::env::var("HUIYI_TEST_POSTGRES_URL") {
            sqlx::any::install_default_drivers();
            let admin = AnyPoolOptions::new().max_connections(1).connect(&base).await.expect("postgres reachable");
            let db = format!("t_{}", random_id(12).to_lowercase());
            sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin).await.unwrap();
            let url = match base.rsplit_once('/') {
                Some((head, _)) => format!("{head}/{db}"),
                None => panic!("HUIYI_TEST_POSTGRES_URL needs a database path"),
            };
            return Store::connect(&url).await.unwrap();
        }
        let dir = std::env::temp_dir().join(format!("huiyi-store-{}", random_id(10)));
        Store::open_data_dir(&dir).await.unwrap()
    }

    /// A meeting of the dev enterprise (seeded), for tests that need one: its id.
    pub async fn meeting(s: &Store) -> String {
        s.seed_dev(0).await.unwrap();
        let m = crate::NewMeeting {
            enterprise_id: "dev-app".into(),
            creator_userid: "dev-user".into(),
            subject: "Test meeting".into(),
            meeting_kind: 0,
            meeting_type: 0,
            start_time: 0,
            end_time: 3600,
            password: None,
            time_zone: String::new(),
            location: String::new(),
            settings: serde_json::json!({"auto_in_waiting_room": true}),
            hosts: serde_json::json!([]),
            invitees: serde_json::json!([]),
            recurring_rule: None,
        };
        s.create_meeting(&m, 0).await.unwrap().meeting_id
    }
}
