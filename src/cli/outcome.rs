//! What a command comes to, and the one function that turns it into an exit code.
//!
//! A command returns an [`Outcome`] (an answer, or "no" with its reason) or a [`Failure`]
//! (why it could not answer). Each layer's error type says what kind of problem it is through
//! its own predicates (`ovsdb::Error::is_usage`, `lflow::Error::is_not_found`, …); the `From`
//! conversions below ask them once, at the command boundary, so no code above has to know
//! which layer an error came from and no command ever picks a number (README "Exit codes").

use super::dbopts::{DbError, NoDatabase};
use crate::capture::{file::CaptureError, live::LiveError};
use crate::db::mustgather::MustGatherError;
use crate::render::dot::SvgError;

/// What a command answered.
#[derive(Debug)]
pub enum Outcome {
    /// The answer, for standard output (exit 0).
    Answer(String),
    /// The answer to the question is "no" (a validation that disagrees): `output` still goes
    /// to standard output, `reason` (if any) to standard error (exit 1).
    No { output: String, reason: Option<String> },
}

/// Why a command could not answer, by what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line is wrong: fix it (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The pod, port or address asked about does not exist: the answer is "no" (exit 1).
    #[error("{0}")]
    NotFound(String),
    /// A database, file, program or capture point could not be reached or read (exit 3).
    #[error("{0:#}")]
    Unreachable(anyhow::Error),
    /// Anything else: a bug in ovnscope (exit 4).
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl Failure {
    /// Names the zone of a cluster the failure happened in.
    pub fn in_zone(self, zone: &str) -> Failure {
        match self {
            Failure::Unreachable(e) => Failure::Unreachable(e.context(format!("zone {zone}"))),
            Failure::Usage(m) => Failure::Usage(format!("zone {zone}: {m}")),
            other => other,
        }
    }
}

/// A usage mistake that clap cannot catch (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit codes (README "Exit codes").
pub mod exit {
    /// An answer was given.
    pub const OK: i32 = 0;
    /// The answer to a yes/no question is "no".
    pub const NO: i32 = 1;
    /// Bad usage: unknown option, bad value.
    pub const USAGE: i32 = 2;
    /// A database or file could not be reached or read.
    pub const UNREACHABLE: i32 = 3;
    /// Anything else: a bug in ovnscope.
    pub const INTERNAL: i32 = 4;
}

/// The exit code of a run: decided here and only here.
pub fn exit_code(r: &Result<Outcome, Failure>) -> i32 {
    match r {
        Ok(Outcome::Answer(_)) => exit::OK,
        Ok(Outcome::No { .. }) => exit::NO,
        Err(f) => f.exit_code(),
    }
}

impl Failure {
    /// The exit code this failure ends a run with (also what `serve` reports it as).
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::NotFound(_) => exit::NO,
            Failure::Usage(_) => exit::USAGE,
            Failure::Unreachable(_) => exit::UNREACHABLE,
            Failure::Internal(_) => exit::INTERNAL,
        }
    }
}

/// Prints a run's result (answers to standard output, reasons and errors to standard error)
/// and returns its exit code.
pub fn finish(r: Result<Outcome, Failure>) -> i32 {
    let code = exit_code(&r);
    let printed = match &r {
        Ok(Outcome::Answer(out)) => super::print(out),
        Ok(Outcome::No { output, reason }) => {
            if let Some(why) = reason {
                eprintln!("ovnscope: {why}");
            }
            super::print(output)
        }
        Err(Failure::NotFound(why)) => {
            eprintln!("ovnscope: {why}");
            Ok(())
        }
        Err(e) => {
            eprintln!("ovnscope: error: {e}");
            Ok(())
        }
    };
    match printed {
        Ok(()) => code,
        Err(e) => {
            eprintln!("ovnscope: error: cannot write the answer: {e}");
            exit::UNREACHABLE
        }
    }
}

