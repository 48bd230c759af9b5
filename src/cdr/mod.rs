//! Call records: exactly one row per call in an embedded SQLite file.
//!
//! A shell module. The database is written by one background thread fed through a channel, so
//! the media path never waits on a disk. A row is inserted when a call starts (with no end
//! time) and completed when it ends; on start-up, rows a crash left open are closed as ended
//! by restart, so every call that ever started ends up with exactly one complete record. The
//! file runs in WAL mode with `synchronous=FULL`: a record acknowledged is on disk.
//!
//! Records never hold a caller number in clear (it is masked, see
//! [`crate::telemetry::redact`]) nor any value a flow marked `secure`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::telemetry::Metrics;

/// Failures of the record store, by whose fault.
#[derive(Debug, Error)]
pub enum CdrError {
    /// The database file could not be opened or created (path, permissions, disk).
    #[error("cannot open call-record database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// A statement failed (disk full, corruption).
    #[error("call-record database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The writer thread is gone (it panicked, which is a bug).
    #[error("the call-record writer stopped")]
    WriterGone,
}

/// One call's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call's id.
    pub call_id: String,
    /// The line (flow id) that answered.
    pub line: String,
    /// The flow version (digest) the call ran on.
    pub flow_version: String,
    /// The number dialled.
    pub dialled: String,
    /// The caller's number, masked.
    pub caller: Option<String>,
    /// When the call started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while in progress.
    pub ended_at: Option<DateTime<Utc>>,
    /// Node ids visited, in order.
    pub path: Vec<String>,
    /// Non-secure collected and looked-up values.
    pub inputs: BTreeMap<String, String>,
    /// The prompt language at the end.
    pub language: Option<String>,
    /// The queue joined, if any.
    pub queue: Option<String>,
    /// The priority class joined, if any.
    pub priority: Option<String>,
    /// Milliseconds waited in the queue.
    pub wait_ms: Option<u64>,
    /// The agent who took the call.
    pub agent: Option<String>,
    /// How the call ended (`self_service`, `agent`, `transfer`, `caller_hung_up`, ...).
    pub outcome: Option<String>,
    /// Who ended it (`caller`, `engine`, `gateway`, `drain`, `restart`).
    pub ended_by: Option<String>,
    /// Why, in detail: the flow's hang-up reason (`closed_hours`), or the engine's
    /// (`media_timeout`, `bad_json`, `slow_consumer`, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

enum Job {
    Upsert(Box<CallRecord>),
    Flush(mpsc::Sender<()>),
    Shutdown,
}

/// A clonable handle for writing records; sending never blocks.
#[derive(Clone)]
pub struct CdrWriter {
    tx: mpsc::Sender<Job>,
}

impl CdrWriter {
    /// Records a call's start or its end (the row is replaced whole, keyed by call id).
    pub fn write(&self, record: CallRecord) -> Result<(), CdrError> {
        self.tx
            .send(Job::Upsert(Box::new(record)))
            .map_err(|_| CdrError::WriterGone)
    }

    /// Waits until every record sent before this call is on disk.
    pub fn flush(&self) -> Result<(), CdrError> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Job::Flush(tx))
            .map_err(|_| CdrError::WriterGone)?;
        rx.recv().map_err(|_| CdrError::WriterGone)
    }
}

/// The open store: owns the writer thread.
pub struct CdrStore {
    writer: Option<CdrWriter>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    call_id      TEXT PRIMARY KEY,
    line         TEXT NOT NULL,
    flow_version TEXT NOT NULL,
    dialled      TEXT NOT NULL,
    caller       TEXT,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    path         TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    language     TEXT,
    queue        TEXT,
    priority     TEXT,
    wait_ms      INTEGER,
    agent        TEXT,
    outcome      TEXT,
    ended_by     TEXT,
    reason       TEXT
);
CREATE INDEX IF NOT EXISTS calls_started ON calls(started_at);
";

