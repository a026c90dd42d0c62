//! Exit codes, stable for scripts, and the one table that documents them:
//! `--help`, the manual page and README's "Exit codes" are rendered from
//! (or tested against) [`EXIT_STATUSES`].

/// How a run ended. Every code has a row in [`EXIT_STATUSES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    NothingFound = 1,
    Error = 2,
    Incomplete = 3,
}

impl ExitCode {
    pub const fn number(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.number())
    }
}

/// One row of the exit-status table. Text may mark code with backticks.
#[derive(Debug)]
pub struct ExitStatus {
    pub code: ExitCode,
    /// A few words, for `--help`.
    pub summary: &'static str,
    /// The whole meaning, for the manual page and README.
    pub meaning: &'static str,
}

/// Every exit code, in numeric order.
pub const EXIT_STATUSES: [ExitStatus; 4] = [
    ExitStatus {
        code: ExitCode::Success,
        summary: "success (for list, also when no socket matched)",
        meaning: "success, including \"no socket matched\" for `list`; also when the reader \
            of the output went away (`| head`)",
    },
    ExitStatus {
        code: ExitCode::NothingFound,
        summary: "who: nothing matches; audit: findings at or above --fail-on",
        meaning: "`who`: nothing matches; `audit`: a finding at or above `--fail-on` (default \
            `high`)",
    },
    ExitStatus {
        code: ExitCode::Error,
        summary: "usage or runtime error (one line on stderr)",
        meaning: "an error, printed on stderr as one line starting `portwatch:`: a \
            command-line mistake (unknown flag, state word, format or filter; conflicting \
            options) or a runtime failure",
    },
    ExitStatus {
        code: ExitCode::Incomplete,
        summary: "rows printed but possibly incomplete",
        meaning: "the rows were printed but may be incomplete: the kernel flagged a dump as \
            interrupted (`NLM_F_DUMP_INTR`, sockets may be missing or repeated), some \
            replies could not be decoded, or `--all-netns` could not list every network \
            namespace (each is named, with the reason); a warning on stderr says which. \
            `who` exits 3, not 1, when nothing matched in an incomplete listing; `audit` exits 3 \
            when no finding reached `--fail-on` but it could not see everything (owners \
            hidden, namespaces not entered, a recording), which its report states",
    },
];

/// A mistake on the command line, found after clap accepted it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_each_code_once_in_numeric_order() {
        for (index, status) in EXIT_STATUSES.iter().enumerate() {
            assert_eq!(usize::from(status.code.number()), index, "{status:?}");
        }
    }

    #[test]
    fn summaries_fit_on_one_help_line() {
        for status in &EXIT_STATUSES {
            assert!(!status.summary.contains('\n') && status.summary.len() <= 60, "{status:?}");
        }
    }
}