impl From<crate::db::remote::RemoteError> for Failure {
    fn from(e: crate::db::remote::RemoteError) -> Self {
        match e {
            crate::db::remote::RemoteError::BadUrl(_) => Failure::Usage(e.to_string()),
            e => Failure::Unreachable(e.into()),
        }
    }
}

impl From<crate::kube::KubeError> for Failure {
    fn from(e: crate::kube::KubeError) -> Self {
        Failure::Unreachable(e.into())
    }
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e.0)
    }
}

impl From<crate::ovsdb::Error> for Failure {
    fn from(e: crate::ovsdb::Error) -> Self {
        if e.is_usage() {
            Failure::Usage(e.to_string())
        } else {
            Failure::Unreachable(e.into())
        }
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        if e.error.is_usage() {
            Failure::Usage(e.to_string())
        } else {
            Failure::Unreachable(e.into())
        }
    }
}

impl From<crate::lflow::Error> for Failure {
    fn from(e: crate::lflow::Error) -> Self {
        if e.is_not_found() {
            Failure::NotFound(e.to_string())
        } else {
            Failure::Usage(e.to_string())
        }
    }
}

impl From<crate::topology::focus::NotFound> for Failure {
    fn from(e: crate::topology::focus::NotFound) -> Self {
        Failure::NotFound(e.to_string())
    }
}

impl From<crate::nat::NotFound> for Failure {
    fn from(e: crate::nat::NotFound) -> Self {
        Failure::NotFound(e.to_string())
    }
}

impl From<crate::nat::query::Error> for Failure {
    fn from(e: crate::nat::query::Error) -> Self {
        if e.is_not_found() {
            Failure::NotFound(e.to_string())
        } else {
            Failure::Usage(e.to_string())
        }
    }
}

/// Errors that only ever mean "could not reach or read it".
macro_rules! unreachable_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Unreachable(e.into())
            }
        }
    )*};
}
unreachable_errors!(
    NoDatabase,
    MustGatherError,
    SvgError,
    CaptureError,
    LiveError,
    std::io::Error,
    crate::ovsdb::unixctl::Error,
    crate::capture::conntrack::KernelError,
    crate::trace::openflow::Error
);

/// A daemon's answer that is not the format it documents: what it sent could not be read.
impl From<crate::capture::conntrack::ParseError> for Failure {
    fn from(e: crate::capture::conntrack::ParseError) -> Self {
        Failure::Unreachable(anyhow::anyhow!("ovs-vswitchd sent {e}"))
    }
}

impl From<tokio::task::JoinError> for Failure {
    fn from(e: tokio::task::JoinError) -> Self {
        Failure::Internal(e.into())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Internal(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_result_has_its_code() {
        let cases: Vec<(Result<Outcome, Failure>, i32)> = vec![
            (Ok(Outcome::Answer(String::new())), 0),
            (
                Ok(Outcome::No {
                    output: String::new(),
                    reason: None,
                }),
                1,
            ),
            (Err(Failure::NotFound("x".into())), 1),
            (Err(Failure::Usage("x".into())), 2),
            (Err(Failure::Unreachable(anyhow::anyhow!("x"))), 3),
            (Err(Failure::Internal(anyhow::anyhow!("x"))), 4),
        ];
        for (r, code) in cases {
            assert_eq!(exit_code(&r), code, "{r:?}");
        }
    }

    #[test]
    fn layer_errors_are_classified_by_their_own_predicates() {
        let bad = crate::ovsdb::Method::parse_list("bogus:x").unwrap_err();
        assert!(matches!(Failure::from(bad), Failure::Usage(_)));
        let refused = crate::ovsdb::Error::Closed {
            peer: "unix:/x".into(),
            detail: String::new(),
        };
        assert!(matches!(Failure::from(refused), Failure::Unreachable(_)));
        let port = crate::lflow::Error::UnknownPort("p".into());
        assert!(matches!(Failure::from(port), Failure::NotFound(_)));
        let flag = crate::lflow::Error::CtFlag("bogus".into());
        assert!(matches!(Failure::from(flag), Failure::Usage(_)));
    }
}
