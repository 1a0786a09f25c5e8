//! Where the binary writes, and what a closed pipe or a vanished terminal does to a command.
//!
//! - Standard output carries a command's result. `out!`/`outln!` return an error instead of
//!   panicking as `print!` does: when the reader goes away (`ringfence plan --json | head`), the
//!   command stops there and exits 141, quietly — what a Unix tool killed by SIGPIPE reports (Rust
//!   ignores SIGPIPE, so the write fails with `BrokenPipe` instead).
//! - Standard error carries diagnostics and progress for people: `err!`/`errln!` are best effort. A
//!   closed standard error loses the text and changes nothing else, so the exit status still says
//!   how the command ended.
//!
//! A rollout writes its result best effort too (`let _ = outln!(…)`): the state store and the audit
//! trail are its record, and a closed pipe must not stop it half-way.

use std::fmt;
use std::io::{self, Write};

/// Whoever read standard output closed it: the command stops without another word (exit 141).
#[derive(Debug)]
pub struct ClosedOutput;

impl fmt::Display for ClosedOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed by its reader")
    }
}

impl std::error::Error for ClosedOutput {}

/// Writes to standard output, flushed: [`ClosedOutput`] when the reader has gone, another error
/// (a full disk) as it is.
pub fn stdout(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(ClosedOutput.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Writes to standard error if it can; a closed or broken standard error is ignored.
pub fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// `print!` to standard output, returning `anyhow::Result<()>` (see the module's docs).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*))
    };
}

/// `println!` to standard output, returning `anyhow::Result<()>` (see the module's docs).
macro_rules! outln {
    () => {
        $crate::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!`, best effort: never fails, never panics.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!($($arg)*))
    };
}

/// `eprintln!`, best effort: never fails, never panics.
macro_rules! errln {
    () => {
        $crate::out::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {err, errln, out, outln};

/// The last resort: a `print!` somewhere (a library, a thread) that panics on a closed pipe ends
/// the process as the typed path does, with status 141 and no backtrace. Other panics are reported
/// as usual.
pub fn exit_quietly_on_closed_pipes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(crate::Exit::ClosedPipe as i32);
        }
        report(info);
    }));
}
