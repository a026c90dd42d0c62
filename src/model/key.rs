//! What names a listener across restarts: its protocol, family, local
//! address, port, interface and network namespace; never its cookie, inode
//! or owner, which change when a service restarts. Baselines, policies and
//! watch events key on it.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{InetSocket, IpFamily, Socket, Transport};

/// The network namespace part of a listener's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetnsKey {
    /// The namespace portwatch ran in.
    Own,
    /// A namespace named under /run/netns (stable across re-creation).
    Named(String),
    /// An unnamed namespace (a container's), by inode.
    Inode(u64),
}

/// A listener's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListenerKey {
    pub netid: Transport,
    pub family: IpFamily,
    pub addr: IpAddr,
    pub port: u16,
    pub interface: Option<String>,
    pub netns: NetnsKey,
}

impl ListenerKey {
    pub fn of(socket: &InetSocket) -> ListenerKey {
        let netns = match socket.netns.as_deref() {
            None => NetnsKey::Own,
            Some(label) => match &label.name {
                Some(name) => NetnsKey::Named(name.clone()),
                None => NetnsKey::Inode(label.inode),
            },
        };
        ListenerKey {
            netid: socket.netid,
            family: socket.family,
            addr: socket.local.addr,
            port: socket.local.port,
            interface: socket.interface.clone(),
            netns,
        }
    }
}

/// `tcp [::]:22`, `udp 127.0.0.1%lo:53 netns=blue`.
impl fmt::Display for ListenerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.netid.as_str())?;
        match self.addr {
            IpAddr::V6(addr) => write!(f, "[{addr}]")?,
            IpAddr::V4(addr) => write!(f, "{addr}")?,
        }
        if let Some(interface) = &self.interface {
            write!(f, "%{interface}")?;
        }
        write!(f, ":{}", self.port)?;
        match &self.netns {
            NetnsKey::Own => Ok(()),
            NetnsKey::Named(name) => write!(f, " netns={name}"),
            NetnsKey::Inode(inode) => write!(f, " netns={inode}"),
        }
    }
}

/// One socket's identity across listings: its listener identity and the
/// kernel's cookie (or the inode), so that a restart on the same port is
/// another instance of the same listener.
pub type Instance = (ListenerKey, u64);

impl Socket {
    /// The identity of an inet socket that has a cookie or an inode.
    pub fn instance(&self) -> Option<Instance> {
        let inet = self.as_inet()?;
        let serial = inet.cookie.or(inet.inode.map(u64::from))?;
        Some((inet.listener_key(), serial))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{InetEnd, NetnsLabel, Ownership, SocketState};

    fn listener(port: u16, inode: u32, cookie: u64) -> InetSocket {
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet6, SocketState::Listening);
        socket.local = InetEnd::new("::".parse().unwrap(), port);
        socket.inode = Some(inode);
        socket.cookie = Some(cookie);
        socket.owners = Some(Ownership::default());
        socket
    }

    #[test]
    fn a_restart_keeps_the_key_a_new_port_does_not() {
        let before = listener(22, 100, 1);
        let restarted = InetSocket { owners: None, ..listener(22, 200, 2) };
        assert_eq!(before.listener_key(), restarted.listener_key());
        assert_ne!(before.listener_key(), listener(2222, 100, 1).listener_key());
        let mut elsewhere = listener(22, 100, 1);
        elsewhere.netns = Some(Arc::new(NetnsLabel { inode: 5, name: Some("blue".into()) }));
        assert_ne!(before.listener_key(), elsewhere.listener_key());
        assert_eq!(elsewhere.listener_key().to_string(), "tcp [::]:22 netns=blue");
    }
}