fn open_connection(path: &Path) -> Result<Connection, CdrError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A failure here shows up as the open error below, with the path.
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = Connection::open(path).map_err(|source| CdrError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    // Files written before the `reason` column existed get it added.
    let has_reason = conn
        .prepare("SELECT 1 FROM pragma_table_info('calls') WHERE name = 'reason'")?
        .exists([])?;
    if !has_reason {
        conn.execute_batch("ALTER TABLE calls ADD COLUMN reason TEXT")?;
    }
    Ok(conn)
}

fn upsert(conn: &Connection, r: &CallRecord) -> Result<(), rusqlite::Error> {
    let path = serde_json::to_string(&r.path).unwrap_or_else(|_| "[]".into());
    let inputs = serde_json::to_string(&r.inputs).unwrap_or_else(|_| "{}".into());
    conn.execute(
        "INSERT INTO calls (call_id, line, flow_version, dialled, caller, started_at, ended_at,
             path, inputs, language, queue, priority, wait_ms, agent, outcome, ended_by, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT(call_id) DO UPDATE SET
             line = excluded.line, flow_version = excluded.flow_version,
             dialled = excluded.dialled, caller = excluded.caller,
             started_at = excluded.started_at, ended_at = excluded.ended_at,
             path = excluded.path, inputs = excluded.inputs, language = excluded.language,
             queue = excluded.queue, priority = excluded.priority, wait_ms = excluded.wait_ms,
             agent = excluded.agent, outcome = excluded.outcome, ended_by = excluded.ended_by,
             reason = excluded.reason
         WHERE calls.ended_at IS NULL",
        params![
            r.call_id,
            r.line,
            r.flow_version,
            r.dialled,
            r.caller,
            r.started_at.to_rfc3339(),
            r.ended_at.map(|t| t.to_rfc3339()),
            path,
            inputs,
            r.language,
            r.queue,
            r.priority,
            r.wait_ms.map(|w| w as i64),
            r.agent,
            r.outcome,
            r.ended_by,
            r.reason,
        ],
    )?;
    Ok(())
}

