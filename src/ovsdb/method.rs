//! Connection methods as OVS spells them (`ovsdb(7)`): `unix:PATH`, `tcp:IP:PORT`,
//! `ssl:IP:PORT`, comma-separated members of a cluster; plus ovnscope's `file:PATH` for an
//! offline database file.

use super::error::{Error, Result};
use std::path::PathBuf;

/// One member of a method string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
    Ssl { host: String, port: u16 },
    File(PathBuf),
}

/// `IP:PORT` or `[IPv6]:PORT` (the port required, 1–65535), as OVS writes them.
pub fn host_port(method: &str, rest: &str) -> Result<(String, u16)> {
    let bad = |reason: &str| Error::BadMethod {
        method: method.to_string(),
        reason: reason.to_string(),
    };
    // IPv6 addresses are written in brackets: tcp:[::1]:6641
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r.split_once("]:").ok_or_else(|| bad("expected [IPv6]:PORT"))?;
        (h, p)
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| bad("expected IP:PORT (ovsdb-server has no default port)"))?
    };
    if host.is_empty() {
        return Err(bad("missing IP address"));
    }
    let port = port.parse().map_err(|_| bad("port is not a number between 1 and 65535"))?;
    if port == 0 {
        return Err(bad("port 0 is not a valid destination"));
    }
    Ok((host.to_string(), port))
}

impl Method {
    /// Parses a whole method string into its members (at least one).
    pub fn parse_list(s: &str) -> Result<Vec<Method>> {
        let members: Vec<Method> = s
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(Method::parse)
            .collect::<Result<_>>()?;
        if members.is_empty() {
            return Err(Error::BadMethod {
                method: s.to_string(),
                reason: "empty".into(),
            });
        }
        Ok(members)
    }

    pub fn parse(s: &str) -> Result<Method> {
        let bad = |reason: &str| Error::BadMethod {
            method: s.to_string(),
            reason: reason.to_string(),
        };
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("expected unix:PATH, tcp:IP:PORT, ssl:IP:PORT or file:PATH"))?;
        match kind {
            "unix" | "file" => {
                if rest.is_empty() {
                    return Err(bad("missing path"));
                }
                let p = PathBuf::from(rest);
                Ok(if kind == "unix" { Method::Unix(p) } else { Method::File(p) })
            }
            "tcp" => host_port(s, rest).map(|(host, port)| Method::Tcp { host, port }),
            "ssl" => host_port(s, rest).map(|(host, port)| Method::Ssl { host, port }),
            "punix" | "ptcp" | "pssl" => Err(bad(
                "that is a listening (passive) method; ovnscope connects, so use unix:, tcp: or ssl:",
            )),
            _ => Err(bad("unknown method; expected unix:PATH, tcp:IP:PORT, ssl:IP:PORT or file:PATH")),
        }
    }

    /// Whether idle connections need our own echo probes (OVS probes tcp/ssl, not unix).
    pub fn needs_probes(&self) -> bool {
        matches!(self, Method::Tcp { .. } | Method::Ssl { .. })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hp = |h: &str| if h.contains(':') { format!("[{h}]") } else { h.to_string() };
        match self {
            Method::Unix(p) => write!(f, "unix:{}", p.display()),
            Method::File(p) => write!(f, "file:{}", p.display()),
            Method::Tcp { host, port } => write!(f, "tcp:{}:{port}", hp(host)),
            Method::Ssl { host, port } => write!(f, "ssl:{}:{port}", hp(host)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ovs_methods() {
        assert_eq!(
            Method::parse("unix:/var/run/ovn/ovnnb_db.sock").unwrap(),
            Method::Unix("/var/run/ovn/ovnnb_db.sock".into())
        );
        assert_eq!(
            Method::parse("tcp:127.0.0.1:6641").unwrap(),
            Method::Tcp {
                host: "127.0.0.1".into(),
                port: 6641
            }
        );
        assert_eq!(
            Method::parse("ssl:[fd00::1]:9641").unwrap(),
            Method::Ssl {
                host: "fd00::1".into(),
                port: 9641
            }
        );
        assert_eq!(Method::parse("file:/tmp/nb.db").unwrap(), Method::File("/tmp/nb.db".into()));
        let l = Method::parse_list("ssl:10.0.0.1:9641,ssl:10.0.0.2:9641").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].to_string(), "ssl:10.0.0.2:9641");
    }

    #[test]
    fn rejects_bad_methods_with_reasons() {
        for bad in [
            "",
            "tcp:127.0.0.1",
            "tcp:1.2.3.4:x",
            "tcp::6641",
            "ptcp:6641",
            "http://x",
            "unix:",
            "/var/run/x.sock",
        ] {
            let e = Method::parse_list(bad).unwrap_err().to_string();
            assert!(e.starts_with("bad database method"), "{bad}: {e}");
        }
    }
}
