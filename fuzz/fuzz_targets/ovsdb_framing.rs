//! Bytes from an OVSDB server (or a file that claims to be one) must frame into JSON
//! values or a `FrameError`, never a panic or an unbounded buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovnscope::ovsdb::proto::framing::Framer;

fuzz_target!(|data: &[u8]| {
    let mut f = Framer::new(1 << 16);
    // Feed in two pieces so split frames are exercised too.
    let cut = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    for chunk in [&data[..cut], &data[cut..]] {
        f.feed(chunk);
        loop {
            match f.next_message() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
});