impl CdrStore {
    /// Opens (creating if needed) the database and starts the writer thread. Rows left open
    /// by a crash are closed first, as ended by restart at `now`; their count is returned.
    pub fn open(
        path: impl AsRef<Path>,
        now: DateTime<Utc>,
        metrics: Option<Metrics>,
    ) -> Result<(CdrStore, usize), CdrError> {
        let path = path.as_ref().to_owned();
        let conn = open_connection(&path)?;
        let closed = conn.execute(
            "UPDATE calls SET ended_at = ?1, outcome = COALESCE(outcome, 'error'),
                 ended_by = 'restart' WHERE ended_at IS NULL",
            params![now.to_rfc3339()],
        )?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("cdr-writer".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Upsert(record) => {
                            let result = upsert(&conn, &record);
                            if let Err(e) = &result {
                                tracing::error!(call = %record.call_id, error = %e, "call record write failed");
                            }
                            if let Some(m) = &metrics {
                                let label = if result.is_ok() { "ok" } else { "failed" };
                                m.cdr_writes_total.with_label_values(&[label]).inc();
                            }
                        }
                        Job::Flush(done) => {
                            let _ = done.send(());
                        }
                        Job::Shutdown => break,
                    }
                }
            })
            .map_err(|e| CdrError::Open {
                path: path.clone(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok((
            CdrStore {
                writer: Some(CdrWriter { tx }),
                thread: Some(thread),
                path,
            },
            closed,
        ))
    }

    /// A handle for writing.
    pub fn writer(&self) -> CdrWriter {
        // `writer` is only taken in `close`, which consumes the store.
        self.writer.clone().unwrap_or_else(|| CdrWriter {
            tx: mpsc::channel().0,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything sent so far and stops the writer thread. Handles still held
    /// elsewhere get [`CdrError::WriterGone`] afterwards.
    pub fn close(mut self) -> Result<(), CdrError> {
        if let Some(w) = self.writer.take() {
            w.tx.send(Job::Shutdown).map_err(|_| CdrError::WriterGone)?;
        }
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| CdrError::WriterGone)?;
        }
        Ok(())
    }
}

/// Reads records, newest first (at most `limit`).
pub fn list(path: impl AsRef<Path>, limit: usize) -> Result<Vec<CallRecord>, CdrError> {
    let conn = open_connection(path.as_ref())?;
    let mut stmt = conn.prepare(
        "SELECT call_id, line, flow_version, dialled, caller, started_at, ended_at, path, inputs,
                language, queue, priority, wait_ms, agent, outcome, ended_by, reason
         FROM calls ORDER BY started_at DESC, call_id LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |row| {
        let started: String = row.get(5)?;
        let ended: Option<String> = row.get(6)?;
        let path: String = row.get(7)?;
        let inputs: String = row.get(8)?;
        let wait: Option<i64> = row.get(12)?;
        Ok(CallRecord {
            call_id: row.get(0)?,
            line: row.get(1)?,
            flow_version: row.get(2)?,
            dialled: row.get(3)?,
            caller: row.get(4)?,
            started_at: parse_time(&started),
            ended_at: ended.as_deref().map(parse_time),
            path: serde_json::from_str(&path).unwrap_or_default(),
            inputs: serde_json::from_str(&inputs).unwrap_or_default(),
            language: row.get(9)?,
            queue: row.get(10)?,
            priority: row.get(11)?,
            wait_ms: wait.map(|w| w.max(0) as u64),
            agent: row.get(13)?,
            outcome: row.get(14)?,
            ended_by: row.get(15)?,
            reason: row.get(16)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Reads one record.
pub fn find(path: impl AsRef<Path>, call_id: &str) -> Result<Option<CallRecord>, CdrError> {
    let conn = open_connection(path.as_ref())?;
    let exists: Option<String> = conn
        .query_row(
            "SELECT call_id FROM calls WHERE call_id = ?1",
            params![call_id],
            |r| r.get(0),
        )
        .optional()?;
    drop(conn);
    match exists {
        None => Ok(None),
        Some(_) => Ok(list(path, usize::MAX >> 1)?
            .into_iter()
            .find(|r| r.call_id == call_id)),
    }
}

fn parse_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Renders records as CSV (RFC 4180 quoting), one header line then one line per record.
pub fn to_csv(records: &[CallRecord]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    let mut out = String::from(
        "call_id,line,flow_version,dialled,caller,started_at,ended_at,path,inputs,language,queue,priority,wait_ms,agent,outcome,ended_by,reason\n",
    );
    for r in records {
        let cols = [
            r.call_id.clone(),
            r.line.clone(),
            r.flow_version.clone(),
            r.dialled.clone(),
            r.caller.clone().unwrap_or_default(),
            r.started_at.to_rfc3339(),
            r.ended_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            r.path.join(" > "),
            serde_json::to_string(&r.inputs).unwrap_or_default(),
            r.language.clone().unwrap_or_default(),
            r.queue.clone().unwrap_or_default(),
            r.priority.clone().unwrap_or_default(),
            r.wait_ms.map(|w| w.to_string()).unwrap_or_default(),
            r.agent.clone().unwrap_or_default(),
            r.outcome.clone().unwrap_or_default(),
            r.ended_by.clone().unwrap_or_default(),
            r.reason.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = cols.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, at: DateTime<Utc>) -> CallRecord {
        CallRecord {
            call_id: id.into(),
            line: "hotline-95017".into(),
            flow_version: "abc".into(),
            dialled: "95017".into(),
            caller: Some("+861********78".into()),
            started_at: at,
            ended_at: None,
            path: vec!["welcome".into(), "main_menu".into()],
            inputs: BTreeMap::from([("reason".into(), "fraud".into())]),
            language: Some("zh-CN".into()),
            queue: None,
            priority: None,
            wait_ms: None,
            agent: None,
            outcome: None,
            ended_by: None,
            reason: None,
        }
    }

    #[test]
    fn a_started_then_ended_call_leaves_one_complete_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("calls.sqlite");
        let t0 = Utc::now();
        let (store, closed) = CdrStore::open(&db, t0, None).unwrap();
        assert_eq!(closed, 0);
        let w = store.writer();
        let mut r = record("CA1", t0);
        w.write(r.clone()).unwrap();
        r.ended_at = Some(t0 + chrono::Duration::seconds(42));
        r.outcome = Some("agent".into());
        r.ended_by = Some("caller".into());
        r.queue = Some("general".into());
        r.priority = Some("emergency".into());
        r.wait_ms = Some(1500);
        w.write(r.clone()).unwrap();
        store.close().unwrap();
        let rows = list(&db, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].outcome.as_deref(), Some("agent"));
        assert_eq!(rows[0].wait_ms, Some(1500));
        assert_eq!(rows[0].path, vec!["welcome", "main_menu"]);
    }

    #[test]
    fn rows_left_open_by_a_crash_are_closed_at_restart() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("calls.sqlite");
        let t0 = Utc::now();
        let (store, _) = CdrStore::open(&db, t0, None).unwrap();
        store.writer().write(record("CA-crashed", t0)).unwrap();
        store.close().unwrap();
        let (store, closed) = CdrStore::open(&db, t0 + chrono::Duration::seconds(5), None).unwrap();
        assert_eq!(closed, 1);
        store.close().unwrap();
        let r = find(&db, "CA-crashed").unwrap().unwrap();
        assert_eq!(r.ended_by.as_deref(), Some("restart"));
        assert!(r.ended_at.is_some());
    }

    #[test]
    fn a_finished_record_is_not_overwritten_by_a_late_start() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("calls.sqlite");
        let t0 = Utc::now();
        let (store, _) = CdrStore::open(&db, t0, None).unwrap();
        let w = store.writer();
        let mut done = record("CA2", t0);
        done.ended_at = Some(t0);
        done.outcome = Some("self_service".into());
        w.write(done).unwrap();
        w.write(record("CA2", t0)).unwrap();
        store.close().unwrap();
        let r = find(&db, "CA2").unwrap().unwrap();
        assert_eq!(r.outcome.as_deref(), Some("self_service"));
    }

    #[test]
    fn a_file_from_before_the_reason_column_gains_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("old.sqlite");
        let old_schema = SCHEMA.replace(",\n    reason       TEXT", "");
        Connection::open(&db)
            .unwrap()
            .execute_batch(&old_schema)
            .unwrap();
        let t0 = Utc::now();
        let (store, _) = CdrStore::open(&db, t0, None).unwrap();
        let mut r = record("CA-old", t0);
        r.ended_at = Some(t0);
        r.reason = Some("closed_hours".into());
        store.writer().write(r).unwrap();
        store.close().unwrap();
        let back = find(&db, "CA-old").unwrap().unwrap();
        assert_eq!(back.reason.as_deref(), Some("closed_hours"));
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        let mut r = record("CA3", Utc::now());
        r.inputs = BTreeMap::from([("a".into(), "x,y".into())]);
        let csv = to_csv(&[r]);
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.contains("\"{\"\"a\"\":\"\"x,y\"\"}\""));
    }

    #[test]
    fn records_written_count_in_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let m = Metrics::new().unwrap();
        let (store, _) =
            CdrStore::open(dir.path().join("c.sqlite"), Utc::now(), Some(m.clone())).unwrap();
        store.writer().write(record("CA4", Utc::now())).unwrap();
        store.close().unwrap();
        assert!(m.render().contains("ivr_cdr_writes_total{result=\"ok\"} 1"));
    }
}
