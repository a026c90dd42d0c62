//! Exit codes, stable for scripts (README, "Exit codes").

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done; for `list`, also when no socket matched.
    Success = 0,
    /// `who` found nothing that matches.
    NothingFound = 1,
    /// A mistake on the command line, or a runtime error; reported on stderr.
    Error = 2,
    /// The output was printed but may be incomplete: the kernel interrupted
    /// a dump, or some replies could not be decoded.
    Incomplete = 3,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// A mistake on the command line, found after clap accepted it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
