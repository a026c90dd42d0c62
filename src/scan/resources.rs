//! How many connections a scan may hold at once: sized from the open-file
//! limit, raised first to its hard ceiling, since each connect holds a
//! descriptor until it is answered.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors left for everything but the scan's sockets (stdio, the
/// runtime's own, a banner probe's TLS state, files being written).
const RESERVED: u64 = 64;

/// Connections at once when nothing limits them harder: beyond this a
/// connect scan on two cores gains nothing and a small router behind it
/// may start to drop.
pub const MOST_AT_ONCE: usize = 2048;

/// The connections a scan may hold at once, and a note when the open-file
/// limit kept that lower than [`MOST_AT_ONCE`].
pub fn parallelism() -> (usize, Option<String>) {
    let soft = raise_open_file_limit();
    let allowed = usize::try_from(soft.saturating_sub(RESERVED)).unwrap_or(usize::MAX).max(1);
    match allowed < MOST_AT_ONCE {
        true => (
            allowed,
            Some(format!(
                "the open-file limit ({soft}) allows {allowed} connections at once, not \
                 {MOST_AT_ONCE}: the scan is slower, not less accurate"
            )),
        ),
        false => (MOST_AT_ONCE, None),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard one; the soft limit in force.
fn raise_open_file_limit() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 1024 };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}
