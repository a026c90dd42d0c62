//! `watch --history FILE`: the events kept in an SQLite file, one row each,
//! for `portwatch history`. The row holds the whole event as JSON (what a
//! read gives back, owners and all) beside columns for SQL and indexes:
//! time, event, protocol, local address and port, the first holder's pid
//! and name, the namespace. The file is in WAL mode, so readers (other
//! processes too) read while the one writer writes; opening an existing
//! file appends to it. Retention drops what is older than a maximum age
//! and, past a maximum size, the oldest rows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params};

use crate::model::Socket;
use crate::model::watch::WatchEvent;

/// Marks the file as portwatch's in SQLite's header (`PRAGMA
/// application_id`): "PWhs".
const APPLICATION_ID: i32 = 0x5057_6873;

/// The layout this portwatch writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        time_us INTEGER NOT NULL,
        event TEXT NOT NULL,
        netid TEXT NOT NULL,
        local_addr TEXT,
        port INTEGER,
        pid INTEGER,
        comm TEXT,
        netns INTEGER,
        json TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events (time_us, id);
    CREATE INDEX events_by_port ON events (port);
";

/// How long a connection waits for another's lock: a reader's snapshot
/// or a checkpoint must never make the writer fail.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Retention runs after at most this many batches...
const RETENTION_EVERY_BATCHES: u32 = 100;
/// ...or this long, whichever comes first.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// A file over its size limit is trimmed to this share of it, so that
/// trimming is not due again at the next batch.
const TRIM_TO_SHARE: f64 = 0.9;

/// Trimming estimates how many rows to drop; partly emptied index pages
/// can need a second pass, never many.
const MAX_TRIM_PASSES: usize = 8;

/// What the history keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this, measured from the newest event recorded,
    /// are dropped.
    pub max_age: Option<Duration>,
    /// When the rows take more than this many bytes of the file, the
    /// oldest are dropped (the write-ahead log adds up to a few MB).
    pub max_bytes: Option<u64>,
}

/// The writer of a history file.
#[derive(Debug)]
pub struct History {
    connection: Connection,
    path: PathBuf,
    retention: Retention,
    batches_since_retention: u32,
    /// `None` until the first batch, which applies retention at once.
    last_retention: Option<Instant>,
}

