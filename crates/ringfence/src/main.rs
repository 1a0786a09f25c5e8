//! The `ringfence` binary: parses arguments, wires adapters to the core, and maps results to exit
//! codes ([`Exit`]; errors by their type, in `failure`). Only this crate knows about clap.

mod cli;
mod config_cmd;
mod demo;
mod failure;
mod gates_cmd;
mod lint_cmd;
mod odoo_cmd;
mod out;
mod rehearse_cmd;
mod rollout_cmd;
mod signals;
mod simulate_cmd;
mod table;
mod timeline;

use std::process::ExitCode;

use clap::Parser;

use cli::{AuditCommand, Cli, Command, OdooCommand, PolicyCommand, ReleaseCommand};

/// How a command ended, as the process exit code (the table `--help` and the README give).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It did what was asked and the checked thing is fine.
    Success = 0,
    /// The checked thing failed: a rollout halted, an audit trail is broken.
    Failed = 1,
    /// Usage or configuration error (clap's own usage errors exit 2 too).
    Usage = 2,
    /// Environment or runtime failure: a database, process, file or network the command needed
    /// failed.
    Environment = 3,
    /// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT).
    Interrupted = 130,
    /// Standard output was closed by its reader (128 + SIGPIPE, as a Unix tool would report).
    ClosedPipe = 141,
}

fn main() -> ExitCode {
    out::exit_quietly_on_closed_pipes();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { dir, json } => config_cmd::validate(&dir, json),
        Command::Plan { dir, json, from, risk, html } => {
            config_cmd::plan(&dir, json, from, risk.map(Into::into), html.as_deref())
        }
        Command::Rollout { dir, run, actor, from, failures } => {
            rollout_cmd::rollout(&dir, &run, &actor, from, failures)
        }
        Command::Resume { run, config, run_id } => rollout_cmd::resume(&run, config.as_deref(), run_id),
        Command::Status { state, run_id, json } => rollout_cmd::status(&state, run_id, json),
        Command::Audit(AuditCommand::Verify { file, json }) => config_cmd::audit_verify(&file, json),
        Command::Odoo(OdooCommand::Diff(args)) => odoo_cmd::diff(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::Simulate(args) => simulate_cmd::simulate(&args),
        Command::Lint(args) => lint_cmd::lint(&args),
        Command::Rehearse(args) => rehearse_cmd::rehearse(&args),
        Command::Release(ReleaseCommand::Submit(args)) => gates_cmd::submit(&args),
        Command::Approve(args) => gates_cmd::approve(&args),
        Command::Gates(args) => gates_cmd::gates(&args),
        Command::Policy(PolicyCommand::Test { dir, json }) => gates_cmd::policy_test(&dir, json),
    };
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) => {
            let exit = failure::exit_for(&error);
            if exit != Exit::ClosedPipe {
                out::errln!("error: {error:#}");
            }
            ExitCode::from(exit as u8)
        }
    }
}
