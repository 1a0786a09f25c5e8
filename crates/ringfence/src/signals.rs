//! The signals the binary acts on, handled without `unsafe`: tokio's signal streams, listened to on a
//! runtime of their own (one worker thread) for as long as the process lives.
//!
//! - A rollout outlives its terminal: SIGHUP (the terminal closed, the SSH session dropped) is noted
//!   on standard error, if anyone still reads it, and otherwise ignored. Tenant apps and migrations
//!   run in process groups of their own, so the hangup the shell sends its jobs does not reach them.
//! - Ctrl-C and SIGTERM stop what the command says they stop ([`on_interrupt`]).

use std::io;
use std::sync::{Arc, OnceLock};

use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};

use crate::out::errln;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn runtime() -> io::Result<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ringfence-signals")
        .enable_all()
        .build()?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// From now on, calls `handler` on a thread of its own each time the process receives `kind`,
/// instead of the signal's default action.
fn on_signal(kind: SignalKind, handler: impl Fn() + Send + 'static) -> io::Result<()> {
    let runtime = runtime()?;
    let _entered = runtime.enter();
    let mut stream = signal(kind)?;
    runtime.spawn(async move {
        while stream.recv().await.is_some() {
            handler();
        }
    });
    Ok(())
}

/// A rollout or resume keeps going when its terminal goes away: SIGHUP is noted and ignored.
pub fn keep_running_on_hangup() {
    let noted = on_signal(SignalKind::hangup(), || {
        errln!(
            "hangup: the terminal went away; the rollout continues (`ringfence status` and the audit trail follow it)"
        );
    });
    if let Err(e) = noted {
        errln!("warning: cannot handle SIGHUP ({e}): a closed terminal would stop this rollout; run it under nohup");
    }
}

/// Runs `stop` on Ctrl-C (SIGINT) and SIGTERM, and on SIGHUP too when `hangup` is set; `stop` is
/// expected to end the process.
pub fn on_interrupt(hangup: bool, stop: impl Fn() + Send + Sync + 'static) -> io::Result<()> {
    let stop = Arc::new(stop);
    let mut kinds = vec![SignalKind::interrupt(), SignalKind::terminate()];
    if hangup {
        kinds.push(SignalKind::hangup());
    }
    for kind in kinds {
        let stop = Arc::clone(&stop);
        on_signal(kind, move || stop())?;
    }
    Ok(())
}