impl History {
    /// Opens `path` for recording, creating the file and its tables if
    /// missing; an existing history is appended to.
    pub fn open(path: &Path, retention: Retention) -> Result<History> {
        let connection = Connection::open(path)
            .with_context(|| format!("cannot open history {}", path.display()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let layout = Layout::read(&connection, path)?;
        set_up_writer(&connection, layout)
            .with_context(|| format!("cannot set up history {}", path.display()))?;
        Ok(History {
            connection,
            path: path.to_owned(),
            retention,
            batches_since_retention: 0,
            last_retention: None,
        })
    }

    /// Records one poll's events in one transaction, then applies
    /// retention when it is due.
    pub fn record(&mut self, events: &[WatchEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = events.iter().map(Row::of).collect::<Result<Vec<_>>>()?;
        let retention_due = self.retention_due();
        let transaction =
            self.connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert(&transaction, &rows)?;
        if retention_due {
            let newest = rows.iter().map(|row| row.time_us).max().unwrap_or(i64::MIN);
            apply_retention(&transaction, self.retention, newest)?;
        }
        transaction.commit().with_context(|| format!("cannot write to {}", self.path.display()))
    }

    fn retention_due(&mut self) -> bool {
        self.batches_since_retention += 1;
        let due = self.batches_since_retention >= RETENTION_EVERY_BATCHES
            || self.last_retention.is_none_or(|last| last.elapsed() >= RETENTION_EVERY);
        if due {
            self.batches_since_retention = 0;
            self.last_retention = Some(Instant::now());
        }
        due
    }
}

/// Which events a read returns.
#[derive(Clone, Copy, Default)]
pub struct HistoryQuery<'a> {
    /// At or after this time.
    pub since: Option<SystemTime>,
    /// At or before this time.
    pub until: Option<SystemTime>,
    /// Only events whose socket this accepts.
    pub target: Option<&'a dyn Fn(&Socket) -> bool>,
}

/// The events in `path` that `query` asks for, in the order they were
/// recorded. Reads a snapshot, opened read-only: a writer may be at work.
pub fn read(path: &Path, query: &HistoryQuery<'_>) -> Result<Vec<WatchEvent>> {
    std::fs::metadata(path).with_context(|| format!("cannot read history {}", path.display()))?;
    let connection = open_reader(path)?;
    let since = query.since.map_or(i64::MIN, micros);
    let until = query.until.map_or(i64::MAX, micros);
    let mut statement = connection.prepare(
        "SELECT id, json FROM events WHERE time_us BETWEEN ?1 AND ?2 ORDER BY time_us, id",
    )?;
    let rows = statement.query_map(params![since, until], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (id, json) = row.with_context(|| format!("cannot read {}", path.display()))?;
        let event: WatchEvent = serde_json::from_str(&json)
            .with_context(|| format!("{}: row {id} is not a watch event", path.display()))?;
        if query.target.is_none_or(|accepts| accepts(&event.socket)) {
            events.push(event);
        }
    }
    Ok(events)
}

/// Opens `path` read-only. A WAL database whose writer has gone (no
/// `-wal` file) in a directory this user cannot write (a history kept by
/// root, read by another user) cannot be opened that way, as SQLite wants
/// to create its shared-memory file; with no writer to race, it is then
/// read as immutable.
fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let open = |path: &str, flags| -> Result<Connection> {
        let connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        Ok(connection)
    };
    let text = path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))?;
    let mut connection =
        open(text, flags).with_context(|| format!("cannot open history {}", path.display()))?;
    let mut layout = Layout::read(&connection, path);
    let writer_gone = !sibling(path, "-wal").exists();
    if layout.is_err() && writer_gone {
        let immutable = format!("file:{}?immutable=1", uri_escaped(text));
        if let Ok(retried) = open(&immutable, flags | OpenFlags::SQLITE_OPEN_URI) {
            layout = Layout::read(&retried, path);
            connection = retried;
        }
    }
    if layout? == Layout::Empty {
        bail!("{} is not a portwatch history (an empty database)", path.display());
    }
    Ok(connection)
}

/// `path` with `suffix` added to its file name (`history.db-wal`).
fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// A path as the path part of an SQLite URI.
fn uri_escaped(path: &str) -> String {
    path.replace('%', "%25").replace('?', "%3f").replace('#', "%23")
}

/// What a file holds, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// No table yet: a new file.
    Empty,
    /// A history this portwatch reads and writes.
    Current,
}

impl Layout {
    /// Refuses anything but an empty database or a current history.
    fn read(connection: &Connection, path: &Path) -> Result<Layout> {
        let not_history = || format!("{} is not a portwatch history", path.display());
        // SQLite's message alone: its error's source repeats it.
        let header_error = |error: rusqlite::Error| anyhow!("{}: {error}", not_history());
        let pragma = |name: &str| connection.pragma_query_value(None, name, |row| row.get(0));
        let application_id: i32 = pragma("application_id").map_err(header_error)?;
        let version: i32 = pragma("user_version").map_err(header_error)?;
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(header_error)?;
        match (application_id, version) {
            (0, 0) if tables == 0 => Ok(Layout::Empty),
            (APPLICATION_ID, SCHEMA_VERSION) => Ok(Layout::Current),
            (APPLICATION_ID, newer) if newer > SCHEMA_VERSION => Err(anyhow!(
                "{} was written by a newer portwatch (history schema {newer}; this one \
                 knows {SCHEMA_VERSION})",
                path.display()
            )),
            (APPLICATION_ID, other) => {
                Err(anyhow!("{} (unknown history schema {other})", not_history()))
            }
            _ => Err(anyhow!("{} (another program's SQLite database)", not_history())),
        }
    }
}

