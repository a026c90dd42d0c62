//! `watch`'s full-screen view: the current listeners as a table that the
//! events update. [`LiveTable`] is its state (the rows, their sort and
//! filter, the keys that change them) and [`draw`] paints it on a ratatui
//! frame; neither touches a terminal, so both are tested on ratatui's
//! `TestBackend`. Process names, users and units are untrusted and escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Paragraph, Row, Table};

use super::escape::for_terminal;
use super::text::ss_state;
use super::watch::local_text;
use crate::model::watch::{EventKind, WatchEvent};
use crate::model::{Instance, Process, Socket};

/// How long a new listener stays highlighted.
pub const NEW_FOR: Duration = Duration::from_secs(10);
/// How long a closed listener stays shown, dimmed, before it drops.
pub const CLOSED_FOR: Duration = Duration::from_secs(30);

/// A listener opened less than [`NEW_FOR`] ago.
pub const NEW_STYLE: Style = Style::new().fg(Color::Green).add_modifier(Modifier::BOLD);
/// A listener closed less than [`CLOSED_FOR`] ago.
pub const CLOSED_STYLE: Style = Style::new().add_modifier(Modifier::DIM);

const COLUMNS: [&str; 7] =
    ["PROTO", "LOCAL ADDRESS:PORT", "STATE", "PID", "PROCESS", "USER", "UNIT"];

/// The order of the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// By port, then protocol and address.
    Port,
    /// By process name, then port.
    Process,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Port => SortKey::Process,
            SortKey::Process => SortKey::Port,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            SortKey::Port => "port",
            SortKey::Process => "process",
        }
    }
}

/// How a row is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStatus {
    /// Opened less than [`NEW_FOR`] ago: highlighted.
    New,
    Open,
    /// Closed less than [`CLOSED_FOR`] ago: dimmed and marked closed.
    Closed,
}

/// What a key asks of the view's loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    Continue,
    Quit,
}

/// A listener as the table shows it, its texts escaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRow {
    pub status: RowStatus,
    pub proto: &'static str,
    /// `0.0.0.0:8080`, `[::1]:53%lo`, with the namespace label in front.
    pub address: String,
    pub port: u16,
    pub state: &'static str,
    pub pid: String,
    pub process: String,
    pub user: String,
    /// The systemd unit, or the container (`docker:0123456789ab`).
    pub unit: String,
}

impl LiveRow {
    fn matches(&self, filter: &str) -> bool {
        let filter = filter.to_lowercase();
        [&self.address, &self.port.to_string(), &self.process, &self.user, &self.unit]
            .iter()
            .any(|field| field.to_lowercase().contains(&filter))
    }

    fn cells(&self) -> [String; 7] {
        [
            self.proto.to_owned(),
            self.address.clone(),
            self.state.to_owned(),
            self.pid.clone(),
            self.process.clone(),
            self.user.clone(),
            self.unit.clone(),
        ]
    }

    fn style(&self) -> Style {
        match self.status {
            RowStatus::New => NEW_STYLE,
            RowStatus::Open => Style::new(),
            RowStatus::Closed => CLOSED_STYLE,
        }
    }
}

/// One listener and when the view saw it open and close.
#[derive(Debug)]
struct Tracked {
    socket: Socket,
    opened: Option<Instant>,
    closed: Option<Instant>,
}

impl Tracked {
    /// How the row shows at `now`; `None` once a closed row has expired.
    fn status(&self, now: Instant) -> Option<RowStatus> {
        let within = |since: Option<Instant>, span: Duration| {
            since.is_some_and(|since| now.saturating_duration_since(since) < span)
        };
        match self.closed {
            Some(_) if within(self.closed, CLOSED_FOR) => Some(RowStatus::Closed),
            Some(_) => None,
            None if within(self.opened, NEW_FOR) => Some(RowStatus::New),
            None => Some(RowStatus::Open),
        }
    }

    fn row(&self, status: RowStatus) -> Option<LiveRow> {
        let inet = self.socket.as_inet()?;
        let [pid, process, user, unit] = owner_cells(&self.socket);
        Some(LiveRow {
            status,
            proto: inet.netid.as_str(),
            address: local_text(inet),
            port: inet.local.port,
            state: match status {
                RowStatus::Closed => "closed",
                RowStatus::New | RowStatus::Open => ss_state(inet.state),
            },
            pid,
            process,
            user,
            unit,
        })
    }
}

