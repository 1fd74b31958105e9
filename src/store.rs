//! The SQLite store: every bulletin and release ever seen, with the time it was first seen,
//! and each source's poll state.
//!
//! History only grows: a record that vanishes from its source stays, and a failed poll writes
//! nothing but the failure. Each poll is one transaction, in WAL mode with full sync, so a
//! `kill -9` at any moment loses at most the poll in flight, never a committed record. Readers
//! (the `report` command, backups) work beside a running exporter. The schema carries a version
//! (`PRAGMA user_version`) and is migrated forward on open.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::Type;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use crate::sources::{Reason, Record, Role};
use crate::timeparse::{midnight, Published};

/// Each entry migrates the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE bulletins (
    source      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    published   INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    -- seen in its source's first successful poll (date-only records: midnight, not first-seen)
    initial     INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    PRIMARY KEY (source, id)
);
CREATE TABLE releases (
    source      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    tier        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    published   INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    initial     INTEGER NOT NULL,
    covers      TEXT    NOT NULL,   -- JSON array of bulletin ids
    updated     INTEGER NOT NULL,
    PRIMARY KEY (source, id, tier)
);
CREATE INDEX releases_by_tier ON releases (tier, published);
CREATE TABLE sources (
    name              TEXT PRIMARY KEY,
    first_success     INTEGER,
    last_success      INTEGER,
    last_poll         INTEGER,
    last_duration     REAL,
    up                INTEGER,
    records           INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    last_error_reason TEXT,
    last_error_time   INTEGER,
    state             TEXT
);
CREATE TABLE source_errors (
    source  TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (source, reason)
);
"#];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An SQLite error of the database at `path`.
fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// The database's schema version, refused when this program does not know it.
fn schema_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sqlite_error(path))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(version)
}

/// SQLite's page cache, in KiB. A snapshot reads the tables once, in order, and the operating
/// system caches the file anyway; SQLite's default of 2 MiB would be a large share of the
/// exporter's footprint.
const PAGE_CACHE_KIB: i64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: cannot create its directory: {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {path} has schema version {found}, newer than this program's {supported}: upgrade patchlag-exporter")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredBulletin {
    pub source: String,
    pub id: String,
    pub title: String,
    pub published: i64,
    pub first_seen: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRelease {
    pub source: String,
    pub id: String,
    pub tier: String,
    pub title: String,
    pub published: i64,
    pub first_seen: i64,
    pub covers: Vec<String>,
}

/// A stored release borrowed from the row being read, for `Store::load_with` to decide whether
/// to keep it before anything is copied.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRow<'a> {
    pub source: &'a str,
    pub id: &'a str,
    pub tier: &'a str,
    pub title: &'a str,
    pub published: i64,
    pub first_seen: i64,
    pub covers: Vec<Cow<'a, str>>,
}

impl ReleaseRow<'_> {
    pub fn to_stored(&self) -> StoredRelease {
        StoredRelease {
            source: self.source.to_string(),
            id: self.id.to_string(),
            tier: self.tier.to_string(),
            title: self.title.to_string(),
            published: self.published,
            first_seen: self.first_seen,
            covers: self.covers.iter().map(|c| c.to_string()).collect(),
        }
    }
}

/// A stored release, as `record_success` compares it with a polled one.
struct KnownRelease {
    id: String,
    tier: String,
    first_seen: i64,
    initial: bool,
    title: String,
    published: i64,
    /// JSON, as stored.
    covers: String,
}

/// A bulletin id in a stored covers list, borrowed unless it holds escapes.
#[derive(serde::Deserialize)]
struct CoverId<'a>(#[serde(borrow)] Cow<'a, str>);

/// Text column `i` of `row`, borrowed.
fn text<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceState {
    pub name: String,
    pub first_success: Option<i64>,
    pub last_success: Option<i64>,
    pub last_poll: Option<i64>,
    pub last_duration: Option<f64>,
    pub up: Option<bool>,
    pub records: u64,
    pub last_error: Option<String>,
    pub last_error_reason: Option<Reason>,
    pub last_error_time: Option<i64>,
    pub errors: BTreeMap<Reason, u64>,
    /// Kind-specific state (e.g. validators for conditional requests).
    pub state: Option<String>,
}

/// Everything the model needs, read in one go.
#[derive(Debug, Clone, Default)]
pub struct StoreData {
    pub bulletins: Vec<StoredBulletin>,
    pub releases: Vec<StoredRelease>,
    pub sources: Vec<SourceState>,
}

