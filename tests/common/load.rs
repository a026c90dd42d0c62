//! Socket loads that tests build, often inside a namespace of their own
//! (see `Netns::within`): listeners, connection pairs in chosen states, UDP.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Connects, retrying for a second: an address just added to a namespace
/// may not take connections at once.
fn connect(target: impl ToSocketAddrs + Copy) -> TcpStream {
    let mut last_error = None;
    for _ in 0..20 {
        match TcpStream::connect(target) {
            Ok(stream) => return stream,
            Err(error) => last_error = Some(error),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("cannot connect: {last_error:?}");
}

/// The sockets a test holds open.
#[derive(Default)]
pub struct Load {
    pub listeners: Vec<TcpListener>,
    pub streams: Vec<TcpStream>,
    pub datagrams: Vec<UdpSocket>,
}

impl Load {
    pub fn listen(&mut self, addr: &str) -> SocketAddr {
        let listener = TcpListener::bind(addr).unwrap();
        let local = listener.local_addr().unwrap();
        self.listeners.push(listener);
        local
    }

    pub fn bind_udp(&mut self, addr: &str) -> SocketAddr {
        let socket = UdpSocket::bind(addr).unwrap();
        let local = socket.local_addr().unwrap();
        self.datagrams.push(socket);
        local
    }

    fn accept_from(&self, listener: SocketAddr) -> TcpStream {
        let listener = self.listeners.iter().find(|l| l.local_addr().unwrap() == listener).unwrap();
        listener.accept().unwrap().0
    }

    /// `count` established pairs from `target` to `listener`, each with a
    /// byte unread at the server.
    pub fn connect_pairs(
        &mut self,
        target: impl ToSocketAddrs + Copy,
        listener: SocketAddr,
        count: usize,
    ) {
        for _ in 0..count {
            let mut client = connect(target);
            client.write_all(b"x").unwrap();
            let server = self.accept_from(listener);
            self.streams.extend([client, server]);
        }
    }

    /// `count` pairs whose client shut its side: FIN-WAIT-2 and CLOSE-WAIT.
    pub fn half_close_pairs(&mut self, listener: SocketAddr, count: usize) {
        for _ in 0..count {
            let client = TcpStream::connect(listener).unwrap();
            let server = self.accept_from(listener);
            client.shutdown(Shutdown::Write).unwrap();
            self.streams.extend([client, server]);
        }
    }

    /// `count` connections closed client first: TIME-WAIT at the client.
    pub fn time_wait(&mut self, listener: SocketAddr, count: usize) {
        for _ in 0..count {
            let client = TcpStream::connect(listener).unwrap();
            let server = self.accept_from(listener);
            drop(client);
            std::thread::sleep(Duration::from_millis(5));
            drop(server);
        }
    }

    /// Lets FIN-WAIT and TIME-WAIT transitions settle before anyone looks.
    pub fn settle(self) -> Load {
        std::thread::sleep(Duration::from_millis(200));
        self
    }

    pub fn socket_count(&self) -> usize {
        self.listeners.len() + self.streams.len() + self.datagrams.len()
    }
}
