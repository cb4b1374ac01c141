//! systemd's readiness protocol (`sd_notify`, `Type=notify` units): when the service manager
//! passes `NOTIFY_SOCKET`, the bridge tells it `READY=1` once it serves (database open,
//! homeserver reached, engine started), `STOPPING=1` when it begins to stop, and a `STATUS=`
//! line for `systemctl status`. Without `NOTIFY_SOCKET` every call does nothing, so the same
//! binary runs under any supervisor.
//!
//! The protocol is one datagram per message on a Unix socket whose path is the variable's
//! value; a value starting with `@` names a socket in the abstract namespace. No library is
//! needed for that, and a failure to notify never stops the bridge: it is logged, and systemd
//! then ends the start by its own timeout, which says more than a crash would.

use std::os::unix::net::UnixDatagram;

/// The environment variable systemd passes with the socket's address.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (newline-separated `KEY=value` assignments) to the service manager, if
/// there is one. Returns whether it was sent.
pub fn notify(state: &str) -> bool {
    let Some(address) = std::env::var_os(NOTIFY_SOCKET) else {
        return false;
    };
    let address = address.to_string_lossy().into_owned();
    match send(&address, state) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(socket = %address, error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
            false
        }
    }
}

fn send(address: &str, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match address.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            socket.send_to(state.as_bytes(), address)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_socket_receives_the_state_as_one_datagram() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        send(path.to_str().expect("utf-8"), "READY=1\nSTATUS=running").expect("sent");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).expect("received");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
    }

    #[test]
    fn an_abstract_socket_is_named_with_an_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("aqueduct-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract name");
        let receiver = UnixDatagram::bind_addr(&addr).expect("bind");
        send(&format!("@{name}"), "STOPPING=1").expect("sent");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).expect("received");
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        assert!(send("/nonexistent/aqueduct/notify", "READY=1").is_err());
    }
}
