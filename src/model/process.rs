//! The processes that hold sockets, as far as /proc lets this user see
//! them. Names and arguments are the kernel's bytes ([`Text`]): JSON gives
//! them as strings, and when a value is not UTF-8, as the lossy string plus
//! its exact bytes in hex under a `_hex` key beside it.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes the operating system hands out as names (comm, argv, paths):
/// nearly always UTF-8, but not necessarily.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Vec<u8>);

impl Text {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, with U+FFFD for bytes that are not UTF-8.
    pub fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The exact bytes as hex, when they are not UTF-8.
    fn hex_if_not_utf8(&self) -> Option<String> {
        self.as_str().is_none().then(|| self.0.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn from_hex(hex: &str) -> Option<Text> {
        let digits = hex.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        let byte = |pair: &[u8]| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok();
        digits.chunks(2).map(byte).collect::<Option<Vec<u8>>>().map(Text)
    }
}

impl From<Vec<u8>> for Text {
    fn from(bytes: Vec<u8>) -> Text {
        Text(bytes)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text(text.as_bytes().to_vec())
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(text.into_bytes())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// The container a process runs in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Container {
    /// `docker`, `podman`, `containerd`, `cri-o`, `kubepods` or `lxc`.
    pub runtime: String,
    /// The container id (64 hex digits for most runtimes), or the LXC name.
    pub id: String,
    /// The name the runtime gives it (`web`), from the runtime's own files
    /// where they are readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Container {
    /// `web` (its name), else the first 12 characters of its id.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => self.id.chars().take(12).collect(),
        }
    }
}

/// A process. Fields are `None` where the process is gone or its files are
/// unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// comm: the kernel's name for the process, at most 15 bytes.
    pub name: Option<Text>,
    /// The arguments, as the process sees them (argv).
    pub argv: Vec<Text>,
    /// /proc/PID/exe, without the kernel's ` (deleted)` suffix.
    pub exe: Option<Text>,
    pub exe_deleted: Option<bool>,
    /// The working directory (/proc/PID/cwd), when readable.
    pub cwd: Option<Text>,
    /// The effective uid.
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// The innermost systemd service or scope, such as `ssh.service`.
    pub unit: Option<String>,
    pub container: Option<Container>,
    /// The container a userland proxy (docker-proxy) forwards its
    /// connections to: who really answers on its port.
    pub serves: Option<Container>,
    /// With `-T`: the process's threads, main thread included, by tid.
    pub threads: Option<Vec<Thread>>,
    /// With `-Z`/`-z`: the process's SELinux context
    /// (`/proc/PID/attr/current`); `Some(None)` when unreadable.
    pub context: Option<Option<String>>,
}

/// A thread of a process (`-T`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub tid: u32,
    /// The thread's comm (at most 15 bytes; U+FFFD for bytes that are not
    /// UTF-8); null if it ended meanwhile.
    pub name: Option<String>,
    /// With `-Z`/`-z`: the thread's SELinux context; `Some(None)` when
    /// unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub context: Option<Option<String>>,
}

/// A key that, when present, holds a value or null: `Some(None)` for null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

impl Process {
    /// The command line, arguments joined by spaces; empty for kernel threads.
    pub fn cmdline(&self) -> String {
        let args: Vec<Cow<'_, str>> = self.argv.iter().map(Text::lossy).collect();
        args.join(" ")
    }

    /// The name to print: comm, or `?` when the process could not be read.
    pub fn display_name(&self) -> Cow<'_, str> {
        self.name.as_ref().map_or(Cow::Borrowed("?"), Text::lossy)
    }

    /// With `-W`: the whole command line, or comm where there is none.
    pub fn wide_name(&self) -> Cow<'_, str> {
        if self.argv.is_empty() { self.display_name() } else { Cow::Owned(self.cmdline()) }
    }

    /// Whether `name` is this process's comm, or the file name of its argv[0]
    /// or of its binary.
    pub fn is_named(&self, name: &str) -> bool {
        let file_name = |text: &Text| -> bool {
            text.as_bytes().rsplit(|b| *b == b'/').next() == Some(name.as_bytes())
        };
        self.name.as_ref().is_some_and(|comm| comm == name)
            || self.argv.first().is_some_and(file_name)
            || self.exe.as_ref().is_some_and(file_name)
    }
}

/// One holder of a socket: a process and its descriptor for the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub fd: u32,
    pub process: Arc<Process>,
    /// With `-z`: the socket's SELinux context as this descriptor shows it
    /// (`security.selinux` of /proc/PID/fd/FD); `Some(None)` when unreadable.
    pub socket_context: Option<Option<String>>,
}

/// Who holds a socket (`-p`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// Every holder, in pid order.
    pub processes: Vec<Holder>,
    /// False when the socket has no visible holder and some processes'
    /// descriptors were unreadable.
    pub owner_visible: bool,
}

/// A holder's socket context: absent, or present and maybe unreadable.
type SocketContext = Option<Option<String>>;

/// A process as JSON writes it, with `fd` when it is a socket's holder.
#[derive(Serialize, Deserialize)]
struct ProcessJson<'a> {
    pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fd: Option<u32>,
    name: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_hex: Option<String>,
    cmdline: Cow<'a, str>,
    argv: Vec<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv_hex: Option<Vec<String>>,
    exe: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exe_hex: Option<String>,
    exe_deleted: Option<bool>,
    #[serde(default)]
    cwd: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cwd_hex: Option<String>,
    uid: Option<u32>,
    user: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    container: Option<Cow<'a, Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serves: Option<Cow<'a, Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threads: Option<Cow<'a, [Thread]>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    context: Option<Option<Cow<'a, str>>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    socket_context: Option<Option<Cow<'a, str>>>,
}

