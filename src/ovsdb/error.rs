//! The one error type of the `ovsdb` layer. Every variant says what went wrong and, where there
//! is one, what to check.

use super::proto::{framing::FrameError, message::MessageError, schema::SchemaError, snapshot::UpdateError};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection method string is not one ovnscope understands.
    #[error("bad database method {method:?}: {reason}")]
    BadMethod { method: String, reason: String },
    /// Could not connect to any member of the method string.
    #[error("cannot connect to {method}: {io}{hint}")]
    Connect { method: String, io: std::io::Error, hint: String },
    /// Reading or writing the established connection failed.
    #[error("I/O error talking to {peer}: {io}")]
    Io { peer: String, io: std::io::Error },
    /// The server sent bytes that are not a stream of JSON objects.
    #[error("{peer} sent malformed data: {error}")]
    Framing { peer: String, error: FrameError },
    /// The server sent JSON that is not a JSON-RPC 1.0 message.
    #[error("{peer} sent an invalid message: {error}")]
    Message { peer: String, error: MessageError },
    /// The server closed the connection (possibly in the middle of a message).
    #[error("{peer} closed the connection{detail}")]
    Closed { peer: String, detail: String },
    /// The server did not answer in time.
    #[error("{peer} did not answer {what} within {secs} s")]
    Timeout { peer: String, what: String, secs: u64 },
    /// The server answered a request with an error.
    #[error("{peer} rejected {method}: {}", super::proto::message::describe_error(.error))]
    Server { peer: String, method: String, error: Value },
    /// The server's reply does not have the shape the method promises.
    #[error("{peer} sent an unexpected reply to {method}: {reason}")]
    Reply { peer: String, method: String, reason: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// The database is not served by this server.
    #[error("{peer} does not serve database {db:?} (it serves: {available}); check the --*-db option")]
    NoSuchDatabase { peer: String, db: String, available: String },
    /// An offline database file could not be read.
    #[error(transparent)]
    File(#[from] super::file::FileError),
    /// A database file holds another database than the option asked for.
    #[error("{path} holds database {found:?}, not {wanted:?}; check the --*-db option")]
    WrongDatabase { path: String, found: String, wanted: String },
    /// A connection method that this build cannot use yet.
    #[error("{method}: {reason}")]
    Unsupported { method: String, reason: String },
}

impl Error {
    /// The method string itself is malformed: fix the command line. (TLS files that are
    /// missing or unreadable are a file that cannot be read, like any other.)
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::BadMethod { .. })
    }

    /// Everything else: the database could not be reached, or what it sent could not be read.
    pub fn is_unreachable(&self) -> bool {
        !self.is_usage()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
