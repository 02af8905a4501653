//! Packets from capture files: reading pcap/pcapng, decoding the headers a path explanation
//! needs (Ethernet, IPv4/IPv6, ICMP, TCP, UDP, and Geneve's OVN metadata), and correlating the
//! same packet across capture points. Does not import `ovsdb`: it knows bytes, not databases.

pub mod conntrack;
pub mod conversation;
pub mod correlate;
pub mod decode;
pub mod file;
pub mod live;
pub mod netns;
pub mod probe;
pub mod session;
