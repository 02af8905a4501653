//! Offline reader of OVSDB database files (ovsdb(5)): the standalone format (`OVSDB JSON`
//! records: the schema, then transactions) and the clustered format (`OVSDB CLUSTER` records:
//! a RAFT header with a snapshot, then log entries), gzip-compressed or not. The result is the
//! same [`Snapshot`] a live monitor produces, so every command works on a must-gather.
//!
//! The file is streamed record by record: each transaction is applied and dropped. Clustered
//! logs keep only the entries after the last recorded commit index, because Raft may still
//! replace those (a later entry with the same index wins).
//!
//! Like ovsdb-server, a record cut off at the very end of the file (a torn write) is ignored
//! with a warning; damage anywhere else is an error naming the record and its byte offset.

use super::proto::snapshot::UpdateError;
use super::proto::{DatabaseSchema, Snapshot};
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which of the two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Standalone,
    Clustered,
}

/// A database file replayed to its final state.
#[derive(Debug, Clone)]
pub struct FileDb {
    pub snapshot: Snapshot,
    pub format: Format,
    /// Records read (schema/header included).
    pub records: u64,
    /// Transactions (standalone) or log entries with data (clustered) applied.
    pub transactions: u64,
    /// Bytes of (uncompressed) file consumed.
    pub bytes: u64,
    pub compressed: bool,
    pub warnings: Vec<String>,
}

/// Why a file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}: {io}")]
    Open { path: PathBuf, io: std::io::Error },
    #[error("{path}: read error at byte {offset}: {io}")]
    Read { path: PathBuf, offset: u64, io: std::io::Error },
    #[error("{path} is not an OVSDB database file (it starts with {found:?}; expected \"OVSDB JSON\" or \"OVSDB CLUSTER\")")]
    NotOvsdb { path: PathBuf, found: String },
    #[error("{path}: record {record} at byte {offset}{}: {reason}", if *.compressed { " (uncompressed)" } else { "" })]
    Corrupt {
        path: PathBuf,
        record: u64,
        offset: u64,
        compressed: bool,
        reason: String,
    },
    #[error("{path}: the file holds no complete record")]
    Empty { path: PathBuf },
}

const MAX_HEADER: u64 = 256;

struct Record {
    number: u64,
    offset: u64,
    magic: String,
    json: Value,
}

/// Reads records one at a time, verifying length and SHA-1.
struct Records<R> {
    r: R,
    path: PathBuf,
    offset: u64,
    number: u64,
    compressed: bool,
    warnings: Vec<String>,
    /// Only these tables and columns are parsed into the records' transactions.
    keep: Option<super::prune::Keep>,
}

enum Next {
    Record(Record),
    End,
}

impl<R: BufRead> Records<R> {
    fn corrupt(&self, offset: u64, reason: String) -> FileError {
        FileError::Corrupt {
            path: self.path.clone(),
            record: self.number,
            offset,
            compressed: self.compressed,
            reason,
        }
    }

    /// An error about a record read earlier (clustered entries are applied after later reads).
    fn corrupt_rec(&self, rec: &Record, reason: String) -> FileError {
        FileError::Corrupt {
            path: self.path.clone(),
            record: rec.number,
            offset: rec.offset,
            compressed: self.compressed,
            reason,
        }
    }

    fn at_eof(&mut self) -> Result<bool, FileError> {
        let offset = self.offset;
        self.r.fill_buf().map(|b| b.is_empty()).map_err(|io| FileError::Read {
            path: self.path.clone(),
            offset,
            io,
        })
    }

    fn torn(&mut self, start: u64, what: &str) -> Next {
        self.warnings.push(format!(
            "{}: record {} at byte {start} is {what} at the end of the file (a torn write); ignored, so this is the state as of record {}",
            self.path.display(),
            self.number,
            self.number - 1
        ));
        Next::End
    }

