//! What portwatch tells about a process that holds a socket, read from
//! /proc/PID.

use std::path::{Path, PathBuf};

use procfs::FromBufRead;
use procfs::process::Status;

use super::cgroup;
use crate::model::{Process, Text, Thread};
use crate::sys::ProcFs;

/// The kernel appends this to /proc/PID/exe when the binary was deleted.
const DELETED_SUFFIX: &str = " (deleted)";

fn proc_path(pid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// The command name of the process whose pid is a netlink port id, as ss
/// reads it from /proc/PID/stat (up to the first `)`, where ss's scan stops).
pub fn netlink_port_command(proc: &dyn ProcFs, portid: i32) -> Option<String> {
    let pid = u32::try_from(portid).ok().filter(|&pid| pid > 0)?;
    let stat = proc.read_text(&proc_path(pid, "stat")).ok()?;
    let (_, after) = stat.split_once('(')?;
    let name = after.split(')').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// What to read beyond a process's usual details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// Its threads (`-T`).
    pub threads: bool,
    /// Its SELinux context, and its threads' (`-Z`, `-z`).
    pub context: bool,
}

/// Reads a process's details (and what `extra` asks for); `user_name`
/// maps its uid to a login name.
pub fn read(
    proc: &dyn ProcFs,
    pid: u32,
    extra: Extra,
    user_name: &mut dyn FnMut(u32) -> Option<String>,
) -> Process {
    let bytes = |file: &str| proc.read_bytes(&proc_path(pid, file)).ok();
    let text = |file: &str| bytes(file).map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let name = bytes("comm").map(|mut comm| {
        if comm.last() == Some(&b'\n') {
            comm.pop();
        }
        Text::from(comm)
    });
    let argv = bytes("cmdline").map(|bytes| split_cmdline(&bytes)).unwrap_or_default();
    let (exe, exe_deleted) = match proc.read_link(&proc_path(pid, "exe")) {
        Ok(target) => {
            use std::os::unix::ffi::OsStrExt;
            let target = target.as_os_str().as_bytes();
            match target.strip_suffix(DELETED_SUFFIX.as_bytes()) {
                Some(path) => (Some(Text::from(path.to_vec())), Some(true)),
                None => (Some(Text::from(target.to_vec())), Some(false)),
            }
        }
        Err(_) => (None, None),
    };
    let cwd = proc.read_link(&proc_path(pid, "cwd")).ok().map(|path| {
        use std::os::unix::ffi::OsStrExt;
        Text::from(path.as_os_str().as_bytes().to_vec())
    });
    let uid = text("status").and_then(|status| effective_uid(&status));
    let placement = text("cgroup").map(|file| cgroup::placement(&file)).unwrap_or_default();
    Process {
        pid,
        name,
        argv,
        exe,
        exe_deleted,
        cwd,
        uid,
        user: uid.and_then(user_name),
        unit: placement.unit,
        container: placement.container,
        serves: None,
        threads: extra.threads.then(|| read_threads(proc, pid, extra.context)),
        context: extra.context.then(|| context(proc, &proc_path(pid, "attr/current"))),
    }
}

/// An SELinux context from an `attr/current` file (what libselinux's
/// getpidcon reads), without its trailing NUL or newline; `None` when
/// unreadable (no SELinux, a process gone).
fn context(proc: &dyn ProcFs, path: &Path) -> Option<String> {
    let bytes = proc.read_bytes(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end_matches(['\0', '\n']);
    (!text.is_empty()).then(|| text.to_owned())
}

/// The SELinux context of the socket behind /proc/PID/fd/FD (what
/// libselinux's getfilecon reads); `None` when unreadable.
pub fn socket_context(proc: &dyn ProcFs, pid: u32, fd: u32) -> Option<String> {
    let text = proc.security_context(&proc_path(pid, &format!("fd/{fd}"))).ok()?;
    let text = text.trim_end_matches('\0');
    (!text.is_empty()).then(|| text.to_owned())
}

/// The threads in /proc/PID/task, by tid, each with its comm. Threads
/// created by pthreads share the process's descriptor table, so their
/// descriptors are not read again (ss reads every thread's table).
fn read_threads(proc: &dyn ProcFs, pid: u32, contexts: bool) -> Vec<Thread> {
    let tasks = proc.list_dir(&proc_path(pid, "task")).unwrap_or_default();
    let mut tids: Vec<u32> = tasks.iter().filter_map(|tid| tid.to_str()?.parse().ok()).collect();
    tids.sort_unstable();
    tids.into_iter()
        .map(|tid| {
            let comm = proc.read_bytes(&proc_path(pid, &format!("task/{tid}/comm"))).ok();
            let name = comm.map(|comm| {
                let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
                String::from_utf8_lossy(comm).into_owned()
            });
            let context = contexts
                .then(|| context(proc, &proc_path(pid, &format!("task/{tid}/attr/current"))));
            Thread { tid, name, context }
        })
        .collect()
}

fn split_cmdline(bytes: &[u8]) -> Vec<Text> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|b| *b == 0).map(|arg| Text::from(arg.to_vec())).collect()
}

fn effective_uid(status: &str) -> Option<u32> {
    Status::from_buf_read(status.as_bytes()).ok().map(|status| status.euid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_keeps_arguments_apart() {
        let args = |bytes: &[u8]| -> Vec<String> {
            split_cmdline(bytes).iter().map(|arg| arg.lossy().into_owned()).collect()
        };
        assert_eq!(
            args(b"nginx: master\0-g\0daemon off;\0"),
            ["nginx: master", "-g", "daemon off;"]
        );
        assert!(args(b"").is_empty());
        assert_eq!(args(b"a\0\0b\0"), ["a", "", "b"]);
    }
}