/// WAL so that readers never block the writer, NORMAL sync (a crash may
/// lose the last batches, never corrupt the file), and the tables on a
/// new file.
fn set_up_writer(connection: &Connection, layout: Layout) -> Result<()> {
    if layout == Layout::Empty {
        // Only before the first table: lets trimming give pages back.
        connection.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("the file system does not allow a write-ahead log (journal mode {mode})");
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    if layout == Layout::Empty {
        connection.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
    }
    Ok(())
}

/// An event as stored: the indexed columns and the whole event.
struct Row {
    time_us: i64,
    event: &'static str,
    netid: &'static str,
    local_addr: Option<String>,
    port: Option<u16>,
    pid: Option<u32>,
    comm: Option<String>,
    netns: Option<i64>,
    json: String,
}

impl Row {
    fn of(event: &WatchEvent) -> Result<Row> {
        let time = humantime::parse_rfc3339(&event.time)
            .with_context(|| format!("event time '{}' is not RFC 3339", event.time))?;
        let socket = &event.socket;
        let inet = socket.as_inet();
        let first_holder = socket.holders().first().map(|holder| &holder.process);
        Ok(Row {
            time_us: micros(time),
            event: event.event.as_str(),
            netid: socket.netid().as_str(),
            local_addr: inet.map(|inet| inet.local.addr.to_string()),
            port: inet.map(|inet| inet.local.port),
            pid: first_holder.map(|process| process.pid),
            comm: first_holder.map(|process| process.display_name().into_owned()),
            netns: socket.netns().and_then(|netns| i64::try_from(netns.inode).ok()),
            json: serde_json::to_string(event)?,
        })
    }
}

fn insert(transaction: &Transaction<'_>, rows: &[Row]) -> Result<()> {
    let mut statement = transaction.prepare_cached(
        "INSERT INTO events (time_us, event, netid, local_addr, port, pid, comm, netns, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for row in rows {
        statement.execute(params![
            row.time_us,
            row.event,
            row.netid,
            row.local_addr,
            row.port,
            row.pid,
            row.comm,
            row.netns,
            row.json
        ])?;
    }
    Ok(())
}

/// Microseconds since 1970 (negative before), the `time_us` column;
/// beyond what an i64 holds, its end.
fn micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}

/// Drops events older than `max_age` before `newest_us`, then the oldest
/// while the rows take more than `max_bytes`.
fn apply_retention(
    transaction: &Transaction<'_>,
    retention: Retention,
    newest_us: i64,
) -> Result<()> {
    if let Some(max_age) = retention.max_age {
        let age_us = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
        transaction
            .execute("DELETE FROM events WHERE time_us < ?1", [newest_us.saturating_sub(age_us)])?;
    }
    if let Some(max_bytes) = retention.max_bytes {
        trim_to_size(transaction, max_bytes)?;
    }
    transaction.execute_batch("PRAGMA incremental_vacuum")?;
    Ok(())
}

fn trim_to_size(transaction: &Transaction<'_>, max_bytes: u64) -> Result<()> {
    for _ in 0..MAX_TRIM_PASSES {
        let used = used_bytes(transaction)?;
        let rows: i64 = transaction.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        if used <= max_bytes || rows == 0 {
            break;
        }
        let keep_share = max_bytes as f64 * TRIM_TO_SHARE / used as f64;
        let drop = ((rows as f64) * (1.0 - keep_share)).ceil().max(1.0) as i64;
        transaction.execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY time_us, id LIMIT ?1)",
            [drop],
        )?;
    }
    Ok(())
}

