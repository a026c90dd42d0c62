//! The texts of `--tos`, `--cgroup` and `--inet-sockopt` in ss's words,
//! after `-e`'s and before `-m`/`-i`'s: ` tos:0x10 tclass:0x20
//! class_id:0x6`, ` cgroup:/system.slice/x.service`, and
//! `inet-sockopt: ( is_icsk mc_loop)` on a tab-indented line of its own
//! (on the socket's line with `-O`).

use std::fmt::Write as _;

use crate::model::InetSocket;

/// Which of these texts to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockoptLayout {
    pub tos: bool,
    pub cgroup: bool,
    pub inet_sockopt: bool,
}

impl SockoptLayout {
    pub fn any(self) -> bool {
        self.tos || self.cgroup || self.inet_sockopt
    }
}

/// Appends the texts `layout` asks for, each only where the kernel
/// reported its value.
pub fn push_texts(cell: &mut String, socket: &InetSocket, layout: SockoptLayout, oneline: bool) {
    let extras = &socket.extras;
    // Each of ss's words starts with its own space.
    let word = |cell: &mut String, text: std::fmt::Arguments<'_>| {
        cell.push(' ');
        let _ = cell.write_fmt(text);
    };
    if layout.tos {
        if let Some(tos) = extras.tos {
            word(cell, format_args!("tos:{}", c_hex(tos.into())));
        }
        if let Some(tclass) = extras.tclass {
            word(cell, format_args!("tclass:{}", c_hex(tclass.into())));
        }
        if let Some(class_id) = extras.class_id {
            word(cell, format_args!("class_id:{}", c_hex(class_id)));
        }
    }
    if layout.cgroup
        && let Some(path) = &extras.cgroup
    {
        word(cell, format_args!("cgroup:{}", crate::render::escape::for_terminal(path)));
    }
    if layout.inet_sockopt
        && let Some(options) = &extras.inet_sockopt
    {
        match oneline {
            true => word(cell, format_args!("inet-sockopt: (")),
            false => cell.push_str("\n\tinet-sockopt: ("),
        }
        for option in options.words() {
            cell.push(' ');
            cell.push_str(option);
        }
        cell.push(')');
    }
}

/// C's `%#x`: `0` for zero, `0x1f` otherwise.
fn c_hex(value: u32) -> String {
    match value {
        0 => "0".into(),
        _ => format!("{value:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InetSockopt, IpFamily, SocketState, Transport};

    #[test]
    fn texts_in_ss_words() {
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet6, SocketState::Listening);
        socket.extras.tos = Some(0);
        socket.extras.tclass = Some(0x20);
        socket.extras.class_id = Some(6);
        socket.extras.cgroup = Some("unreachable:1".into());
        socket.extras.inet_sockopt = Some(InetSockopt::of(&["is_icsk"]));
        let all = SockoptLayout { tos: true, cgroup: true, inet_sockopt: true };
        let mut cell = String::new();
        push_texts(&mut cell, &socket, all, false);
        assert_eq!(
            cell,
            " tos:0 tclass:0x20 class_id:0x6 cgroup:unreachable:1\n\tinet-sockopt: ( is_icsk)"
        );
        let mut cell = " ino:5".to_owned();
        push_texts(&mut cell, &socket, SockoptLayout { inet_sockopt: true, ..all }, true);
        assert_eq!(
            cell,
            " ino:5 tos:0 tclass:0x20 class_id:0x6 cgroup:unreachable:1 inet-sockopt: ( is_icsk)"
        );
        let mut cell = String::new();
        push_texts(
            &mut cell,
            &socket,
            SockoptLayout { inet_sockopt: true, ..Default::default() },
            true,
        );
        assert_eq!(cell, " inet-sockopt: ( is_icsk)", "each text after a blank, as in ss");
        let mut cell = String::new();
        let time_wait = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::TimeWait);
        push_texts(&mut cell, &time_wait, all, false);
        assert_eq!(cell, "", "nothing reported, nothing shown");
    }
}