    fn next(&mut self) -> Result<Next, FileError> {
        let start = self.offset;
        let mut header = Vec::new();
        (&mut self.r)
            .take(MAX_HEADER)
            .read_until(b'\n', &mut header)
            .map_err(|io| FileError::Read {
                path: self.path.clone(),
                offset: start,
                io,
            })?;
        if header.is_empty() {
            return Ok(Next::End);
        }
        self.number += 1;
        self.offset += header.len() as u64;
        if header.last() != Some(&b'\n') {
            if header.len() as u64 >= MAX_HEADER {
                return Err(self.corrupt(start, "record header line is too long".into()));
            }
            return Ok(self.torn(start, "cut off in its header line"));
        }
        let text = String::from_utf8_lossy(&header[..header.len() - 1]).into_owned();
        let words: Vec<&str> = text.split(' ').collect();
        let (magic, len, hash) = match words.as_slice() {
            ["OVSDB", magic, len, hash] => (magic.to_string(), len, hash),
            _ if self.number == 1 => {
                return Err(FileError::NotOvsdb {
                    path: self.path.clone(),
                    found: text.chars().take(40).collect(),
                });
            }
            _ => return Err(self.corrupt(start, format!("bad record header {:?}", text.chars().take(80).collect::<String>()))),
        };
        let len: u64 = len
            .parse()
            .map_err(|_| self.corrupt(start, format!("bad length {len:?} in record header")))?;
        if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.corrupt(start, format!("bad SHA-1 {hash:?} in record header")));
        }
        let mut body = Vec::with_capacity(len.min(1 << 26) as usize);
        (&mut self.r).take(len).read_to_end(&mut body).map_err(|io| FileError::Read {
            path: self.path.clone(),
            offset: self.offset,
            io,
        })?;
        self.offset += body.len() as u64;
        if (body.len() as u64) < len {
            return Ok(self.torn(start, &format!("cut off after {} of {len} bytes", body.len())));
        }
        let actual = hex::encode(Sha1::digest(&body));
        if !actual.eq_ignore_ascii_case(hash) {
            if self.at_eof()? {
                return Ok(self.torn(start, "damaged (SHA-1 mismatch)"));
            }
            return Err(self.corrupt(start, format!("SHA-1 mismatch: header says {hash}, content is {actual}")));
        }
        let json = match (&self.keep, magic.as_str()) {
            (Some(keep), "JSON") if self.number > 1 => super::prune::parse(&body, super::prune::At::Txn, keep),
            (Some(keep), "CLUSTER") => super::prune::parse(&body, super::prune::At::Cluster, keep),
            _ => serde_json::from_slice::<Value>(&body),
        }
        .map_err(|e| self.corrupt(start, format!("record is not valid JSON: {e}")))?;
        Ok(Next::Record(Record {
            number: self.number,
            offset: start,
            magic,
            json,
        }))
    }
}

/// Opens a file, decompressing gzip transparently.
pub fn read_path(path: &Path) -> Result<FileDb, FileError> {
    read_path_keeping(path, None)
}

/// Like [`read_path`], with only the tables and columns of `keep` (the others are skipped
/// as they are parsed: the time and memory of a question go with what it asks for).
pub fn read_path_keeping(path: &Path, keep: Option<super::prune::Keep>) -> Result<FileDb, FileError> {
    let f = std::fs::File::open(path).map_err(|io| FileError::Open { path: path.into(), io })?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let gz = r.fill_buf().map(|b| b.starts_with(&[0x1f, 0x8b])).map_err(|io| FileError::Read {
        path: path.into(),
        offset: 0,
        io,
    })?;
    if gz {
        read_keeping(
            BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(r)),
            path,
            true,
            keep,
        )
    } else {
        read_keeping(r, path, false, keep)
    }
}

fn schema_of(recs: &Records<impl BufRead>, rec: &Record, v: &Value) -> Result<Arc<DatabaseSchema>, FileError> {
    DatabaseSchema::from_json(v)
        .map(Arc::new)
        .map_err(|e| recs.corrupt_rec(rec, format!("bad schema: {e}")))
}

fn txn_error(recs: &Records<impl BufRead>, rec: &Record, e: UpdateError) -> FileError {
    recs.corrupt_rec(rec, format!("cannot apply transaction: {e}"))
}

/// Replays a file from any buffered reader; `path` is only used in messages.
pub fn read_from<R: BufRead>(r: R, path: &Path, compressed: bool) -> Result<FileDb, FileError> {
    read_keeping(r, path, compressed, None)
}

fn read_keeping<R: BufRead>(r: R, path: &Path, compressed: bool, keep: Option<super::prune::Keep>) -> Result<FileDb, FileError> {
    let mut recs = Records {
        r,
        path: path.into(),
        offset: 0,
        number: 0,
        compressed,
        warnings: vec![],
        keep,
    };
    let first = match recs.next()? {
        Next::Record(r) => r,
        Next::End => return Err(FileError::Empty { path: path.into() }),
    };
    let format = match first.magic.as_str() {
        "JSON" => Format::Standalone,
        "CLUSTER" => Format::Clustered,
        other => return Err(recs.corrupt(0, format!("unknown file magic {other:?}"))),
    };
    let mut transactions = 0;
    let snapshot = match format {
        Format::Standalone => {
            let mut snap = Snapshot::new(schema_of(&recs, &first, &first.json)?);
            while let Next::Record(rec) = recs.next()? {
                if rec.magic != "JSON" {
                    return Err(recs.corrupt(rec.offset, format!("record magic {:?} in a standalone file", rec.magic)));
                }
                snap.apply_file_txn(&rec.json).map_err(|e| txn_error(&recs, &rec, e))?;
                transactions += 1;
            }
            snap
        }
        Format::Clustered => read_clustered(&mut recs, first, &mut transactions)?,
    };
    Ok(FileDb {
        snapshot,
        format,
        records: recs.number,
        transactions,
        bytes: recs.offset,
        compressed,
        warnings: recs.warnings,
    })
}

