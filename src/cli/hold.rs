//! `imagebump hold APP[/NAME]` and `imagebump release APP[/NAME]`: the hold markers of an
//! image's targets, added or removed in one commit through the service's write path
//! (exit 0 ok, 2 failure).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use imagebump_core::decision::ImageId;
use imagebump_core::hold::{Action, Date};

use crate::engine::service::{LoadError, Service};

/// Arguments of `imagebump hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// `APP/NAME` for one image, `APP` for every image of the application.
    #[arg(value_name = "APP[/NAME]")]
    pub image: String,
    /// The last day of the hold (YYYY-MM-DD); after it the marker is ignored.
    #[arg(long, value_name = "DATE", value_parser = Date::parse)]
    pub until: Option<Date>,
    /// Why, written after the marker and into the commit subject.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The service config.
    #[arg(long, value_name = "FILE", default_value = "imagebump.yaml")]
    pub config: PathBuf,
}

/// Arguments of `imagebump release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// `APP/NAME` for one image, `APP` for every image of the application.
    #[arg(value_name = "APP[/NAME]")]
    pub image: String,
    /// The service config.
    #[arg(long, value_name = "FILE", default_value = "imagebump.yaml")]
    pub config: PathBuf,
}

/// `imagebump hold`.
pub fn hold(a: HoldArgs) -> ExitCode {
    if let Some(r) = &a.reason {
        // The reason lives in a one-line YAML comment.
        if r.contains(['\n', '\r']) {
            return super::fail("--reason must be one line");
        }
    }
    let action = Action::Hold {
        until: a.until,
        reason: a.reason.clone(),
    };
    mark(&a.config, &a.image, &action)
}

/// `imagebump release`.
pub fn release(a: ReleaseArgs) -> ExitCode {
    mark(&a.config, &a.image, &Action::Release)
}

fn mark(config: &std::path::Path, image: &str, action: &Action) -> ExitCode {
    let service = match Service::load(config) {
        Ok(s) => s,
        Err(LoadError::Problems(ps)) => {
            for p in ps {
                eprintln!("{p}");
            }
            return ExitCode::from(2);
        }
        Err(LoadError::Other(e)) => return super::fail(format!("{e:#}")),
    };
    let ids = match select(&service, image) {
        Ok(ids) => ids,
        Err(e) => return super::fail(e),
    };
    match service.mark(&ids, action) {
        Ok(written) if written.is_empty() => {
            super::fail("no GitOps repository holds a target of these images")
        }
        Ok(written) => {
            for (git, w) in &written {
                let repo = if written.len() > 1 {
                    format!("{git}: ")
                } else {
                    String::new()
                };
                for c in &w.plan.changes {
                    let what = if c.new.is_empty() { "removed" } else { "added" };
                    println!("{repo}{}:{}: {what} {}", c.file.display(), c.line, {
                        if c.new.is_empty() {
                            &c.old
                        } else {
                            &c.new
                        }
                    });
                }
                match &w.commit {
                    Some(c) => println!("{repo}pushed {c} to {}", w.branch),
                    None => {
                        println!("{repo}nothing to change: every target already holds that marker")
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(format!("{e:#}")),
    }
}

/// The images `APP/NAME` or `APP` names; an error listing the known ones otherwise.
fn select(service: &Service, image: &str) -> Result<Vec<ImageId>, String> {
    let policies = service.engine().live.policies();
    let ids: Vec<ImageId> = match image.split_once('/') {
        Some((app, name)) => policies
            .images()
            .map(|(id, _)| id.clone())
            .filter(|id| id.application == app && id.name == name)
            .collect(),
        None => policies
            .images()
            .map(|(id, _)| id.clone())
            .filter(|id| id.application == image)
            .collect(),
    };
    if ids.is_empty() {
        let known: Vec<String> = policies.images().map(|(id, _)| id.to_string()).collect();
        return Err(format!(
            "no image {image:?} in the policies; known: {}",
            known.join(", ")
        ));
    }
    Ok(ids)
}
