//! A loopback TCP proxy between the bridge and its PostgreSQL server, owned by the chaos run,
//! so the database can "restart" under the bridge without touching the machine's real server:
//! every open connection is cut at once (sockets closed mid-query, as a server restart does to
//! its clients) and the proxy stops listening, so new connections are refused, until the
//! outage is over; then it listens on the same port again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// A running proxy; stops when dropped.
pub struct DbProxy {
    addr: SocketAddr,
    target: SocketAddr,
    /// The task accepting connections; `None` while down (nothing listens).
    accept: Mutex<Option<JoinHandle<()>>>,
    /// Each relayed connection's task; aborting it closes both of its sockets.
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl DbProxy {
    /// Listens on a free loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = listen("127.0.0.1:0".parse()?)?;
        let proxy = Self {
            addr: listener.local_addr()?,
            target,
            accept: Mutex::default(),
            connections: Arc::default(),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server goes away: every open connection is cut and the port is closed, so new
    /// connections are refused.
    pub async fn go_down(&self) {
        let accept = self.accept.lock().expect("proxy state").take();
        if let Some(accept) = accept {
            accept.abort();
            // Once the task is gone its listener is closed.
            let _ = accept.await;
        }
        self.cut_all();
    }

    /// The server is back: the proxy listens on its port again.
    pub fn come_up(&self) -> anyhow::Result<()> {
        if self.accept.lock().expect("proxy state").is_none() {
            self.serve(listen(self.addr)?);
        }
        Ok(())
    }

    /// A restart of the server that lasts `outage`.
    pub async fn restart(&self, outage: Duration) -> anyhow::Result<()> {
        self.go_down().await;
        tokio::time::sleep(outage).await;
        self.come_up()
    }

    fn serve(&self, listener: TcpListener) {
        let task = tokio::spawn(accept_loop(listener, self.target, self.connections.clone()));
        *self.accept.lock().expect("proxy state") = Some(task);
    }

    fn cut_all(&self) {
        for connection in self.connections.lock().expect("proxy state").drain(..) {
            connection.abort();
        }
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.lock().expect("proxy state").take() {
            accept.abort();
        }
        self.cut_all();
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

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors or the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut connections = connections.lock().expect("proxy state");
        connections.retain(|c| !c.is_finished());
        connections.push(tokio::spawn(relay(client, target)).abort_handle());
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

        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut open, b"select 1").await.unwrap(),
            b"select 1"
        );

        proxy.go_down().await;
        assert!(is_closed(&mut open).await, "an open connection survived");
        let refused = TcpStream::connect(proxy.addr()).await.map(|_| ());
        assert_eq!(
            refused.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused,
            "a new connection was taken during the outage"
        );

        proxy.come_up().unwrap();
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut again, b"select 2").await.unwrap(),
            b"select 2"
        );
    }

    #[tokio::test]
    async fn a_restart_heals_on_its_own() {
        let proxy = DbProxy::start(echo_server().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut open, b"x").await.unwrap();
        proxy.restart(Duration::from_millis(50)).await.unwrap();
        assert!(is_closed(&mut open).await);
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, b"y").await.unwrap(), b"y");
    }
}
