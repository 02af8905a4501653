//! Incremental framing of the OVSDB byte stream.
//!
//! ovsdb-server writes JSON-RPC messages back to back with no delimiter and no length prefix
//! (`lib/jsonrpc.c` feeds its reader an incremental JSON parser). A read may end anywhere: in
//! the middle of a string, an escape, or a multi-megabyte `monitor_cond` reply. The scanner
//! keeps its state (nesting depth, inside-string, escape, how far it has looked) between calls,
//! so each byte is examined once however the stream is split; only a complete message is handed
//! to serde_json.

use serde_json::Value;

/// Why a byte stream cannot be split into messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message must be a JSON object; the peer sent something else at top level.
    #[error("expected '{{' at the start of a message, found byte 0x{byte:02x} ({shown}) at stream offset {offset}")]
    NotAnObject { byte: u8, shown: char, offset: u64 },
    /// A closing bracket without an opening one.
    #[error("unbalanced '{shown}' at stream offset {offset}")]
    Unbalanced { shown: char, offset: u64 },
    /// One message is larger than the configured limit.
    #[error("message larger than the limit of {limit} bytes (raise it with --max-message-size)")]
    TooLarge { limit: usize },
    /// The bytes of a complete message are not valid JSON.
    #[error("malformed JSON in message at stream offset {offset}: {reason}; message starts with {excerpt:?}")]
    Json { offset: u64, reason: String, excerpt: String },
}

/// The default limit on one message: large Southbound dumps reach hundreds of megabytes.
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// Scanner state that survives between reads. Works on a caller-owned buffer whose first byte
/// is the first byte not yet returned as part of a frame.
#[derive(Debug, Clone)]
pub struct FrameScanner {
    depth: u32,
    in_string: bool,
    escape: bool,
    /// Bytes of the buffer already examined.
    scanned: usize,
    /// Leading whitespace (between messages) to drop before the frame.
    skip: usize,
    /// Offset of the buffer's first byte in the whole stream, for error messages.
    base: u64,
    max: usize,
}

impl Default for FrameScanner {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

impl FrameScanner {
    pub fn new(max: usize) -> Self {
        FrameScanner {
            depth: 0,
            in_string: false,
            escape: false,
            scanned: 0,
            skip: 0,
            base: 0,
            max,
        }
    }

    /// Looks for the end of the next message in `buf`. Returns `(skip, end)`: drop `skip` bytes
    /// of whitespace, the message is `buf[skip..end]`; the caller then removes `end` bytes from
    /// the front of its buffer. `None` means "need more bytes"; the state is kept.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
        let mut i = self.scanned;
        while i < buf.len() {
            let b = buf[i];
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => {
                        if self.depth == 0 && b == b'[' {
                            return Err(self.not_object(b, i));
                        }
                        self.depth += 1;
                    }
                    b'}' | b']' => {
                        if self.depth == 0 {
                            return Err(FrameError::Unbalanced {
                                shown: b as char,
                                offset: self.base + i as u64,
                            });
                        }
                        self.depth -= 1;
                        if self.depth == 0 {
                            let skip = self.skip;
                            let end = i + 1;
                            self.base += end as u64;
                            self.scanned = 0;
                            self.skip = 0;
                            return Ok(Some((skip, end)));
                        }
                    }
                    b' ' | b'\t' | b'\n' | b'\r' if self.depth == 0 => self.skip = i + 1,
                    _ if self.depth == 0 => return Err(self.not_object(b, i)),
                    _ => {}
                }
            }
            i += 1;
        }
        self.scanned = i;
        if i - self.skip > self.max {
            return Err(FrameError::TooLarge { limit: self.max });
        }
        Ok(None)
    }

    /// Stream offset of the next byte the scanner will hand out.
    pub fn stream_offset(&self) -> u64 {
        self.base
    }

    /// True when the scanner is in the middle of a message (bytes seen, no end yet).
    pub fn mid_message(&self, buffered: usize) -> bool {
        buffered > self.skip
    }

    fn not_object(&self, byte: u8, i: usize) -> FrameError {
        let shown = if byte.is_ascii_graphic() { byte as char } else { '?' };
        FrameError::NotAnObject {
            byte,
            shown,
            offset: self.base + i as u64,
        }
    }
}

