//! Exit codes, and the one way a command fails: its message printed, its code
//! returned.

use std::error::Error;

use crate::Io;

/// Exit code: the input is valid.
pub const EXIT_OK: i32 = 0;
/// Exit code: the input is invalid.
pub const EXIT_INVALID: i32 = 1;
/// Exit code: the command line is wrong (clap's own code for usage errors).
pub const EXIT_USAGE: i32 = 2;

/// A failure that ends a command with an exit code, its message already printed.
pub struct Exit(pub i32);

/// The exit code of a command's result.
pub fn code(r: Result<(), Exit>) -> i32 {
    match r {
        Ok(()) => EXIT_OK,
        Err(Exit(code)) => code,
    }
}

/// Prints `error: …` and then each cause in the source chain, and returns exit 1.
///
/// A cause whose text the message above already contains is skipped: errors that
/// embed their source in their own message would otherwise say it twice.
pub fn report_error(io: &mut Io<'_>, e: &(dyn Error + 'static)) -> Exit {
    let mut said = e.to_string();
    let _ = writeln!(io.err, "error: {said}");
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !said.contains(&text) {
            let _ = writeln!(io.err, "  caused by: {text}");
            said.push('\n');
            said.push_str(&text);
        }
        cause = c.source();
    }
    Exit(EXIT_INVALID)
}

/// Prints `error: {message}` and returns exit 1.
pub fn fail(io: &mut Io<'_>, message: impl std::fmt::Display) -> Exit {
    let _ = writeln!(io.err, "error: {message}");
    Exit(EXIT_INVALID)
}

/// Prints `convox: {message}` and returns the usage exit code.
pub fn usage(io: &mut Io<'_>, message: impl std::fmt::Display) -> Exit {
    let _ = writeln!(io.err, "convox: {message}");
    Exit(EXIT_USAGE)
}