/// The bytes of the pages in use: the file's size less its free pages.
fn used_bytes(connection: &Connection) -> Result<u64> {
    let pragma = |name: &str| -> Result<u64> {
        Ok(connection.pragma_query_value(None, name, |row| row.get::<_, i64>(0))?.max(0) as u64)
    };
    let pages = pragma("page_count")?.saturating_sub(pragma("freelist_count")?);
    Ok(pages * pragma("page_size")?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::model::process::Ownership;
    use crate::model::watch::EventKind;
    use crate::model::{Holder, InetSocket, IpFamily, Process, SocketState, Transport};

    /// A TCP listener on `port` held by `pid` (named `name`), as watch
    /// reports it.
    fn listener(port: u16, pid: u32, name: &str) -> Socket {
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Listening);
        socket.local.port = port;
        socket.inode = Some(1000 + u32::from(port));
        socket.cookie = Some(u64::from(port) << 8);
        let process = Process {
            pid,
            name: Some(name.into()),
            user: Some("root".into()),
            ..Process::default()
        };
        let holder = Holder { fd: 3, process: Arc::new(process), socket_context: None };
        let mut socket = Socket::Inet(socket);
        socket.set_owners(Some(Ownership { processes: vec![holder], owner_visible: true }));
        socket
    }

    /// An event at `second` seconds into 2026-12-05 14:00 UTC.
    fn event(kind: EventKind, second: u32, port: u16) -> WatchEvent {
        let time = format!("2026-12-05T14:{:02}:{:02}.123456Z", second / 60, second % 60);
        WatchEvent::new(kind, time, listener(port, 100 + u32::from(port), "nginx"))
    }

    fn all(path: &Path) -> Vec<WatchEvent> {
        read(path, &HistoryQuery::default()).unwrap()
    }

    fn forever() -> Retention {
        Retention::default()
    }

    #[test]
    fn events_read_back_exactly_in_recording_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut history = History::open(&path, forever()).unwrap();
        let first = vec![event(EventKind::Open, 1, 8080), event(EventKind::Open, 1, 9090)];
        // Same time, recorded later: after them.
        let second = vec![event(EventKind::Close, 2, 8080), event(EventKind::Close, 2, 80)];
        history.record(&first).unwrap();
        history.record(&[]).unwrap();
        history.record(&second).unwrap();
        assert_eq!(all(&path), [first, second].concat());
        assert!(all(&path)[0].socket.owners().is_some(), "owners kept");
    }

    #[test]
    fn reopening_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let before = vec![event(EventKind::Open, 1, 8080)];
        History::open(&path, forever()).unwrap().record(&before).unwrap();
        let after = vec![event(EventKind::Close, 5, 8080)];
        History::open(&path, forever()).unwrap().record(&after).unwrap();
        assert_eq!(all(&path), [before, after].concat());
    }

    #[test]
    fn since_until_and_target_choose_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let events: Vec<WatchEvent> =
            (0..6).map(|i| event(EventKind::Open, i * 10, 8000 + i as u16)).collect();
        History::open(&path, forever()).unwrap().record(&events).unwrap();
        let at = |event: &WatchEvent| humantime::parse_rfc3339(&event.time).unwrap();
        let port_8003 = |socket: &Socket| socket.local_port() == Some(8003);
        let query =
            HistoryQuery { since: Some(at(&events[1])), until: Some(at(&events[4])), target: None };
        assert_eq!(read(&path, &query).unwrap(), events[1..=4]);
        let query = HistoryQuery { target: Some(&port_8003), ..HistoryQuery::default() };
        assert_eq!(read(&path, &query).unwrap(), [events[3].clone()]);
        let before_1970 = UNIX_EPOCH - Duration::from_secs(86_400);
        let query = HistoryQuery { since: Some(before_1970), ..HistoryQuery::default() };
        assert_eq!(read(&path, &query).unwrap(), events, "--since 100years: everything");
    }

    #[test]
    fn a_reader_reads_while_the_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut history = History::open(&path, forever()).unwrap();
        history.record(&[event(EventKind::Open, 0, 1)]).unwrap();
        let writing = Arc::new(AtomicBool::new(true));
        let reader = {
            let (path, writing) = (path.clone(), writing.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                let mut seen = 0;
                while writing.load(Ordering::Relaxed) || reads == 0 {
                    let events = all(&path);
                    assert!(events.len() >= seen, "a read never goes back");
                    assert_eq!(events.len() % 2, 1, "whole batches of two after the first");
                    seen = events.len();
                    reads += 1;
                }
                reads
            })
        };
        for batch in 1..200u16 {
            let second = u32::from(batch);
            let events =
                [event(EventKind::Open, second, batch), event(EventKind::Close, second, batch)];
            history.record(&events).unwrap();
        }
        writing.store(false, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(all(&path).len(), 1 + 199 * 2);
    }

    #[test]
    fn retention_drops_events_older_than_the_maximum_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let old = vec![event(EventKind::Open, 0, 1), event(EventKind::Open, 30, 2)];
        History::open(&path, forever()).unwrap().record(&old).unwrap();
        let retention = Retention { max_age: Some(Duration::from_secs(90)), max_bytes: None };
        // Retention is due at a writer's first batch, measured from its newest event.
        let new = vec![event(EventKind::Open, 100, 3)];
        History::open(&path, retention).unwrap().record(&new).unwrap();
        assert_eq!(all(&path), [old[1].clone(), new[0].clone()]);
    }

    #[test]
    fn retention_drops_the_oldest_events_past_the_maximum_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut history = History::open(&path, forever()).unwrap();
        let events: Vec<WatchEvent> =
            (0..2000).map(|i| event(EventKind::Open, i / 40, i as u16)).collect();
        for batch in events.chunks(100) {
            history.record(batch).unwrap();
        }
        drop(history);
        let max_bytes = 64 * 1024;
        assert!(used_bytes(&Connection::open(&path).unwrap()).unwrap() > max_bytes * 4);
        let retention = Retention { max_age: None, max_bytes: Some(max_bytes) };
        let last = event(EventKind::Close, 3000, 1);
        History::open(&path, retention).unwrap().record(std::slice::from_ref(&last)).unwrap();
        assert!(used_bytes(&Connection::open(&path).unwrap()).unwrap() <= max_bytes);
        let kept = all(&path);
        assert!(kept.len() > 50 && kept.len() < 1000, "{} kept", kept.len());
        assert_eq!(kept.last(), Some(&last));
        let newest_old = &events[events.len() - kept.len() + 1..];
        assert_eq!(kept[..kept.len() - 1], *newest_old, "the oldest went");
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let text = "not a database, but long enough to have a header of sorts\n".repeat(20);
        std::fs::write(&path, &text).unwrap();
        let message = format!("{:#}", History::open(&path, forever()).unwrap_err());
        assert!(message.contains("notes.txt is not a portwatch history"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        let message = format!("{:#}", read(&path, &HistoryQuery::default()).unwrap_err());
        assert!(message.contains("notes.txt is not a portwatch history"), "{message}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "left as it was");
    }

    #[test]
    fn another_database_or_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let message = format!("{:#}", History::open(&other, forever()).unwrap_err());
        assert!(message.ends_with("not a portwatch history (another program's SQLite database)"));
        let newer = dir.path().join("newer.db");
        History::open(&newer, forever()).unwrap();
        Connection::open(&newer).unwrap().pragma_update(None, "user_version", 2).unwrap();
        for error in [
            History::open(&newer, forever()).unwrap_err(),
            read(&newer, &HistoryQuery::default()).unwrap_err(),
        ] {
            let message = format!("{error:#}");
            assert!(message.contains("newer.db was written by a newer portwatch"), "{message}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let message = format!(
            "{:#}",
            read(Path::new("/nonexistent/h.db"), &HistoryQuery::default()).unwrap_err()
        );
        assert!(message.starts_with("cannot read history /nonexistent/h.db: "), "{message}");
    }
}