/// The outcome of a successful poll, to be stored.
pub struct Success<'a> {
    pub source: &'a str,
    pub role: Role,
    /// Unix seconds.
    pub at: i64,
    pub duration: f64,
    /// What `patchlag_source_records` counts.
    pub records: &'a [Record],
    /// Stored like `records`, not counted (see `sources::Parsed::derived`).
    pub derived: &'a [Record],
    pub state: Option<&'a str>,
}

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if missing) and migrates the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = sqlite_error(path);
        // The directory is made if missing, as Prometheus makes its storage path.
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
            .map_err(err)?;
        let version = schema_version(&conn, path)?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(err)?;
            tx.execute_batch(migration).map_err(err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Opens an existing database read-only (the `report` command), beside a running exporter.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let err = sqlite_error(path);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        schema_version(&conn, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        sqlite_error(&self.path)(source)
    }

    /// The rows `sql` selects, each read by `read`.
    fn rows<T, P: rusqlite::Params>(
        &self,
        conn: &Connection,
        sql: &str,
        params: P,
        read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params, read).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<T>>>()
            .map_err(|e| self.err(e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction behind
        // (SQLite rolls it back), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a successful poll: new records inserted with their first-seen time, known ones
    /// updated (newest data wins), nothing deleted.
    pub fn record_success(&self, s: &Success<'_>) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let prior_success: Option<i64> = tx
            .query_row(
                "SELECT first_success FROM sources WHERE name = ?1",
                [s.source],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        let first_poll = prior_success.is_none();

        // Resolves a record's time: date-only records seen in the first successful poll sit at
        // midnight in the source's zone; those that appeared later, at the moment they were seen.
        // A first-seen record keeps the time it was stored with.
        let resolve =
            |published: &Published, first_seen: i64, initial: bool, stored: Option<i64>| {
                match published {
                    Published::Instant(t) => *t,
                    Published::Day(day, tz) if initial => midnight(*day, tz),
                    Published::Day(..) => first_seen,
                    Published::FirstSeen => stored.unwrap_or(first_seen),
                }
            };

        match s.role {
            Role::Bulletins => {
                let known: HashMap<String, (i64, bool, i64)> = self
                    .rows(
                        &tx,
                        "SELECT id, first_seen, initial, published FROM bulletins WHERE source = ?1",
                        [s.source],
                        |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))),
                    )?
                    .into_iter()
                    .collect();
                let mut upsert = tx
                    .prepare(
                        "INSERT INTO bulletins (source, id, title, published, first_seen, initial, updated)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (source, id) DO UPDATE SET
                             title = excluded.title, published = excluded.published, updated = excluded.updated
                         WHERE title <> excluded.title OR published <> excluded.published",
                    )
                    .map_err(|e| self.err(e))?;
                for r in s.records.iter().chain(s.derived) {
                    let stored = known.get(&r.id).copied();
                    let (first_seen, initial) =
                        stored.map_or((s.at, first_poll), |(f, i, _)| (f, i));
                    let published = resolve(&r.published, first_seen, initial, stored.map(|k| k.2));
                    upsert
                        .execute(params![
                            s.source, r.id, r.title, published, first_seen, initial, s.at
                        ])
                        .map_err(|e| self.err(e))?;
                }
            }
            Role::Releases => {
                // What is stored, by (id, tier) in the primary key's order. Knowing the stored
                // values lets an unchanged release (nearly all of them, poll after poll) cost a
                // comparison instead of a statement.
                let known: Vec<KnownRelease> = self.rows(
                    &tx,
                    "SELECT id, tier, first_seen, initial, title, published, covers
                     FROM releases WHERE source = ?1 ORDER BY id, tier",
                    [s.source],
                    |r| {
                        Ok(KnownRelease {
                            id: r.get(0)?,
                            tier: r.get(1)?,
                            first_seen: r.get(2)?,
                            initial: r.get(3)?,
                            title: r.get(4)?,
                            published: r.get(5)?,
                            covers: r.get(6)?,
                        })
                    },
                )?;
                // SQLite orders text by bytes, as `str` does: the binary search agrees with it.
                let stored = |id: &str, tier: &str| {
                    known
                        .binary_search_by(|k| (k.id.as_str(), k.tier.as_str()).cmp(&(id, tier)))
                        .ok()
                        .map(|i| &known[i])
                };
                let mut upsert = tx
                    .prepare(
                        "INSERT INTO releases (source, id, tier, title, published, first_seen, initial, covers, updated)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (source, id, tier) DO UPDATE SET
                             title = excluded.title, published = excluded.published,
                             covers = excluded.covers, updated = excluded.updated
                         WHERE title <> excluded.title OR published <> excluded.published OR covers <> excluded.covers",
                    )
                    .map_err(|e| self.err(e))?;
                for r in s.records.iter().chain(s.derived) {
                    let covers =
                        serde_json::to_string(&r.covers).unwrap_or_else(|_| "[]".to_string());
                    for tier in &r.tiers {
                        let stored = stored(&r.id, tier);
                        let (first_seen, initial) =
                            stored.map_or((s.at, first_poll), |k| (k.first_seen, k.initial));
                        let published = resolve(
                            &r.published,
                            first_seen,
                            initial,
                            stored.map(|k| k.published),
                        );
                        if stored.is_some_and(|k| {
                            k.published == published && k.title == r.title && k.covers == covers
                        }) {
                            continue;
                        }
                        upsert
                            .execute(params![
                                s.source, r.id, tier, r.title, published, first_seen, initial,
                                covers, s.at
                            ])
                            .map_err(|e| self.err(e))?;
                    }
                }
            }
        }

        tx.execute(
            "INSERT INTO sources (name, first_success, last_success, last_poll, last_duration, up, records, state)
             VALUES (?1, ?2, ?2, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET
                 first_success = COALESCE(first_success, excluded.first_success),
                 last_success = excluded.last_success, last_poll = excluded.last_poll,
                 last_duration = excluded.last_duration, up = 1, records = excluded.records,
                 state = COALESCE(excluded.state, state)",
            params![s.source, s.at, s.duration, s.records.len() as i64, s.state],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// Stores a failed poll: the source's health changes, its records do not.
    pub fn record_failure(
        &self,
        source: &str,
        at: i64,
        duration: f64,
        reason: Reason,
        message: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO sources (name, last_poll, last_duration, up, last_error, last_error_reason, last_error_time)
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?2)
             ON CONFLICT (name) DO UPDATE SET
                 last_poll = excluded.last_poll, last_duration = excluded.last_duration, up = 0,
                 last_error = excluded.last_error, last_error_reason = excluded.last_error_reason,
                 last_error_time = excluded.last_error_time",
            params![source, at, duration, message, reason.as_str()],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO source_errors (source, reason, count) VALUES (?1, ?2, 1)
             ON CONFLICT (source, reason) DO UPDATE SET count = count + 1",
            params![source, reason.as_str()],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    pub fn source_state(&self, source: &str) -> Result<Option<String>, StoreError> {
        let conn = self.lock();
        conn.query_row("SELECT state FROM sources WHERE name = ?1", [source], |r| {
            r.get(0)
        })
        .optional()
        .map(Option::flatten)
        .map_err(|e| self.err(e))
    }

    /// Reads everything, for the model.
    pub fn load(&self) -> Result<StoreData, StoreError> {
        self.load_with(|_| |_: &ReleaseRow<'_>| true)
    }

    /// Reads sources and bulletins, then the releases by time of publication (then source, id
    /// and tier), keeping those that `filter`, given the sources and bulletins, accepts. One
    /// read transaction, so everything is from the same moment; a release left out is looked
    /// at in place and never copied, so a long history costs no memory it does not need.
    pub fn load_with<F, K>(&self, filter: F) -> Result<StoreData, StoreError>
    where
        F: FnOnce(&StoreData) -> K,
        K: FnMut(&ReleaseRow<'_>) -> bool,
    {
        let conn = self.lock();
        let tx = conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let mut data = StoreData {
            bulletins: self.rows(
                &tx,
                "SELECT source, id, title, published, first_seen FROM bulletins ORDER BY published, source, id",
                [],
                |r| {
                    Ok(StoredBulletin {
                        source: r.get(0)?,
                        id: r.get(1)?,
                        title: r.get(2)?,
                        published: r.get(3)?,
                        first_seen: r.get(4)?,
                    })
                },
            )?,
            releases: Vec::new(),
            sources: self.rows(
                &tx,
                "SELECT name, first_success, last_success, last_poll, last_duration, up, records,
                        last_error, last_error_reason, last_error_time, state
                 FROM sources ORDER BY name",
                [],
                |r| {
                    Ok(SourceState {
                        name: r.get(0)?,
                        first_success: r.get(1)?,
                        last_success: r.get(2)?,
                        last_poll: r.get(3)?,
                        last_duration: r.get(4)?,
                        up: r.get::<_, Option<bool>>(5)?,
                        records: r.get::<_, i64>(6)?.max(0) as u64,
                        last_error: r.get(7)?,
                        last_error_reason: r
                            .get::<_, Option<String>>(8)?
                            .as_deref()
                            .and_then(Reason::parse),
                        last_error_time: r.get(9)?,
                        errors: BTreeMap::new(),
                        state: r.get(10)?,
                    })
                },
            )?,
        };
        let errors: Vec<(String, String, i64)> = self.rows(
            &tx,
            "SELECT source, reason, count FROM source_errors",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        for (source, reason, count) in errors {
            if let (Some(state), Some(reason)) = (
                data.sources.iter_mut().find(|s| s.name == source),
                Reason::parse(&reason),
            ) {
                state.errors.insert(reason, count.max(0) as u64);
            }
        }
        let mut keep = filter(&data);
        {
            let mut stmt = tx
                .prepare(
                    "SELECT source, id, tier, title, published, first_seen, covers FROM releases
                     ORDER BY published, source, id, tier",
                )
                .map_err(|e| self.err(e))?;
            let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                let read = || -> rusqlite::Result<ReleaseRow<'_>> {
                    let covers: Vec<CoverId<'_>> =
                        serde_json::from_str(text(r, 6)?).unwrap_or_default();
                    Ok(ReleaseRow {
                        source: text(r, 0)?,
                        id: text(r, 1)?,
                        tier: text(r, 2)?,
                        title: text(r, 3)?,
                        published: r.get(4)?,
                        first_seen: r.get(5)?,
                        covers: covers.into_iter().map(|c| c.0).collect(),
                    })
                };
                let row = read().map_err(|e| self.err(e))?;
                if keep(&row) {
                    data.releases.push(row.to_stored());
                }
            }
        }
        Ok(data)
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let conn = self.lock();
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeparse::zone;
    use chrono::NaiveDate;
    use jiff::tz::TimeZone;

    fn bulletin(id: &str, published: Published) -> Record {
        Record {
            id: id.into(),
            title: format!("{id} title"),
            published,
            tiers: vec![],
            covers: vec![],
        }
    }

    fn release(id: &str, tiers: &[&str], published: Published, covers: &[&str]) -> Record {
        Record {
            id: id.into(),
            title: String::new(),
            published,
            tiers: tiers.iter().map(|t| t.to_string()).collect(),
            covers: covers.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn success<'a>(source: &'a str, role: Role, at: i64, records: &'a [Record]) -> Success<'a> {
        Success {
            source,
            role,
            at,
            duration: 0.5,
            records,
            derived: &[],
            state: None,
        }
    }

    #[test]
    fn a_missing_directory_is_made_and_a_file_in_the_way_is_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("var/lib/patchlag/patchlag.db");
        Store::open(&path).expect("open");
        assert!(path.exists());
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, "").expect("write");
        let Err(err) = Store::open(&blocked.join("patchlag.db")) else {
            panic!("a file, not a directory");
        };
        assert!(
            err.to_string().contains("cannot create its directory"),
            "{err}"
        );
    }

    #[test]
    fn history_survives_vanishing_records_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.db");
        {
            let store = Store::open(&path).expect("open");
            let first = [
                bulletin("2026-Oct", Published::Instant(100)),
                bulletin("2026-Nov", Published::Instant(200)),
            ];
            store
                .record_success(&success("msrc", Role::Bulletins, 1000, &first))
                .expect("store");
            // The upstream drops October and re-dates November.
            let second = [bulletin("2026-Nov", Published::Instant(250))];
            store
                .record_success(&success("msrc", Role::Bulletins, 2000, &second))
                .expect("store");
            store
                .record_failure("msrc", 3000, 1.0, Reason::Timeout, "slow")
                .expect("store");
        }
        let store = Store::open(&path).expect("reopen");
        let data = store.load().expect("load");
        let ids: Vec<_> = data
            .bulletins
            .iter()
            .map(|b| (b.id.as_str(), b.published, b.first_seen))
            .collect();
        assert_eq!(ids, vec![("2026-Oct", 100, 1000), ("2026-Nov", 250, 1000)]);
        let s = &data.sources[0];
        assert_eq!(s.first_success, Some(1000));
        assert_eq!(s.last_success, Some(2000));
        assert_eq!(s.up, Some(false));
        assert_eq!(s.records, 1);
        assert_eq!(s.errors.get(&Reason::Timeout), Some(&1));
        assert_eq!(s.last_error.as_deref(), Some("slow"));
        assert_eq!(store.integrity_check().expect("check"), "ok");
    }

    #[test]
    fn first_seen_records_keep_the_time_they_were_first_stored_with() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("x.db")).expect("open");
        let index = [bulletin("2025-Jul", Published::Instant(100))];
        // Found as history: an instant. Then seen again as found while watching.
        let history = [bulletin("2025-Jul-OOB-2025-07-20", Published::Instant(500))];
        let mut again = bulletin("2025-Jul-OOB-2025-07-20", Published::FirstSeen);
        again.title = "retitled".into();
        let watched = [
            again,
            bulletin("2025-Jul-OOB-2025-07-28", Published::FirstSeen),
        ];
        let poll = |at, derived: &[Record]| {
            store
                .record_success(&Success {
                    derived,
                    ..success("msrc", Role::Bulletins, at, &index)
                })
                .expect("store")
        };
        poll(1_000, &history);
        poll(2_000, &watched);
        poll(3_000, &watched);
        let data = store.load().expect("load");
        let got: Vec<_> = data
            .bulletins
            .iter()
            .map(|b| (b.id.as_str(), b.title.as_str(), b.published))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2025-Jul", "2025-Jul title", 100),
                ("2025-Jul-OOB-2025-07-20", "retitled", 500),
                (
                    "2025-Jul-OOB-2025-07-28",
                    "2025-Jul-OOB-2025-07-28 title",
                    2_000
                ),
            ]
        );
        // Derived records are not what the source counts.
        assert_eq!(data.sources[0].records, 1);
    }

    #[test]
    fn date_only_records_follow_the_first_seen_rule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("x.db")).expect("open");
        let day = |d| {
            Published::Day(
                NaiveDate::from_ymd_opt(2026, 11, d).expect("date"),
                zone("America/New_York").expect("zone"),
            )
        };
        // First successful poll: the date-only release sits at midnight New York time.
        let first = [release("r1", &["english"], day(9), &[])];
        store
            .record_success(&success("vendor", Role::Releases, 1_794_400_000, &first))
            .expect("store");
        // A later poll brings a new date-only release: its time is when it was first seen.
        let second = [
            release("r1", &["english"], day(9), &[]),
            release("r2", &["english", "office365"], day(10), &["2026-Nov"]),
        ];
        store
            .record_success(&success("vendor", Role::Releases, 1_794_500_000, &second))
            .expect("store");
        // And a third poll does not move that first-seen time.
        store
            .record_success(&success("vendor", Role::Releases, 1_794_600_000, &second))
            .expect("store");
        let data = store.load().expect("load");
        let got: Vec<_> = data
            .releases
            .iter()
            .map(|r| (r.id.as_str(), r.tier.as_str(), r.published))
            .collect();
        assert_eq!(
            got,
            vec![
                ("r1", "english", 1_794_200_400), // 2026-11-09T00:00:00-05:00
                ("r2", "english", 1_794_500_000),
                ("r2", "office365", 1_794_500_000),
            ]
        );
        assert_eq!(data.releases[1].covers, vec!["2026-Nov"]);
    }

    #[test]
    fn a_changed_release_is_updated_and_an_unchanged_one_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("x.db")).expect("open");
        let v1 = [
            release("r1", &["english"], Published::Instant(10), &[]),
            release("r2", &["english"], Published::Instant(20), &["2026-Nov"]),
        ];
        store
            .record_success(&success("vendor", Role::Releases, 100, &v1))
            .expect("store");
        // r1 now lists a bulletin and r2 moved; nothing else changed.
        let v2 = [
            release("r1", &["english"], Published::Instant(10), &["2026-Oct"]),
            release("r2", &["english"], Published::Instant(25), &["2026-Nov"]),
        ];
        store
            .record_success(&success("vendor", Role::Releases, 200, &v2))
            .expect("store");
        store
            .record_success(&success("vendor", Role::Releases, 300, &v2))
            .expect("store");
        let rows: Vec<(String, i64, String, i64)> = {
            let conn = store.lock();
            let mut stmt = conn
                .prepare("SELECT id, published, covers, updated FROM releases ORDER BY id")
                .expect("prepare");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .expect("query")
                .map(|r| r.expect("row"))
                .collect()
        };
        assert_eq!(
            rows,
            vec![
                ("r1".to_string(), 10, r#"["2026-Oct"]"#.to_string(), 200),
                ("r2".to_string(), 25, r#"["2026-Nov"]"#.to_string(), 200),
            ]
        );
    }

    #[test]
    fn stored_releases_are_found_whatever_their_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("x.db")).expect("open");
        let day = Published::Day(
            chrono::NaiveDate::from_ymd_opt(2026, 11, 9).expect("date"),
            TimeZone::UTC,
        );
        let ids = ["a", "Z", "ä", "a b", "a-b", "aa", "", "a\u{0}b", "10", "9"];
        let records: Vec<Record> = ids
            .iter()
            .map(|id| release(id, &["english", "Office"], day.clone(), &[]))
            .collect();
        store
            .record_success(&success("vendor", Role::Releases, 1_000, &records[..1]))
            .expect("first poll");
        // Seen after the first poll: dated when first seen, and that must not move.
        store
            .record_success(&success("vendor", Role::Releases, 2_000, &records))
            .expect("store");
        store
            .record_success(&success("vendor", Role::Releases, 3_000, &records))
            .expect("store");
        let mut got: Vec<(String, String, i64)> = store
            .load()
            .expect("load")
            .releases
            .into_iter()
            .map(|r| (r.id, r.tier, r.published))
            .collect();
        got.sort();
        let mut want: Vec<(String, String, i64)> = ids
            .iter()
            .flat_map(|id| {
                let at = if *id == "a" { 1_794_182_400 } else { 2_000 };
                [
                    (id.to_string(), "english".to_string(), at),
                    (id.to_string(), "Office".to_string(), at),
                ]
            })
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn load_with_offers_releases_in_order_and_keeps_what_it_is_told() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("x.db")).expect("open");
        store
            .record_success(&success(
                "msrc",
                Role::Bulletins,
                100,
                &[bulletin("2026-Nov", Published::Instant(50))],
            ))
            .expect("store");
        let records = [
            release("late", &["english"], Published::Instant(90), &["2026-Nov"]),
            release(
                "early",
                &["english", "office365"],
                Published::Instant(10),
                &[],
            ),
            release(
                "esc",
                &["english"],
                Published::Instant(60),
                &["2026-\"Nov\""],
            ),
        ];
        store
            .record_success(&success("vendor", Role::Releases, 100, &records))
            .expect("store");
        let mut offered = Vec::new();
        let data = store
            .load_with(|data| {
                // Sources and bulletins are read before the releases are offered.
                assert_eq!(data.bulletins.len(), 1);
                assert_eq!(data.sources.len(), 2);
                |r: &ReleaseRow<'_>| {
                    offered.push((
                        r.id.to_string(),
                        r.tier.to_string(),
                        r.covers
                            .clone()
                            .into_iter()
                            .map(|c| c.into_owned())
                            .collect::<Vec<_>>(),
                    ));
                    r.tier == "english"
                }
            })
            .expect("load");
        assert_eq!(
            offered,
            vec![
                ("early".to_string(), "english".to_string(), vec![]),
                ("early".to_string(), "office365".to_string(), vec![]),
                (
                    "esc".to_string(),
                    "english".to_string(),
                    vec!["2026-\"Nov\"".to_string()]
                ),
                (
                    "late".to_string(),
                    "english".to_string(),
                    vec!["2026-Nov".to_string()]
                ),
            ]
        );
        let kept: Vec<_> = data
            .releases
            .iter()
            .map(|r| (r.id.as_str(), r.tier.as_str()))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("early", "english"),
                ("esc", "english"),
                ("late", "english")
            ]
        );
        assert_eq!(
            data.releases,
            store
                .load()
                .expect("load")
                .releases
                .into_iter()
                .filter(|r| r.tier == "english")
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.pragma_update(None, "user_version", 99)
                .expect("pragma");
        }
        let err = Store::open(&path).err().expect("too new");
        assert!(
            err.to_string().contains("newer than this program's"),
            "{err}"
        );
    }
}
