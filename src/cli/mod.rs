//! The command line: parse arguments, set up logging, hand over to one command.
//!
//! Exit codes are part of the contract: 0 success, 1 "nothing qualifies" (for `test`),
//! 2 bad input or a failure the user must fix.

mod checks;
mod hold;
mod registry_checks;
mod service;
mod set_image;
mod test_cmd;
mod validate;
mod version;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// imagebump: registry pushes in, in-place GitOps image updates out.
#[derive(Debug, Parser)]
#[command(
    name = "imagebump",
    version = crate::build_info::LONG_VERSION,
    about,
    propagate_version = true
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try a selection strategy on a list of tags (the policy playground).
    Test(test_cmd::TestArgs),
    /// Check the service config and every policy file; one line per problem.
    Validate(validate::ValidateArgs),
    /// Run the service: webhooks, polling, commits.
    Run(service::ServiceArgs),
    /// One full sync and one commit, then exit (for cron or CI).
    Once(service::ServiceArgs),
    /// Print the diff a sync would commit; write nothing.
    Plan(service::ServiceArgs),
    /// Set an image's tag/digest in place in YAML/JSON files (optionally in a git repo).
    SetImage(set_image::SetImageArgs),
    /// Hold an image: put `# imagebump: hold` on the lines of its values and commit.
    Hold(hold::HoldArgs),
    /// Release a hold: remove the markers (and end a manual-change hold) and commit.
    Release(hold::ReleaseArgs),
    /// Print the version, the commit it was built from and the build date.
    Version,
}

/// Parses `std::env::args` and runs the command.
pub fn main() -> ExitCode {
    crate::malloc::limit_arenas();
    let cli = Cli::parse();
    // One-shot commands own their stderr: one line per problem, no log noise.
    let default_level = match cli.command {
        Command::Run(_) | Command::Once(_) | Command::Plan(_) => "info",
        _ => "off",
    };
    init_logging(cli.log_format, default_level);
    match cli.command {
        Command::Test(a) => test_cmd::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Run(a) => service::run(a),
        Command::Once(a) => service::once(a),
        Command::Plan(a) => service::plan_cmd(a),
        Command::SetImage(a) => set_image::run(a),
        Command::Hold(a) => hold::hold(a),
        Command::Release(a) => hold::release(a),
        Command::Version => version::run(),
    }
}

/// Logs go to stderr; `IMAGEBUMP_LOG` (tracing's filter syntax, e.g. `debug` or
/// `imagebump::engine=debug`) overrides the default level.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IMAGEBUMP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second init (tests calling main twice) is harmless, so its error is ignored.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Prints a one-line error to stderr and returns exit code 2.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("imagebump: {msg}");
    ExitCode::from(2)
}
