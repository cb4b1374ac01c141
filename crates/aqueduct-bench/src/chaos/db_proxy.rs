//! A loopback TCP proxy between the bridge and its PostgreSQL server, owned by the chaos run,
//! so the database can "restart" under the bridge without touching the machine's real server:
//! every open connection is cut at once (sockets closed mid-query, as a server restart does to
//! its clients) and, until the outage is over, new connections are refused ([`Refusal`]):
//! the port is closed, as when the server is down, or connections are accepted and closed at
//! once, as a connection pooler or load balancer in front of a down server does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// How new connections are refused during an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing listens: a connection attempt is refused (`ECONNREFUSED`).
    PortClosed,
    /// A connection is accepted and closed before a byte is relayed.
    HungUp,
}

impl Refusal {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::PortClosed => "port closed",
            Refusal::HungUp => "connections hung up",
        }
    }
}

/// A running proxy; stops when dropped.
pub struct DbProxy {
    addr: SocketAddr,
    target: SocketAddr,
    /// The task accepting connections; `None` while the port is closed.
    accept: Mutex<Option<JoinHandle<()>>>,
    relays: Arc<Mutex<Relays>>,
}

#[derive(Default)]
struct Relays {
    /// Each relayed connection's task; aborting it closes both of its sockets.
    connections: Vec<AbortHandle>,
    /// New connections are closed at once ([`Refusal::HungUp`]).
    hang_up: bool,
}

impl DbProxy {
    /// Listens on a free loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = listen("127.0.0.1:0".parse()?)?;
        let proxy = Self {
            addr: listener.local_addr()?,
            target,
            accept: Mutex::default(),
            relays: Arc::default(),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server goes away: every open connection is cut and new ones are refused.
    pub async fn go_down(&self, refusal: Refusal) {
        if refusal == Refusal::PortClosed {
            let accept = self.accept.lock().expect("proxy state").take();
            if let Some(accept) = accept {
                accept.abort();
                // Once the task is gone its listener is closed.
                let _ = accept.await;
            }
        }
        let mut relays = self.relays.lock().expect("proxy state");
        relays.hang_up = refusal == Refusal::HungUp;
        for connection in relays.connections.drain(..) {
            connection.abort();
        }
    }

    /// The server is back: new connections are relayed again (on the same port).
    pub fn come_up(&self) -> anyhow::Result<()> {
        self.relays.lock().expect("proxy state").hang_up = false;
        if self.accept.lock().expect("proxy state").is_none() {
            self.serve(listen(self.addr)?);
        }
        Ok(())
    }

    /// A restart of the server whose outage lasts `outage`.
    pub async fn restart(&self, outage: Duration, refusal: Refusal) -> anyhow::Result<()> {
        self.go_down(refusal).await;
        tokio::time::sleep(outage).await;
        self.come_up()
    }

    fn serve(&self, listener: TcpListener) {
        let task = tokio::spawn(accept_loop(listener, self.target, self.relays.clone()));
        *self.accept.lock().expect("proxy state") = Some(task);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.lock().expect("proxy state").take() {
            accept.abort();
        }
        for connection in self
            .relays
            .lock()
            .expect("proxy state")
            .connections
            .drain(..)
        {
            connection.abort();
        }
    }
}

/// A listener on `addr` that may take over the port right after an earlier one closed
/// (its cut connections still linger in TIME_WAIT there).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, relays: Arc<Mutex<Relays>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors or the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut guard = relays.lock().expect("proxy state");
        if guard.hang_up {
            drop(client);
            continue;
        }
        guard.connections.retain(|c| !c.is_finished());
        let relay = tokio::spawn(relay(client, target));
        guard.connections.push(relay.abort_handle());
    }
}

/// Relays one connection until either side closes it (or the task is aborted).
async fn relay(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server: what the proxy relays to.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(bytes).await?;
        let mut back = vec![0; bytes.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    /// The connection is closed by the far end: a read ends (EOF) or fails (reset).
    async fn is_closed(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        matches!(read, Ok(Ok(0)) | Ok(Err(_)))
    }

    #[tokio::test]
    async fn relays_cuts_open_connections_and_refuses_during_an_outage() {
        let proxy = DbProxy::start(echo_server().await).await.unwrap();
        for refusal in [Refusal::PortClosed, Refusal::HungUp] {
            let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
            assert_eq!(
                round_trip(&mut open, b"select 1").await.unwrap(),
                b"select 1"
            );

            proxy.go_down(refusal).await;
            assert!(
                is_closed(&mut open).await,
                "{refusal:?}: an open connection survived"
            );
            match TcpStream::connect(proxy.addr()).await {
                Ok(mut taken) => {
                    assert_eq!(refusal, Refusal::HungUp, "the port is still open");
                    assert!(is_closed(&mut taken).await, "a new connection was relayed");
                }
                Err(e) => {
                    assert_eq!(refusal, Refusal::PortClosed, "{e}");
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                }
            }

            proxy.come_up().unwrap();
            let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
            assert_eq!(
                round_trip(&mut again, b"select 2").await.unwrap(),
                b"select 2"
            );
        }
    }

    #[tokio::test]
    async fn a_restart_heals_on_its_own() {
        let proxy = DbProxy::start(echo_server().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut open, b"x").await.unwrap();
        proxy
            .restart(Duration::from_millis(50), Refusal::PortClosed)
            .await
            .unwrap();
        assert!(is_closed(&mut open).await);
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, b"y").await.unwrap(), b"y");
    }
}
