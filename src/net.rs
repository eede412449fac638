//! Listening sockets of the operator's own HTTP endpoints (`--metrics-addr`, `--health-addr`).
//!
//! The default addresses are `[::]`: a socket on the IPv6 wildcard with `IPV6_V6ONLY` off accepts
//! IPv6 and, as IPv4-mapped addresses, IPv4, so one default serves IPv4-only, IPv6-only and
//! dual-stack clusters. The option is set explicitly, so a node whose
//! `net.ipv6.bindv6only` sysctl is 1 does not turn the socket IPv6-only. Where the kernel has no
//! IPv6 at all (`ipv6.disable=1`), `[::]` falls back to `0.0.0.0` on the same port.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 1024;
/// `EAFNOSUPPORT`: the kernel has no IPv6 (Linux).
const ADDRESS_FAMILY_NOT_SUPPORTED: i32 = 97;

/// The default listening address on `port`: every IPv6 and IPv4 address.
#[must_use]
pub fn dual_stack(port: u16) -> SocketAddr {
    SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), port)
}

/// Binds and listens on `addr`; `[::]` accepts IPv4 too, and becomes `0.0.0.0` where the kernel
/// has no IPv6. Needs a Tokio runtime.
///
/// # Errors
///
/// When the socket cannot be created, bound (e.g. the port is in use) or registered with Tokio.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    match listen(addr) {
        Err(error) if addr.is_ipv6() && addr.ip().is_unspecified() && no_ipv6(&error) => {
            let fallback = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port());
            tracing::warn!(%addr, %fallback, %error, "IPv6 is not available; listening on IPv4 only");
            listen(fallback)
        }
        result => result,
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    // As std and Tokio do on Unix: a restarted operator rebinds while old connections linger.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Whether `error` says the host cannot do IPv6 rather than that this address is taken.
fn no_ipv6(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::AddrNotAvailable
        || error.raw_os_error() == Some(ADDRESS_FAMILY_NOT_SUPPORTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Connects to `port` on `host` and reads what the listener's accept loop writes back.
    async fn greeting(host: &str, port: u16) -> io::Result<String> {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        Ok(text)
    }

    #[tokio::test]
    async fn the_dual_stack_address_accepts_ipv4_and_ipv6() {
        let listener = bind(dual_stack(0)).expect("[::]:0 binds");
        let local = listener.local_addr().expect("a local address");
        assert!(local.is_ipv6() && local.ip().is_unspecified(), "{local}");
        let port = local.port();
        tokio::spawn(async move {
            while let Ok((mut stream, peer)) = listener.accept().await {
                let _ = stream.write_all(peer.ip().to_string().as_bytes()).await;
            }
        });
        let over_ipv4 = greeting("127.0.0.1", port).await.expect("IPv4 connects");
        assert_eq!(
            over_ipv4, "::ffff:127.0.0.1",
            "IPv4 arrives as a mapped address"
        );
        let over_ipv6 = greeting("::1", port).await.expect("IPv6 connects");
        assert_eq!(over_ipv6, "::1");
    }

    #[tokio::test]
    async fn a_port_in_use_is_an_error_not_a_fallback() {
        let taken = bind(dual_stack(0)).expect("[::]:0 binds");
        let port = taken.local_addr().expect("a local address").port();
        let error = bind(dual_stack(port)).expect_err("the port is taken");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
    }

    #[test]
    fn missing_ipv6_is_told_apart_from_other_errors() {
        assert!(no_ipv6(&io::Error::from_raw_os_error(
            ADDRESS_FAMILY_NOT_SUPPORTED
        )));
        assert!(no_ipv6(&io::Error::from(io::ErrorKind::AddrNotAvailable)));
        assert!(!no_ipv6(&io::Error::from(io::ErrorKind::AddrInUse)));
        assert!(!no_ipv6(&io::Error::from(io::ErrorKind::PermissionDenied)));
    }
}
