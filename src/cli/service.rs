//! `imagebump run`, `once` and `plan`: flags in, [`Service`] called, report printed,
//! exit code out (0 ok, 2 bad input or anything failed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::engine::service::{LoadError, Report, Service};

/// Arguments shared by `run`, `once` and `plan`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The service config.
    #[arg(long, value_name = "FILE", default_value = "imagebump.yaml")]
    pub config: PathBuf,
}

fn load(args: &ServiceArgs) -> Result<Service, ExitCode> {
    Service::load(&args.config).map_err(|e| match e {
        LoadError::Problems(ps) => {
            for p in ps {
                eprintln!("{p}");
            }
            ExitCode::from(2)
        }
        LoadError::Other(e) => super::fail(format!("{e:#}")),
    })
}

fn exit(report: &Report) -> ExitCode {
    if report.failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `imagebump once`: one full sync, one commit, exit (0 ok, 2 if anything failed).
pub fn once(args: ServiceArgs) -> ExitCode {
    let service = match load(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match service.once() {
        Ok(r) => r,
        Err(e) => return super::fail(format!("{e:#}")),
    };
    for s in &report.images {
        println!("{}/{}: {}", s.application, s.image, s.line());
    }
    exit(&report)
}

/// `imagebump plan`: print the diff a sync would commit; write nothing.
pub fn plan_cmd(args: ServiceArgs) -> ExitCode {
    let service = match load(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match service.plan() {
        Ok(r) => r,
        Err(e) => return super::fail(format!("{e:#}")),
    };
    let several = report.plans.len() > 1;
    for (git, plan) in &report.plans {
        if several && !plan.files.is_empty() {
            println!("# git: {git}");
        }
        print!("{}", plan.diff());
    }
    for s in &report.images {
        let up_to_date = s.decision.as_ref().is_none_or(|d| {
            d.is_up_to_date() || matches!(d, imagebump_core::decision::Decision::Pending { .. })
        });
        if let (false, Some(why)) = (up_to_date, &s.why_not_updated) {
            eprintln!("{}/{}: not updated: {why}", s.application, s.image);
        }
    }
    let skipped: usize = report.plans.iter().map(|(_, p)| p.skipped.len()).sum();
    if skipped > 0 {
        // Counted, not silent: a file a markers directory holds may be someone else's.
        eprintln!("skipped {skipped} file(s) in markers directories: not YAML or not UTF-8 text");
    }
    if report.plans.iter().all(|(_, p)| p.files.is_empty()) {
        eprintln!("nothing to change");
    }
    exit(&report)
}

/// `imagebump run`: the service, until SIGINT or SIGTERM.
pub fn run(args: ServiceArgs) -> ExitCode {
    let service = match load(&args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match service.run(shutdown_signal()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(format!("{e:#}")),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
