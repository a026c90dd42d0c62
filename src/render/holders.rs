//! ss's longer `users:(...)` entries: with `-T` one per thread of a
//! holder, `("name",pid=812,tid=815,fd=6)`, named by each thread's own
//! comm, the last thread first (ss keeps its entries in reverse of the
//! order it read them); with `-Z` the SELinux context,
//! `("name",pid=812,proc_ctx=CTX,fd=6)`, and with `-z` the socket's too,
//! `...,fd=6,sock_ctx=CTX)`; `unavailable` where one cannot be read.

use std::fmt::Write as _;

use super::escape;
use super::text::{container_label, quoted_process_label};
use crate::model::Holder;
use crate::model::process::Ownership;

/// ` sshd(pid=812,user=root,unit=ssh.service)` for each holding process,
/// once per process: the short owner text of `scan --local` and `watch`.
pub fn process_facts(owners: Option<&Ownership>) -> String {
    let holders = owners.map(|o| o.processes.as_slice()).unwrap_or_default();
    let mut text = String::new();
    let mut seen = Vec::new();
    for holder in holders {
        let process = &holder.process;
        if seen.contains(&process.pid) {
            continue;
        }
        seen.push(process.pid);
        let mut facts = vec![format!("pid={}", process.pid)];
        facts.extend(
            process.user.as_ref().map(|user| format!("user={}", escape::for_terminal(user))),
        );
        facts.extend(
            process.unit.as_ref().map(|unit| format!("unit={}", escape::for_terminal(unit))),
        );
        facts.extend(
            process.container.as_ref().map(|c| format!("container={}", container_label(c))),
        );
        facts.extend(process.serves.as_ref().map(|c| format!("serves={}", container_label(c))));
        let _ =
            write!(text, " {}({})", escape::for_terminal(&process.display_name()), facts.join(","));
    }
    text
}

/// Whether `holder` is written here rather than as a plain `-p` entry.
pub fn has_extras(holder: &Holder) -> bool {
    let process = &holder.process;
    process.threads.is_some() || process.context.is_some() || holder.socket_context.is_some()
}

/// Appends a holder's entries, separated by commas.
pub fn push_entries(cell: &mut String, holder: &Holder, wide: bool) {
    let process = &holder.process;
    let context = |context: &Option<Option<String>>| {
        context
            .as_ref()
            .map(|c| escape::for_quotes(c.as_deref().unwrap_or("unavailable")).into_owned())
    };
    let entries: Vec<(String, Option<u32>, Option<String>)> = match &process.threads {
        Some(threads) => threads
            .iter()
            .rev()
            .map(|thread| {
                let name = escape::for_quotes(thread.name.as_deref().unwrap_or("?")).into_owned();
                (name, Some(thread.tid), context(&thread.context))
            })
            .collect(),
        None => vec![(quoted_process_label(process, wide), None, context(&process.context))],
    };
    let socket_context = context(&holder.socket_context);
    for (index, (name, tid, proc_context)) in entries.into_iter().enumerate() {
        if index > 0 {
            cell.push(',');
        }
        let _ = write!(cell, "(\"{name}\",pid={}", process.pid);
        if let Some(tid) = tid {
            let _ = write!(cell, ",tid={tid}");
        }
        if let Some(proc_context) = proc_context {
            let _ = write!(cell, ",proc_ctx={proc_context}");
        }
        let _ = write!(cell, ",fd={}", holder.fd);
        if let Some(socket_context) = &socket_context {
            let _ = write!(cell, ",sock_ctx={socket_context}");
        }
        cell.push(')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Process, Text, Thread};
    use std::sync::Arc;

    fn holder(process: Process, socket_context: Option<Option<String>>) -> Holder {
        Holder { socket_context, fd: 3, process: Arc::new(process) }
    }

    #[test]
    fn one_entry_per_thread_last_first() {
        let thread = |tid, name: &str| Thread { tid, name: Some(name.into()), context: None };
        let threads = vec![thread(40, "srv"), thread(41, "worker\"1")];
        let process = Process { pid: 40, threads: Some(threads), ..Process::default() };
        let mut cell = String::new();
        push_entries(&mut cell, &holder(process, None), false);
        assert_eq!(cell, r#"("worker\"1",pid=40,tid=41,fd=3),("srv",pid=40,tid=40,fd=3)"#);
    }

    #[test]
    fn contexts_in_ss_order() {
        let context = Some(Some("system_u:system_r:sshd_t:s0".to_owned()));
        let process = Process {
            pid: 7,
            name: Some(Text::from("sshd")),
            context: context.clone(),
            ..Process::default()
        };
        let mut cell = String::new();
        push_entries(&mut cell, &holder(process.clone(), None), false);
        assert_eq!(cell, r#"("sshd",pid=7,proc_ctx=system_u:system_r:sshd_t:s0,fd=3)"#);
        let mut cell = String::new();
        push_entries(&mut cell, &holder(process, Some(None)), false);
        assert_eq!(
            cell,
            r#"("sshd",pid=7,proc_ctx=system_u:system_r:sshd_t:s0,fd=3,sock_ctx=unavailable)"#
        );
        let threaded = Process {
            pid: 7,
            threads: Some(vec![Thread { tid: 7, name: Some("sshd".into()), context: Some(None) }]),
            ..Process::default()
        };
        let mut cell = String::new();
        push_entries(&mut cell, &holder(threaded, None), false);
        assert_eq!(cell, r#"("sshd",pid=7,tid=7,proc_ctx=unavailable,fd=3)"#);
    }
}