/// Pid, process, user and unit of the socket's first holder; the pid
/// says how many other processes hold it too (`812+2`).
fn owner_cells(socket: &Socket) -> [String; 4] {
    let holders = socket.owners().map(|o| o.processes.as_slice()).unwrap_or_default();
    let Some(process) = holders.first().map(|holder| holder.process.as_ref()) else {
        return Default::default();
    };
    let processes: BTreeSet<u32> = holders.iter().map(|holder| holder.process.pid).collect();
    let pid = match processes.len() {
        0 | 1 => process.pid.to_string(),
        more => format!("{}+{}", process.pid, more - 1),
    };
    [
        pid,
        escaped(&process.display_name()),
        process.user.as_deref().map(escaped).unwrap_or_default(),
        unit_text(process),
    ]
}

fn escaped(text: &str) -> String {
    for_terminal(text).into_owned()
}

/// The unit, or the container with its id cut to 12 characters as docker
/// prints it.
fn unit_text(process: &Process) -> String {
    if let Some(unit) = &process.unit {
        return escaped(unit);
    }
    process.container.as_ref().or(process.serves.as_ref()).map_or_else(String::new, |container| {
        format!("{}:{}", escaped(&container.runtime), escaped(&container.label()))
    })
}

/// The live view's state: the listeners, as events left them, and how
/// they are sorted and filtered.
#[derive(Debug)]
pub struct LiveTable {
    tracked: BTreeMap<Instance, Tracked>,
    interval: Duration,
    sort: SortKey,
    filter: String,
    editing_filter: bool,
}

impl LiveTable {
    /// The listeners present at the start (not highlighted), polled every
    /// `interval` (shown in the header).
    pub fn new(initial: Vec<Socket>, interval: Duration) -> LiveTable {
        let tracked = initial
            .into_iter()
            .filter_map(|socket| {
                let key = socket.instance()?;
                Some((key, Tracked { socket, opened: None, closed: None }))
            })
            .collect();
        LiveTable {
            tracked,
            interval,
            sort: SortKey::Port,
            filter: String::new(),
            editing_filter: false,
        }
    }

    /// Takes one event seen at `now`; closed rows that have expired drop.
    pub fn apply(&mut self, event: &WatchEvent, now: Instant) {
        self.tracked.retain(|_, tracked| tracked.status(now).is_some());
        let Some(key) = event.socket.instance() else { return };
        match event.event {
            EventKind::Open => {
                let tracked =
                    Tracked { socket: event.socket.clone(), opened: Some(now), closed: None };
                self.tracked.insert(key, tracked);
            }
            EventKind::Close => {
                let unseen =
                    || Tracked { socket: event.socket.clone(), opened: None, closed: None };
                self.tracked.entry(key).or_insert_with(unseen).closed = Some(now);
            }
        }
    }

    /// The rows shown at `now`: sorted, and narrowed by the filter.
    pub fn rows(&self, now: Instant) -> Vec<LiveRow> {
        let mut rows: Vec<LiveRow> =
            self.all_rows(now).into_iter().filter(|row| row.matches(&self.filter)).collect();
        rows.sort_by_cached_key(|row| {
            let process = match self.sort {
                SortKey::Port => String::new(),
                SortKey::Process => row.process.to_lowercase(),
            };
            (process, row.port, row.proto, row.address.clone())
        });
        rows
    }

    fn all_rows(&self, now: Instant) -> Vec<LiveRow> {
        self.tracked.values().filter_map(|tracked| tracked.row(tracked.status(now)?)).collect()
    }

    /// Takes a key: `q`, Esc or Ctrl-C quit; `s` cycles the sort, `p` and
    /// `n` choose port or process (name) order; `/` opens the filter
    /// prompt, where typing narrows the rows, Enter keeps the filter and
    /// Esc clears it.
    pub fn on_key(&mut self, key: KeyEvent) -> KeyOutcome {
        if key.kind == KeyEventKind::Release {
            return KeyOutcome::Continue;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return KeyOutcome::Quit;
        }
        if self.editing_filter {
            self.edit_filter(key.code);
            return KeyOutcome::Continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return KeyOutcome::Quit,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('p') => self.sort = SortKey::Port,
            KeyCode::Char('n') => self.sort = SortKey::Process,
            KeyCode::Char('/') => self.editing_filter = true,
            _ => {}
        }
        KeyOutcome::Continue
    }

