//! Starts and stops a simulator: binds the listener, serves HTTP/1.1 over TLS or plain TCP.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::config::SimulatorConfig;
use super::response::DropConnection;
use super::router::router;
use super::state::{SimulatorState, StateError};
use super::tls::{TlsError, TlsIdentity};

const LISTEN_BACKLOG: u32 = 1024;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot set up tls")]
    Tls(#[from] TlsError),
    #[error("invalid security association records")]
    Records(#[from] StateError),
    #[error("invalid cluster-network security association records")]
    ClusterNetworkRecords(#[source] StateError),
}

/// The service error that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct ConnectionDropped;

/// A simulator that is accepting connections.
///
/// Dropping it stops the server too; [`shutdown`](Self::shutdown) also waits until every
/// connection is closed.
#[derive(Debug)]
pub struct RunningSimulator {
    local_addr: SocketAddr,
    base_url: String,
    identity: TlsIdentity,
    state: SimulatorState,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// `https://127.0.0.1:PORT` (or `http://` with TLS off); no trailing slash.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The address actually bound (the real port when the config asked for port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server certificate in PEM, for clients to trust (generated even with TLS off).
    #[must_use]
    pub fn certificate_pem(&self) -> String {
        self.identity.certificate_pem().to_owned()
    }

    /// Certificate and key, to restart a simulator with the same identity.
    #[must_use]
    pub fn tls_identity(&self) -> TlsIdentity {
        self.identity.clone()
    }

    /// A handle on the records, faults and counters of this simulator.
    #[must_use]
    pub fn state(&self) -> SimulatorState {
        self.state.clone()
    }

    /// Stops listening, closes every open connection and waits until both are done.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Binds `config.listen` (with `SO_REUSEADDR`, so a restarted simulator can take the same port)
/// and serves the simulator until the returned handle is shut down or dropped.
pub async fn start(config: SimulatorConfig) -> Result<RunningSimulator, SimError> {
    let state = SimulatorState::new(config.records.clone())?;
    state
        .cluster_network()
        .replace_records(config.cluster_network.clone())
        .map_err(SimError::ClusterNetworkRecords)?;
    let listener = bind(config.listen).map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let local_addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let identity = match &config.tls_identity {
        Some(identity) => identity.clone(),
        None => TlsIdentity::generate(&config.cluster_name, local_addr.ip())?,
    };
    let acceptor = if config.tls {
        Some(TlsAcceptor::from(identity.server_config()?))
    } else {
        None
    };
    let base_url = base_url(local_addr, config.tls);
    let app = router(&config, state.clone());
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(serve(listener, acceptor, app, stopped));
    tracing::info!(
        %base_url,
        version = %config.ontap_version,
        records = config.records.len(),
        cluster_network_records = config.cluster_network.len(),
        "ontap simulator listening"
    );
    Ok(RunningSimulator {
        local_addr,
        base_url,
        identity,
        state,
        stop,
        server: Some(server),
    })
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A URL clients can connect to: an unspecified listen address is reached over loopback.
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("{scheme}://{}", SocketAddr::new(host, addr.port()))
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, acceptor.clone(), app.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Aborting the tasks drops their sockets: clients see the connection close, as when ONTAP goes away.
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, acceptor: Option<TlsAcceptor>, app: Router) {
    let _ = stream.set_nodelay(true);
    match acceptor {
        None => serve_http(stream, app).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_http(tls, app).await,
                Ok(Err(error)) => tracing::debug!(%error, "tls handshake failed"),
                Err(_) => tracing::debug!("tls handshake timed out"),
            }
        }
    }
}

async fn serve_http<Io>(io: Io, app: Router)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let app = app.clone();
        async move {
            let response = app
                .oneshot(request)
                .await
                .unwrap_or_else(|never| match never {});
            if response.extensions().get::<DropConnection>().is_some() {
                return Err(ConnectionDropped);
            }
            Ok(response)
        }
    });
    if let Err(error) = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(%error, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_reaches_unspecified_addresses_over_loopback() {
        assert_eq!(
            base_url("0.0.0.0:8443".parse().expect("addr"), true),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            base_url("[::]:80".parse().expect("addr"), false),
            "http://[::1]:80"
        );
        assert_eq!(
            base_url("127.0.0.1:1".parse().expect("addr"), true),
            "https://127.0.0.1:1"
        );
    }
}
