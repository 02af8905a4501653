//! Captured frames are attacker-shaped bytes: decoding (Ethernet, VLAN, IPv4/6, TCP/UDP,
//! ICMP, Geneve and the inner frame) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovnscope::capture::decode::decode_or_blank;

fuzz_target!(|data: &[u8]| {
    let _ = decode_or_blank(data);
});
