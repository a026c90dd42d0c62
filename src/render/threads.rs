//! `-T`'s entries in `users:(...)`: one per thread of a holder, as ss
//! prints them, `("name",pid=812,tid=815,fd=6)`, named by each thread's
//! own comm, the last thread first (ss's order: its table keeps the
//! entries in reverse of the order it read them).

use std::fmt::Write as _;

use super::escape;
use crate::model::{Holder, Thread};

/// Appends a holder's entries, separated by commas.
pub fn push_entries(cell: &mut String, holder: &Holder, threads: &[Thread]) {
    for (index, thread) in threads.iter().rev().enumerate() {
        if index > 0 {
            cell.push(',');
        }
        let name = escape::for_quotes(thread.name.as_deref().unwrap_or("?"));
        let (pid, tid, fd) = (holder.process.pid, thread.tid, holder.fd);
        let _ = write!(cell, "(\"{name}\",pid={pid},tid={tid},fd={fd})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Process;
    use std::sync::Arc;

    #[test]
    fn one_entry_per_thread_last_first() {
        let thread = |tid, name: &str| Thread { tid, name: Some(name.into()) };
        let threads = vec![thread(40, "srv"), thread(41, "worker\"1")];
        let process = Process { pid: 40, threads: Some(threads.clone()), ..Process::default() };
        let holder = Holder { fd: 3, process: Arc::new(process) };
        let mut cell = String::new();
        push_entries(&mut cell, &holder, &threads);
        assert_eq!(cell, r#"("worker\"1",pid=40,tid=41,fd=3),("srv",pid=40,tid=40,fd=3)"#);
    }
}