    fn edit_filter(&mut self, code: KeyCode) {
        match code {
            KeyCode::Char(c) => self.filter.push(c),
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.filter.clear();
                self.editing_filter = false;
            }
            _ => {}
        }
    }

    /// `12 listeners (2 new, 1 closed) | every 1s | sort: port | filter "ng": 3 shown`
    fn header(&self, now: Instant, shown: usize) -> String {
        let statuses: Vec<RowStatus> =
            self.tracked.values().filter_map(|tracked| tracked.status(now)).collect();
        let count = |status| statuses.iter().filter(|s| **s == status).count();
        let open = statuses.len() - count(RowStatus::Closed);
        let mut header = format!(
            "portwatch watch | {open} listeners ({} new, {} closed) | every {} | sort: {}",
            count(RowStatus::New),
            count(RowStatus::Closed),
            humantime::format_duration(self.interval),
            self.sort.as_str(),
        );
        if !self.filter.is_empty() {
            let _ = write!(header, " | filter \"{}\": {shown} shown", escaped(&self.filter));
        }
        header
    }

    fn footer(&self) -> String {
        match self.editing_filter {
            true => format!("/{}", escaped(&self.filter)),
            false => "q quit | s sort (p port, n process) | / filter".to_owned(),
        }
    }
}

/// Paints the header (counts, interval, sort, filter), the table, and the
/// footer (the keys, or the filter prompt while it is open) on `frame`.
pub fn draw(frame: &mut Frame, table: &LiveTable, now: Instant) {
    let [header_area, body_area, footer_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)])
            .areas(frame.area());
    let rows = table.rows(now);
    let bar = Style::new().add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(table.header(now, rows.len())).style(bar), header_area);
    frame.render_widget(listener_table(&rows), body_area);
    let footer = table.footer();
    if table.editing_filter {
        frame.render_widget(
            Paragraph::new(format!("{footer}  (Enter keep, Esc clear)")),
            footer_area,
        );
        frame.set_cursor_position(cursor_after(&footer, footer_area));
    } else {
        frame.render_widget(Paragraph::new(footer).style(bar), footer_area);
    }
}

fn listener_table(rows: &[LiveRow]) -> Table<'static> {
    let header = Row::new(COLUMNS).style(Style::new().add_modifier(Modifier::BOLD));
    let body = rows.iter().map(|row| Row::new(row.cells()).style(row.style()));
    let widths = [
        Constraint::Length(5),
        Constraint::Min(22),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Fill(1),
    ];
    Table::new(body, widths).header(header)
}