/// Parses one complete frame (as returned by [`FrameScanner::scan`]) into JSON.
pub fn parse_frame(frame: &[u8], offset: u64) -> Result<Value, FrameError> {
    serde_json::from_slice(frame).map_err(|e| FrameError::Json {
        offset,
        reason: e.to_string(),
        excerpt: String::from_utf8_lossy(&frame[..frame.len().min(80)]).into_owned(),
    })
}

/// A sans-I/O framer that owns its buffer: feed bytes as they arrive, take messages out.
/// Used by tests, benchmarks and the offline tools; the tokio codec uses [`FrameScanner`]
/// directly on its own buffer.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    scanner: FrameScanner,
}

impl Framer {
    pub fn new(max: usize) -> Self {
        Framer {
            buf: Vec::new(),
            start: 0,
            scanner: FrameScanner::new(max),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if the bytes fed so far contain one.
    pub fn next_message(&mut self) -> Result<Option<Value>, FrameError> {
        let offset = self.scanner.stream_offset();
        match self.scanner.scan(&self.buf[self.start..])? {
            None => Ok(None),
            Some((skip, end)) => {
                let frame = &self.buf[self.start + skip..self.start + end];
                let v = parse_frame(frame, offset + skip as u64)?;
                self.start += end;
                Ok(Some(v))
            }
        }
    }

    /// Bytes of an unfinished message still held (non-zero at end of stream = truncated).
    pub fn pending(&self) -> usize {
        let rest = &self.buf[self.start..];
        rest.iter().filter(|b| !b.is_ascii_whitespace()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Result<Vec<Value>, FrameError> {
        let mut f = Framer::default();
        f.feed(bytes);
        let mut out = vec![];
        while let Some(v) = f.next_message()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn splits_back_to_back_messages() {
        let v = all(br#"{"id":1,"result":[]}{"id":"echo","method":"echo","params":[]}"#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["method"], "echo");
    }

    #[test]
    fn braces_and_escaped_quotes_inside_strings() {
        let v = all(br#"{"a":"}{\"]","b":"\\"} {"c":"x\\\"}"}"#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["a"], "}{\"]");
        assert_eq!(v[0]["b"], "\\");
        assert_eq!(v[1]["c"], "x\\\"}");
    }

    #[test]
    fn whitespace_between_messages() {
        assert_eq!(all(b" \n{\"a\":1}\r\n\t{\"b\":2} ").unwrap().len(), 2);
    }

    #[test]
    fn garbage_is_an_error_naming_the_offset() {
        let e = all(b"{\"a\":1}xyz").unwrap_err();
        assert_eq!(
            e,
            FrameError::NotAnObject {
                byte: b'x',
                shown: 'x',
                offset: 7
            }
        );
        assert!(matches!(all(b"}").unwrap_err(), FrameError::Unbalanced { .. }));
        assert!(matches!(all(b"[1]").unwrap_err(), FrameError::NotAnObject { .. }));
    }

    #[test]
    fn malformed_json_inside_balanced_braces() {
        let e = all(b"{\"a\":tru}").unwrap_err();
        assert!(matches!(e, FrameError::Json { offset: 0, .. }), "{e:?}");
    }

    #[test]
    fn too_large() {
        let mut f = Framer::new(8);
        f.feed(b"{\"aaaaaaaaaaaa");
        assert_eq!(f.next_message().unwrap_err(), FrameError::TooLarge { limit: 8 });
    }

    #[test]
    fn partial_message_is_pending() {
        let mut f = Framer::default();
        f.feed(b"{\"id\":1,\"res");
        assert_eq!(f.next_message().unwrap(), None);
        assert!(f.pending() > 0);
        f.feed(b"ult\":2}");
        assert_eq!(f.next_message().unwrap().unwrap()["result"], 2);
        assert_eq!(f.pending(), 0);
    }
}