/// Applies a `<cluster-txn>` `[schema-or-null, txn-or-null]`; a schema resets the database.
fn apply_cluster_txn(recs: &Records<impl BufRead>, rec: &Record, snap: &mut Option<Snapshot>, data: &Value) -> Result<(), FileError> {
    let (schema, txn) = match data.as_array().map(Vec::as_slice) {
        Some([s, t]) => (s, t),
        _ => return Err(recs.corrupt_rec(rec, "log data is not [schema, transaction]".into())),
    };
    if !schema.is_null() {
        *snap = Some(Snapshot::new(schema_of(recs, rec, schema)?));
    }
    if !txn.is_null() {
        let s = snap
            .as_mut()
            .ok_or_else(|| recs.corrupt_rec(rec, "transaction before any schema".into()))?;
        s.apply_file_txn(txn).map_err(|e| txn_error(recs, rec, e))?;
    }
    Ok(())
}

fn read_clustered<R: BufRead>(recs: &mut Records<R>, header: Record, transactions: &mut u64) -> Result<Snapshot, FileError> {
    if header.json.get("remote_addresses").is_some() {
        return Err(recs.corrupt(
            0,
            "this file was made by `ovsdb-tool join-cluster` and has not joined yet: it holds no data".into(),
        ));
    }
    let prev_index = header.json.get("prev_index").and_then(Value::as_u64).unwrap_or(0);
    let mut snap = None;
    let prev_data = header
        .json
        .get("prev_data")
        .ok_or_else(|| recs.corrupt(0, "RAFT header has no prev_data snapshot".into()))?;
    apply_cluster_txn(recs, &header, &mut snap, prev_data)?;
    let mut applied = prev_index;
    let mut commit_index = prev_index;
    // Entries that Raft may still replace: (index, record) after the last commit index seen.
    let mut pending: Vec<(u64, Record)> = vec![];
    while let Next::Record(rec) = recs.next()? {
        if rec.magic != "CLUSTER" {
            return Err(recs.corrupt(rec.offset, format!("record magic {:?} in a clustered file", rec.magic)));
        }
        if let Some(index) = rec.json.get("index").and_then(Value::as_u64) {
            if rec.json.get("data").is_none() {
                continue;
            }
            if index <= applied {
                return Err(recs.corrupt(
                    rec.offset,
                    format!("log entry {index} replaces an entry that was already committed"),
                ));
            }
            pending.retain(|(i, _)| *i < index);
            pending.push((index, rec));
        } else if let Some(ci) = rec.json.get("commit_index").and_then(Value::as_u64) {
            commit_index = commit_index.max(ci);
            let (now, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(i, _)| *i <= commit_index);
            pending = later;
            for (i, r) in now {
                apply_cluster_txn(recs, &r, &mut snap, &r.json["data"])?;
                applied = i;
                *transactions += 1;
            }
        }
    }
    if let Some((last, _)) = pending.last() {
        recs.warnings.push(format!(
            "{}: log entries {}..={last} come after the last commit index recorded in the file ({commit_index}); \
             applied like `ovsdb-tool cluster-to-standalone` does, but a cluster may not have committed them",
            recs.path.display(),
            pending[0].0
        ));
    }
    for (_, r) in std::mem::take(&mut pending) {
        apply_cluster_txn(recs, &r, &mut snap, &r.json["data"])?;
        *transactions += 1;
    }
    snap.ok_or_else(|| recs.corrupt(0, "no schema in the file".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(magic: &str, json: &str) -> Vec<u8> {
        let body = format!("{json}\n");
        let mut v = format!("OVSDB {magic} {} {}\n", body.len(), hex::encode(Sha1::digest(body.as_bytes()))).into_bytes();
        v.extend(body.as_bytes());
        v
    }

    const SCHEMA: &str = r#"{"name":"T","version":"1.0.0","tables":{"R":{"columns":{"n":{"type":"string"},"s":{"type":{"key":"integer","min":0,"max":"unlimited"}}}}}}"#;
    const U: &str = "00000000-0000-4000-8000-000000000001";

    fn file(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn read(bytes: &[u8]) -> Result<FileDb, FileError> {
        read_from(bytes, Path::new("t.db"), false)
    }

    #[test]
    fn standalone_replay() {
        let f = file(&[
            record("JSON", SCHEMA),
            record("JSON", &format!(r#"{{"R":{{"{U}":{{"n":"a","s":["set",[1,2]]}}}},"_date":1}}"#)),
            record("JSON", &format!(r#"{{"R":{{"{U}":{{"s":3}}}},"_is_diff":true}}"#)),
        ]);
        let db = read(&f).unwrap();
        assert_eq!(db.format, Format::Standalone);
        assert_eq!((db.records, db.transactions), (3, 2));
        let row = db.snapshot.rows("R").next().unwrap().1;
        assert_eq!(row.columns["s"].as_set().len(), 3);
        assert!(db.warnings.is_empty());
    }

    #[test]
    fn torn_last_record_is_a_warning() {
        let good = file(&[record("JSON", SCHEMA), record("JSON", &format!(r#"{{"R":{{"{U}":{{"n":"a"}}}}}}"#))]);
        let last = record("JSON", &format!(r#"{{"R":{{"{U}":{{"n":"b"}}}}}}"#));
        for cut in [3, 30, last.len() - 5, last.len() - 1] {
            let mut f = good.clone();
            f.extend(&last[..cut]);
            let db = read(&f).unwrap();
            assert_eq!(
                db.snapshot.rows("R").next().unwrap().1.columns["n"].first().unwrap().as_str(),
                Some("a"),
                "cut {cut}"
            );
            assert_eq!(db.warnings.len(), 1, "cut {cut}");
            assert!(
                db.warnings[0].contains("record 3") && db.warnings[0].contains("torn write"),
                "{}",
                db.warnings[0]
            );
        }
    }

    #[test]
    fn corruption_in_the_middle_names_record_and_offset() {
        let r2 = record("JSON", &format!(r#"{{"R":{{"{U}":{{"n":"a"}}}}}}"#));
        let mut bad = r2.clone();
        let n = bad.len();
        bad[n - 4] = b'X';
        let f = file(&[record("JSON", SCHEMA), bad, record("JSON", "{}")]);
        let e = read(&f).unwrap_err().to_string();
        let off = record("JSON", SCHEMA).len();
        assert!(
            e.contains(&format!("record 2 at byte {off}")) && e.contains("SHA-1 mismatch"),
            "{e}"
        );
        assert!(read(b"hello world\n")
            .unwrap_err()
            .to_string()
            .contains("not an OVSDB database file"));
        assert!(matches!(read(b"").unwrap_err(), FileError::Empty { .. }));
        let e = read(&file(&[
            record("JSON", SCHEMA),
            b"OVSDB JSON x y\n{}\n".to_vec(),
            record("JSON", "{}"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("record 2") && e.contains("bad length"), "{e}");
    }

    proptest::proptest! {
        /// Damaged files of any shape: an error or a snapshot, never a panic.
        #[test]
        fn damaged_files_never_panic(cut in 0usize..400, flip in 0usize..400, byte in proptest::num::u8::ANY, junk in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut f = file(&[record("JSON", SCHEMA), record("JSON", &format!(r#"{{"R":{{"{U}":{{"n":"a","s":["set",[1,2]]}}}}}}"#))]);
            if flip < f.len() {
                f[flip] = byte;
            }
            f.truncate(cut.min(f.len()));
            f.extend(&junk);
            let _ = read(&f);
        }
    }

    #[test]
    fn clustered_entries_and_truncation() {
        let header = format!(
            r#"{{"server_id":"{U}","local_address":"unix:x","name":"T","cluster_id":"{U}","prev_term":1,"prev_index":2,"prev_servers":{{}},"prev_eid":"{U}","prev_data":[{SCHEMA},{{"R":{{"{U}":{{"n":"snap"}}}}}}]}}"#
        );
        let entry = |i: u64, n: &str| {
            record(
                "CLUSTER",
                &format!(r#"{{"term":1,"index":{i},"eid":"{U}","data":[null,{{"R":{{"{U}":{{"n":"{n}"}}}}}}]}}"#),
            )
        };
        let f = file(&[
            record("CLUSTER", &header),
            record("CLUSTER", r#"{"term":1,"vote":"x"}"#),
            entry(3, "three"),
            record("CLUSTER", r#"{"commit_index":3}"#),
            entry(4, "four-old"),
            entry(4, "four-new"),
        ]);
        let db = read(&f).unwrap();
        assert_eq!(db.format, Format::Clustered);
        assert_eq!(
            db.snapshot.rows("R").next().unwrap().1.columns["n"].first().unwrap().as_str(),
            Some("four-new")
        );
        assert_eq!(db.transactions, 2);
        assert_eq!(db.warnings.len(), 1, "entry 4 is past the recorded commit index");
    }
}