fn cursor_after(text: &str, area: Rect) -> (u16, u16) {
    let width = u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    (area.x.saturating_add(width).min(area.right().saturating_sub(1)), area.y)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::*;
    use crate::model::process::Ownership;
    use crate::model::{Holder, InetSocket, IpFamily, SocketState, Transport};

    fn listener(port: u16, cookie: u64, name: &str) -> Socket {
        let mut inet = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Listening);
        inet.local.port = port;
        inet.cookie = Some(cookie);
        let process = Process {
            pid: 100 + u32::from(port),
            name: Some(name.into()),
            user: Some("root".into()),
            unit: Some(format!("{name}.service")),
            ..Process::default()
        };
        let holder = Holder { fd: 3, process: Arc::new(process), socket_context: None };
        let mut socket = Socket::Inet(inet);
        socket.set_owners(Some(Ownership { processes: vec![holder], owner_visible: true }));
        socket
    }

    fn event(event: EventKind, socket: Socket) -> WatchEvent {
        WatchEvent::new(event, "2026-12-05T14:20:01.123456Z".into(), socket)
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_keys(table: &mut LiveTable, text: &str) {
        for c in text.chars() {
            assert_eq!(table.on_key(key(KeyCode::Char(c))), KeyOutcome::Continue);
        }
    }

    fn ports(table: &LiveTable, now: Instant) -> Vec<u16> {
        table.rows(now).iter().map(|row| row.port).collect()
    }

    /// sshd on 22 from the start, nginx on 80 and postgres on 5432 opened at
    /// the returned instant.
    fn three_listeners() -> (LiveTable, Instant) {
        let mut table = LiveTable::new(vec![listener(22, 1, "sshd")], Duration::from_millis(100));
        let opened = Instant::now();
        table.apply(&event(EventKind::Open, listener(5432, 3, "postgres")), opened);
        table.apply(&event(EventKind::Open, listener(80, 2, "nginx")), opened);
        (table, opened)
    }

    fn drawn(table: &LiveTable, now: Instant) -> Buffer {
        let mut terminal = ratatui::Terminal::new(TestBackend::new(100, 8)).unwrap();
        terminal.draw(|frame| draw(frame, table, now)).unwrap();
        terminal.backend().buffer().clone()
    }

    /// The screen line holding `text`, and its style at its first column.
    fn line_with(buffer: &Buffer, text: &str) -> (String, Style) {
        let area = buffer.area;
        (area.top()..area.bottom())
            .map(|y| {
                let line: String = (area.left()..area.right())
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect();
                (line, buffer[(0, y)].style())
            })
            .find(|(line, _)| line.contains(text))
            .unwrap_or_else(|| panic!("no line with {text:?} in {buffer:?}"))
    }

    #[test]
    fn a_new_row_is_highlighted_and_a_closed_one_dimmed_and_marked() {
        let (mut table, opened) = three_listeners();
        table.apply(&event(EventKind::Close, listener(22, 1, "sshd")), opened);
        let screen = drawn(&table, opened + Duration::from_secs(1));
        let (nginx, style) = line_with(&screen, "0.0.0.0:80 ");
        assert!(nginx.contains("LISTEN") && nginx.contains("nginx.service"), "{nginx}");
        assert_eq!((style.fg, style.add_modifier), (Some(Color::Green), Modifier::BOLD));
        let (sshd, style) = line_with(&screen, "0.0.0.0:22 ");
        assert!(sshd.contains("closed") && sshd.contains("sshd"), "{sshd}");
        assert_eq!(style.add_modifier, Modifier::DIM);
        let (header, _) = line_with(&screen, "portwatch watch");
        assert!(header.contains("2 listeners (2 new, 1 closed) | every 100ms"), "{header}");
    }

    #[test]
    fn a_highlight_ends_after_10_s_and_a_closed_row_drops_after_30_s() {
        let (mut table, opened) = three_listeners();
        table.apply(&event(EventKind::Close, listener(22, 1, "sshd")), opened);
        let statuses = |now| table.rows(now).iter().map(|row| row.status).collect::<Vec<_>>();
        let later = opened + NEW_FOR + Duration::from_secs(1);
        assert_eq!(statuses(later), [RowStatus::Closed, RowStatus::Open, RowStatus::Open]);
        assert_eq!(ports(&table, opened + CLOSED_FOR + Duration::from_secs(1)), [80, 5432]);
    }

    #[test]
    fn the_filter_narrows_as_typed_enter_keeps_it_and_esc_clears_it() {
        let (mut table, now) = three_listeners();
        type_keys(&mut table, "/");
        type_keys(&mut table, "G");
        assert_eq!(ports(&table, now), [80, 5432], "nginx and postgres, in any case");
        type_keys(&mut table, "i");
        assert_eq!(ports(&table, now), [80]);
        let (prompt, _) = line_with(&drawn(&table, now), "/Gi");
        assert!(prompt.contains("Enter keep, Esc clear"), "{prompt}");
        table.on_key(key(KeyCode::Enter));
        assert_eq!((table.filter.as_str(), ports(&table, now)), ("Gi", vec![80]));
        type_keys(&mut table, "/");
        table.on_key(key(KeyCode::Esc));
        assert_eq!((table.filter.as_str(), ports(&table, now)), ("", vec![22, 80, 5432]));
    }

    #[test]
    fn s_cycles_the_sort_between_port_and_process() {
        let (mut table, now) = three_listeners();
        assert_eq!(ports(&table, now), [22, 80, 5432]);
        type_keys(&mut table, "s");
        assert_eq!((table.sort, ports(&table, now)), (SortKey::Process, vec![80, 5432, 22]));
        type_keys(&mut table, "s");
        assert_eq!(table.sort, SortKey::Port);
        type_keys(&mut table, "n");
        assert_eq!(table.sort, SortKey::Process);
        type_keys(&mut table, "p");
        assert_eq!(table.sort, SortKey::Port);
    }

    #[test]
    fn q_esc_and_ctrl_c_quit_but_in_the_prompt_q_is_text() {
        let (mut table, _) = three_listeners();
        assert_eq!(table.on_key(key(KeyCode::Char('q'))), KeyOutcome::Quit);
        assert_eq!(table.on_key(key(KeyCode::Esc)), KeyOutcome::Quit);
        type_keys(&mut table, "/q");
        assert_eq!(table.filter.as_str(), "q");
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(table.on_key(ctrl_c), KeyOutcome::Quit);
    }

    #[test]
    fn process_names_reach_the_screen_escaped() {
        let mut table = LiveTable::new(Vec::new(), Duration::from_secs(1));
        let now = Instant::now();
        table.apply(&event(EventKind::Open, listener(8080, 9, "evil\u{1b}[2J")), now);
        let (line, _) = line_with(&drawn(&table, now), "8080");
        assert!(line.contains(r"evil\u{1b}[2J"), "{line}");
    }
}
