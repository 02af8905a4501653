//! Sending the packet itself, from inside a pod's network namespace: a handful of ICMP echoes
//! (`ping`, which has the raw-socket privilege), one TCP connection attempt, or three UDP
//! datagrams — only to the destination given, so a capture can show one exchange end to end.

use super::netns::{run_in, NetnsError};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Icmp,
    Tcp(u16),
    Udp(u16),
}

impl std::str::FromStr for Probe {
    type Err = String;
    fn from_str(s: &str) -> Result<Probe, String> {
        let port = |p: &str| p.parse::<u16>().map_err(|_| format!("{s:?}: {p:?} is not a port"));
        match s.split_once(':') {
            None if s == "icmp" => Ok(Probe::Icmp),
            Some(("tcp", p)) => Ok(Probe::Tcp(port(p)?)),
            Some(("udp", p)) => Ok(Probe::Udp(port(p)?)),
            _ => Err(format!("{s:?}: expected icmp, tcp:PORT or udp:PORT")),
        }
    }
}

/// How many ICMP echoes or UDP datagrams a probe sends.
pub const COUNT: usize = 3;

/// Sends `probe` to `dst` from `netns`; what was sent and what came back, in words.
pub fn send(netns: Option<&str>, dst: IpAddr, probe: Probe) -> Result<String, NetnsError> {
    run_in(netns, move || match probe {
        Probe::Icmp => match std::process::Command::new("ping")
            .args(["-n", "-c", &COUNT.to_string(), "-i", "0.2", "-W", "1", &dst.to_string()])
            .output()
        {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                let summary = text.lines().find(|l| l.contains("packets transmitted")).unwrap_or("no summary");
                format!("ping {dst}: {summary}")
            }
            Err(e) => format!("ping {dst}: cannot run ping ({e}); install iputils-ping"),
        },
        Probe::Tcp(port) => match TcpStream::connect_timeout(&SocketAddr::new(dst, port), Duration::from_secs(2)) {
            Ok(_) => format!("tcp {dst}:{port}: connected, then closed"),
            Err(e) => format!("tcp {dst}:{port}: {e}"),
        },
        Probe::Udp(port) => {
            let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            match UdpSocket::bind(bind).and_then(|s| {
                for _ in 0..COUNT {
                    s.send_to(b"ovnscope probe\n", SocketAddr::new(dst, port))?;
                }
                Ok(())
            }) {
                Ok(()) => format!("udp {dst}:{port}: {COUNT} datagrams sent"),
                Err(e) => format!("udp {dst}:{port}: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_as_written() {
        assert_eq!("icmp".parse::<Probe>(), Ok(Probe::Icmp));
        assert_eq!("tcp:80".parse::<Probe>(), Ok(Probe::Tcp(80)));
        assert_eq!("udp:53".parse::<Probe>(), Ok(Probe::Udp(53)));
        assert!("tcp".parse::<Probe>().is_err() && "tcp:http".parse::<Probe>().is_err() && "sctp:1".parse::<Probe>().is_err());
    }
}
