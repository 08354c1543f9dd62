//! `imagebump test`: run a selection strategy over tags given on the command line, in a
//! file, or on stdin, and print the chosen tag.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use regex::Regex;

use crate::policy::constraint::Constraints;
use crate::policy::select::{Order, Selector, Strategy, TagFilter};

/// Arguments of `imagebump test`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("strategy").args(["semver", "alphabetical", "numerical"])))]
pub struct TestArgs {
    /// Masterminds semver range (the default strategy is semver `*`).
    #[arg(long, value_name = "RANGE")]
    pub semver: Option<String>,
    /// Accept loose versions (`1`, `1.2`, leading zeros).
    #[arg(long)]
    pub loose: bool,
    /// Let prereleases through the range.
    #[arg(long)]
    pub prerelease: bool,
    /// Plain byte order: asc picks the greatest, desc the smallest.
    #[arg(long, value_name = "asc|desc", value_parser = parse_order)]
    pub alphabetical: Option<Order>,
    /// Numeric order (tags that are not numbers are skipped): asc picks the greatest.
    #[arg(long, value_name = "asc|desc", value_parser = parse_order)]
    pub numerical: Option<Order>,
    /// Keep only tags this regex matches (unanchored).
    #[arg(long, value_name = "RE")]
    pub pattern: Option<String>,
    /// Order by this template over the pattern's groups (`$1`, `$name`, `${name}`).
    #[arg(long, value_name = "TPL", requires = "pattern")]
    pub extract: Option<String>,
    /// Drop tags this regex matches (repeatable).
    #[arg(long, value_name = "RE")]
    pub exclude: Vec<String>,
    /// The tag deployed now: guards against downgrades.
    #[arg(long, value_name = "TAG")]
    pub current: Option<String>,
    /// Allow choosing a tag lower than --current.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Read tags from this file (one per line), or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    pub tags_file: Option<PathBuf>,
    /// Print, per tag, why it was kept or dropped, before the chosen tag.
    #[arg(long)]
    pub explain: bool,
    /// Tags to choose from, in registry order.
    #[arg(value_name = "TAG")]
    pub tags: Vec<String>,
}

fn parse_order(s: &str) -> Result<Order, String> {
    s.parse()
}

/// Runs `imagebump test`.
pub fn run(a: TestArgs) -> ExitCode {
    let selector = match selector_from_flags(&a) {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    let mut tags = a.tags.clone();
    if let Some(f) = &a.tags_file {
        match read_tags(f) {
            Ok(t) => tags.extend(t),
            Err(e) => return super::fail(e),
        }
    }
    if tags.is_empty() {
        return super::fail("no tags given: pass TAG… or --tags-file FILE|-");
    }
    choose(&selector, &tags, a.current.as_deref(), a.explain)
}

/// Prints the explanation (if asked) and the chosen tag; exit 1 when none qualifies.
pub(super) fn choose(
    selector: &Selector,
    tags: &[String],
    current: Option<&str>,
    explain: bool,
) -> ExitCode {
    if explain {
        for n in selector.explain(tags) {
            let word = if n.kept { "kept" } else { "dropped" };
            println!(
                "{}: {word}: {}",
                n.tag,
                n.reason
                    .trim_start_matches("dropped: ")
                    .trim_start_matches("candidate: ")
            );
        }
    }
    let verdict = selector.select(tags, current);
    if let crate::policy::select::Verdict::DowngradeRefused { candidate, current } = &verdict {
        eprintln!("imagebump: {candidate} is lower than the current {current}; keeping {current} (--allow-downgrade to move)");
    }
    match verdict.chosen() {
        Some(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("no tag matches");
            ExitCode::from(1)
        }
    }
}

fn selector_from_flags(a: &TestArgs) -> Result<Selector, String> {
    let strategy = if let Some(o) = a.alphabetical {
        Strategy::Alphabetical(o)
    } else if let Some(o) = a.numerical {
        Strategy::Numerical(o)
    } else {
        let range = a.semver.as_deref().unwrap_or("*");
        Strategy::Semver(Constraints::parse(range).map_err(|e| e.to_string())?)
    };
    let re = |s: &str| {
        Regex::new(s).map_err(|e| {
            format!(
                "invalid regular expression {s:?}: {}",
                e.to_string().lines().last().unwrap_or("")
            )
        })
    };
    let filter = match &a.pattern {
        Some(p) => Some(TagFilter {
            pattern: re(p)?,
            extract: a.extract.clone(),
        }),
        None => None,
    };
    Ok(Selector {
        strategy,
        filter,
        exclude: a.exclude.iter().map(|e| re(e)).collect::<Result<_, _>>()?,
        loose: a.loose,
        prerelease: a.prerelease,
        allow_downgrade: a.allow_downgrade,
    })
}

fn read_tags(path: &std::path::Path) -> Result<Vec<String>, String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read tags from stdin: {e}"))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read tags file {}: {e}", path.display()))?;
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}
