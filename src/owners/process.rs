//! What portwatch tells about a process that holds a socket, read from
//! /proc/PID through the [`System`] seam.

use std::path::PathBuf;

use procfs::FromBufRead;
use procfs::process::Status;

use super::cgroup::{self, Container};
use crate::sys::System;

/// The kernel appends this to /proc/PID/exe when the binary was deleted.
const DELETED_SUFFIX: &str = " (deleted)";

/// A process, as far as /proc lets this user see it. Fields are `None` where
/// the process is gone or its files are unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// comm: the kernel's name for the process, at most 15 bytes.
    pub name: Option<String>,
    /// The arguments, as the process sees them (argv).
    pub argv: Vec<String>,
    /// /proc/PID/exe, without the kernel's ` (deleted)` suffix.
    pub exe: Option<String>,
    pub exe_deleted: Option<bool>,
    /// The effective uid.
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub unit: Option<String>,
    pub container: Option<Container>,
}

impl ProcessInfo {
    /// The full command line, arguments joined by spaces; empty for kernel
    /// threads.
    pub fn cmdline(&self) -> String {
        self.argv.join(" ")
    }

    /// The name to print: comm, or `?` when the process could not be read.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("?")
    }

    /// With `-W`: the whole command line, or comm where there is none.
    pub fn wide_name(&self) -> String {
        if self.argv.is_empty() { self.display_name().to_owned() } else { self.cmdline() }
    }
}

fn proc_path(pid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Reads a process's details; `user_name` maps its uid to a login name.
pub fn read(
    system: &dyn System,
    pid: u32,
    user_name: &mut dyn FnMut(u32) -> Option<String>,
) -> ProcessInfo {
    let text = |file: &str| {
        let bytes = system.read_bytes(&proc_path(pid, file)).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let name = text("comm").map(|comm| comm.strip_suffix('\n').unwrap_or(&comm).to_owned());
    let argv = system
        .read_bytes(&proc_path(pid, "cmdline"))
        .map(|bytes| split_cmdline(&bytes))
        .unwrap_or_default();
    let (exe, exe_deleted) = match system.read_link(&proc_path(pid, "exe")) {
        Ok(target) => {
            let target = target.to_string_lossy().into_owned();
            match target.strip_suffix(DELETED_SUFFIX) {
                Some(path) => (Some(path.to_owned()), Some(true)),
                None => (Some(target), Some(false)),
            }
        }
        Err(_) => (None, None),
    };
    let uid = text("status").and_then(|status| effective_uid(&status));
    let placement = text("cgroup").map(|file| cgroup::placement(&file)).unwrap_or_default();
    ProcessInfo {
        pid,
        name,
        argv,
        exe,
        exe_deleted,
        uid,
        user: uid.and_then(user_name),
        unit: placement.unit,
        container: placement.container,
    }
}

fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|b| *b == 0).map(|arg| String::from_utf8_lossy(arg).into_owned()).collect()
}

fn effective_uid(status: &str) -> Option<u32> {
    Status::from_buf_read(status.as_bytes()).ok().map(|status| status.euid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_keeps_arguments_apart() {
        assert_eq!(
            split_cmdline(b"nginx: master\0-g\0daemon off;\0"),
            ["nginx: master", "-g", "daemon off;"]
        );
        assert!(split_cmdline(b"").is_empty());
        assert_eq!(split_cmdline(b"a\0\0b\0"), ["a", "", "b"]);
    }

    #[test]
    fn wide_name_falls_back_to_comm() {
        let kernel_thread = ProcessInfo { name: Some("kworker/0:1".into()), ..Default::default() };
        assert_eq!(kernel_thread.wide_name(), "kworker/0:1");
        assert_eq!(ProcessInfo::default().display_name(), "?");
    }
}
