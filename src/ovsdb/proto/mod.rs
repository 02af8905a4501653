//! The sans-I/O protocol core: no sockets, no tokio. Bytes in, messages and rows out.

pub mod datum;
pub mod framing;
pub mod message;
pub mod schema;
pub mod snapshot;

pub use datum::{Atom, Datum};
pub use framing::{FrameError, FrameScanner, Framer};
pub use message::Message;
pub use schema::{ColumnType, DatabaseSchema, SchemaDiff};
pub use snapshot::{Row, Snapshot, UpdateError};
