//! Where serve listens — TCP (loopback unless told otherwise), a unix socket, or TLS with
//! client certificates over TCP — and the accept loop that hands each connection to
//! jsonrpsee's HTTP/WebSocket service, one task per connection.

use jsonrpsee::server::{serve_with_graceful_shutdown, stop_channel, Methods, Server, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A parsed `--listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Listen {
    pub fn parse(s: &str) -> Result<Listen, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err("--listen unix: needs a path".into());
            }
            return Ok(Listen::Unix(p.into()));
        }
        s.parse()
            .map(Listen::Tcp)
            .map_err(|_| format!("--listen {s:?}: expected IP:PORT (e.g. 127.0.0.1:7470) or unix:PATH"))
    }

    /// Reachable only from this host (or, in a pod, only through a port-forward).
    pub fn is_local(&self) -> bool {
        match self {
            Listen::Tcp(a) => a.ip().is_loopback(),
            Listen::Unix(_) => true,
        }
    }
}

/// A listening socket.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

use crate::ovsdb::client::Stream as Io;

impl Listener {
    pub async fn bind(l: &Listen) -> std::io::Result<Listener> {
        Ok(match l {
            Listen::Tcp(a) => Listener::Tcp(tokio::net::TcpListener::bind(a).await?),
            Listen::Unix(p) => {
                // A socket file left by a serve that was killed would make bind fail.
                if std::fs::symlink_metadata(p).is_ok_and(|m| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_socket()
                }) && std::os::unix::net::UnixStream::connect(p).is_err()
                {
                    let _ = std::fs::remove_file(p);
                }
                Listener::Unix(tokio::net::UnixListener::bind(p)?, p.clone())
            }
        })
    }

    /// The address as a client names it: `http://IP:PORT` (`https://` with TLS) or `unix:PATH`.
    pub fn url(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| format!("{scheme}://{a}")).unwrap_or_default(),
            Listener::Unix(_, p) => format!("unix:{}", p.display()),
        }
    }

    async fn accept(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            Listener::Unix(l, _) => Box::new(l.accept().await?.0),
        })
    }
}

/// Serves `methods` on `listener` until the process ends; with `tls`, every connection first
/// completes a TLS handshake that requires a client certificate.
pub async fn run(listener: Listener, methods: Methods, config: ServerConfig, tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>) {
    let (stop, _handle) = stop_channel();
    let services = Server::builder().set_config(config).to_service_builder();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let io = match listener.accept().await {
            Ok(io) => io,
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning.
                eprintln!("ovnscope serve: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let svc = services.clone().build(methods.clone(), stop.clone());
        let stopped = stop.clone().shutdown();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let io: Box<dyn Io> = match acceptor {
                None => io,
                Some(a) => match tokio::time::timeout(std::time::Duration::from_secs(10), a.accept(io)).await {
                    Ok(Ok(t)) => Box::new(t),
                    // A client without a valid certificate: nothing to serve.
                    _ => return,
                },
            };
            let _ = serve_with_graceful_shutdown(io, svc, stopped).await;
        });
    }
}
