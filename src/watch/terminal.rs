//! `watch`'s full-screen view on the terminal: a [`Session`] holds raw mode
//! and the alternate screen, and gives them back however the view ends
//! (a key, the source ending on a stop signal, an error, a panic);
//! [`run_live`] feeds a [`LiveTable`] the events of a source and the keys,
//! and draws it.

use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::cursor::Show;
use crossterm::event::{self, Event};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::model::Socket;
use crate::model::watch::WatchEvent;
use crate::render::live::{KeyOutcome, LiveTable, draw};

/// Where the view's events come from: waits at most the given time for
/// the next batch (empty when nothing happened meanwhile); `None` once the
/// source has ended (a stop signal, `--count`, `--duration`).
pub type EventSource<'a> = dyn FnMut(Duration) -> Result<Option<Vec<WatchEvent>>> + 'a;

/// The longest the source is waited for between two looks at the keys.
const TICK: Duration = Duration::from_millis(50);

/// Whether the terminal is in the view's modes: set by [`Session::start`],
/// cleared by the first restore, so that the panic hook and the session's
/// drop restore once between them.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Raw mode and the alternate screen, for as long as it lives.
#[derive(Debug)]
pub struct Session {
    /// Only [`Session::start`] makes one.
    _started: (),
}

impl Session {
    /// Puts the terminal in raw mode on the alternate screen; a panic from
    /// now on restores it before the panic message is printed.
    pub fn start() -> Result<Session> {
        install_panic_hook();
        enable_raw_mode().context("cannot put the terminal in raw mode")?;
        ACTIVE.store(true, Ordering::SeqCst);
        let session = Session { _started: () };
        let mut enter = Vec::new();
        crossterm::queue!(enter, EnterAlternateScreen)?;
        write_to_terminal(&enter).context("cannot switch to the alternate screen")?;
        Ok(session)
    }

    /// The next key press or resize, waiting at most `timeout`.
    pub fn next_input(&mut self, timeout: Duration) -> Result<Option<Event>> {
        if !event::poll(timeout).context("cannot read keys from the terminal")? {
            return Ok(None);
        }
        Ok(Some(event::read().context("cannot read keys from the terminal")?))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor and ends raw mode, once.
fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    // Nothing is left to tell a failure to: the view is ending either way.
    let mut leave = Vec::new();
    let _ = crossterm::queue!(leave, LeaveAlternateScreen, Show);
    let _ = write_to_terminal(&leave);
    let _ = disable_raw_mode();
}

/// Restores the terminal before the previous hook prints the panic, so the
/// message lands on the normal screen in cooked mode.
fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Writes straight to standard output's descriptor, past Rust's lock on
/// it (which the panicking thread, or another, may hold) and past any
/// buffer in front of it.
fn write_to_terminal(bytes: &[u8]) -> Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match nix::unistd::write(std::io::stdout(), rest) {
            Ok(written) => rest = &rest[written..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Shows the listeners, starting with `initial`, as `source`'s events
/// change them, until a quit key or the source's end; draws on `out`, the
/// terminal. `interval` is how often the source polls (for the header).
pub fn run_live(
    out: &mut dyn Write,
    initial: Vec<Socket>,
    interval: Duration,
    source: &mut EventSource<'_>,
) -> Result<()> {
    let mut session = Session::start()?;
    let table = LiveTable::new(initial, interval);
    let result = show(&mut *out, &mut session, table, source);
    // What a failed draw left buffered belongs to the alternate screen.
    let _ = out.flush();
    drop(session);
    result
}

fn show(
    out: &mut dyn Write,
    session: &mut Session,
    mut table: LiveTable,
    source: &mut EventSource<'_>,
) -> Result<()> {
    let mut terminal =
        Terminal::new(CrosstermBackend::new(out)).context("cannot size the terminal")?;
    loop {
        terminal
            .draw(|frame| draw(frame, &table, Instant::now()))
            .context("cannot draw the live view")?;
        if take_keys(session, &mut table)? == KeyOutcome::Quit {
            return Ok(());
        }
        let Some(events) = source(TICK)? else { return Ok(()) };
        let now = Instant::now();
        for event in &events {
            table.apply(event, now);
        }
    }
}

/// Takes every key already typed, without waiting; a resize needs nothing
/// here, as the next draw takes the new size.
fn take_keys(session: &mut Session, table: &mut LiveTable) -> Result<KeyOutcome> {
    while let Some(input) = session.next_input(Duration::ZERO)? {
        if let Event::Key(key) = input
            && table.on_key(key) == KeyOutcome::Quit
        {
            return Ok(KeyOutcome::Quit);
        }
    }
    Ok(KeyOutcome::Continue)
}