impl<'a> ProcessJson<'a> {
    fn new(process: &'a Process, holder: Option<&'a Holder>) -> Self {
        let fd = holder.map(|holder| holder.fd);
        let socket_context = holder.and_then(|holder| holder.socket_context.as_ref());
        let any_argv_hex = process.argv.iter().any(|arg| arg.as_str().is_none());
        ProcessJson {
            pid: process.pid,
            fd,
            name: process.name.as_ref().map(Text::lossy),
            name_hex: process.name.as_ref().and_then(Text::hex_if_not_utf8),
            cmdline: Cow::Owned(process.cmdline()),
            argv: process.argv.iter().map(Text::lossy).collect(),
            argv_hex: any_argv_hex.then(|| {
                process
                    .argv
                    .iter()
                    .map(|arg| arg.0.iter().map(|b| format!("{b:02x}")).collect())
                    .collect()
            }),
            exe: process.exe.as_ref().map(Text::lossy),
            exe_hex: process.exe.as_ref().and_then(Text::hex_if_not_utf8),
            exe_deleted: process.exe_deleted,
            cwd: process.cwd.as_ref().map(Text::lossy),
            cwd_hex: process.cwd.as_ref().and_then(Text::hex_if_not_utf8),
            uid: process.uid,
            user: process.user.as_deref().map(Cow::Borrowed),
            unit: process.unit.as_deref().map(Cow::Borrowed),
            container: process.container.as_ref().map(Cow::Borrowed),
            serves: process.serves.as_ref().map(Cow::Borrowed),
            threads: process.threads.as_deref().map(Cow::Borrowed),
            context: process.context.as_ref().map(|c| c.as_deref().map(Cow::Borrowed)),
            socket_context: socket_context.map(|c| c.as_deref().map(Cow::Borrowed)),
        }
    }

    fn into_process(self) -> Result<(Process, Option<u32>, SocketContext), String> {
        let exact = |text: Option<Cow<'_, str>>, hex: Option<String>, key: &str| match hex {
            Some(hex) => Text::from_hex(&hex).map(Some).ok_or(format!("'{key}_hex' is not hex")),
            None => Ok(text.map(|text| Text::from(text.into_owned()))),
        };
        let argv = match self.argv_hex {
            Some(all) => all
                .iter()
                .map(|hex| Text::from_hex(hex).ok_or("'argv_hex' is not hex".to_owned()))
                .collect::<Result<_, _>>()?,
            None => self.argv.into_iter().map(|arg| Text::from(arg.into_owned())).collect(),
        };
        let process = Process {
            pid: self.pid,
            name: exact(self.name, self.name_hex, "name")?,
            argv,
            exe: exact(self.exe, self.exe_hex, "exe")?,
            exe_deleted: self.exe_deleted,
            cwd: exact(self.cwd, self.cwd_hex, "cwd")?,
            uid: self.uid,
            user: self.user.map(Cow::into_owned),
            unit: self.unit.map(Cow::into_owned),
            container: self.container.map(Cow::into_owned),
            serves: self.serves.map(Cow::into_owned),
            threads: self.threads.map(Cow::into_owned),
            context: self.context.map(|c| c.map(Cow::into_owned)),
        };
        let socket_context = self.socket_context.map(|c| c.map(Cow::into_owned));
        Ok((process, self.fd, socket_context))
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ProcessJson::new(self, None).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = ProcessJson::deserialize(deserializer)?;
        json.into_process().map(|(process, ..)| process).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Holder {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ProcessJson::new(&self.process, Some(self)).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Holder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (process, fd, socket_context) =
            ProcessJson::deserialize(deserializer)?.into_process().map_err(D::Error::custom)?;
        let fd = fd.ok_or_else(|| D::Error::missing_field("fd"))?;
        Ok(Holder { socket_context, fd, process: Arc::new(process) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_utf8_survive_json() {
        let process = Process {
            pid: 7,
            name: Some(Text::from(b"caf\xe9\"x".to_vec())),
            argv: vec![Text::from("/bin/x"), Text::from(b"\xff".to_vec())],
            exe: Some(Text::from("/bin/x")),
            ..Process::default()
        };
        let holder = Holder { socket_context: None, fd: 3, process: Arc::new(process) };
        let json = serde_json::to_value(&holder).unwrap();
        assert_eq!(json["name"], "caf\u{fffd}\"x");
        assert_eq!(json["name_hex"], "636166e92278");
        assert_eq!(json["argv_hex"][1], "ff");
        assert!(json.get("exe_hex").is_none(), "only where the bytes are not UTF-8");
        let back: Holder = serde_json::from_value(json).unwrap();
        assert_eq!(back, holder);
    }

    #[test]
    fn names_match_comm_argv0_or_exe() {
        let process = Process {
            name: Some(Text::from("nginx: master")),
            argv: vec![Text::from("/usr/sbin/nginx")],
            ..Process::default()
        };
        assert!(process.is_named("nginx") && process.is_named("nginx: master"));
        assert!(!process.is_named("ngin"));
        assert_eq!(Process::default().display_name(), "?");
    }
}
