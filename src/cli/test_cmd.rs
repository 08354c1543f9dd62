//! `imagebump test`: run a selection strategy over tags given on the command line, in a
//! file, or on stdin, and print the chosen tag.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use regex::Regex;

use imagebump_core::policy::constraint::Constraints;
use imagebump_core::policy::select::{Order, Selector, Strategy, TagFilter};

/// Arguments of `imagebump test`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("strategy").args(["semver", "alphabetical", "numerical"])))]
#[command(group(clap::ArgGroup::new("image_source").args(["image", "policy"]).multiple(true)))]
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
    // A regex may start with `-` (`-debug$`): take it as a value, not a flag.
    #[arg(long, value_name = "RE", allow_hyphen_values = true)]
    pub pattern: Option<String>,
    /// Order by this template over the pattern's groups (`$1`, `$name`, `${name}`).
    #[arg(
        long,
        value_name = "TPL",
        requires = "pattern",
        allow_hyphen_values = true
    )]
    pub extract: Option<String>,
    /// Drop tags this regex matches (repeatable).
    #[arg(long, value_name = "RE", allow_hyphen_values = true)]
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
    /// Ask this repository's registry for its tags instead of taking TAGs.
    #[arg(long, value_name = "REPO")]
    pub image: Option<String>,
    /// The service config whose `registries` (credentials, `insecure`) and
    /// `dockerConfig` apply to --image.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Take the strategy from a policy file (the image matching --image, or its only one).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["semver", "alphabetical", "numerical", "pattern", "loose", "prerelease"])]
    pub policy: Option<PathBuf>,
    /// With --policy: the image of that name (`name:`, default the last path part of
    /// its repository), for a file with several images of one repository.
    #[arg(long, value_name = "NAME", requires = "policy")]
    pub name: Option<String>,
    /// With --image: print `TAG@sha256:…`, the digest the chosen tag points at.
    #[arg(long, requires = "image_source")]
    pub digest: bool,
    /// Tags to choose from, in registry order.
    #[arg(value_name = "TAG", conflicts_with = "image")]
    pub tags: Vec<String>,
}

fn parse_order(s: &str) -> Result<Order, String> {
    s.parse()
}

/// Runs `imagebump test`.
pub fn run(a: TestArgs) -> ExitCode {
    let (selector, policy_image) = match &a.policy {
        Some(p) => match selector_from_policy(p, a.image.as_deref(), a.name.as_deref()) {
            Ok((s, img)) => (s, Some(img)),
            Err(e) => return super::fail(e),
        },
        None => match selector_from_flags(&a) {
            Ok(s) => (s, None),
            Err(e) => return super::fail(e),
        },
    };
    // A policy names its repository; with no TAGs given, ask its registry.
    let image = a.image.clone().or_else(|| {
        (a.tags.is_empty() && a.tags_file.is_none())
            .then_some(policy_image)
            .flatten()
    });
    if let Some(image) = image {
        return live(&a, &selector, &image);
    }
    if a.digest {
        return super::fail("--digest needs a registry: give --image REPO");
    }
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
    if let imagebump_core::policy::select::Verdict::DowngradeRefused { candidate, current } =
        &verdict
    {
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

/// Chooses from the tags a live registry lists; exit 2 with a one-line reason (and
/// nothing on stdout) when the registry fails.
fn live(a: &TestArgs, selector: &Selector, image: &str) -> ExitCode {
    let image = match imagebump_core::image::ImageRef::parse(image) {
        Ok(i) if i.tag.is_none() && i.digest.is_none() => i,
        Ok(_) => {
            return super::fail(format!(
                "--image {image}: give the repository without a tag or digest"
            ))
        }
        Err(e) => return super::fail(e),
    };
    let cfg = match &a.config {
        Some(p) => match crate::config::Config::load(p) {
            Ok(c) => c,
            Err(problems) => {
                return super::fail(
                    problems
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
        },
        None => crate::config::Config::default(),
    };
    let client = match crate::engine::setup::registry_client(&cfg) {
        Ok(c) => c,
        Err(e) => return super::fail(format!("{e:#}")),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::fail(e),
    };
    let tags = match rt.block_on(client.list_tags(&image)) {
        Ok(t) => t.to_vec(),
        Err(e) => return super::fail(e),
    };
    if !a.digest {
        return choose(selector, &tags, a.current.as_deref(), a.explain);
    }
    let verdict = selector.select(&tags, a.current.as_deref());
    if a.explain {
        print_explain(selector, &tags);
    }
    let Some(tag) = verdict.chosen() else {
        eprintln!("no tag matches");
        return ExitCode::from(1);
    };
    match rt.block_on(client.resolve_digest(&image, tag)) {
        Ok(d) => {
            println!("{tag}@{d}");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

/// The selector of one image of a policy file, and that image's repository.
fn selector_from_policy(
    path: &std::path::Path,
    image: Option<&str>,
    name: Option<&str>,
) -> Result<(Selector, String), String> {
    let file = crate::policy_files::load_policy(path).map_err(|p| p.to_string())?;
    let wanted = match image {
        Some(i) => Some(imagebump_core::image::ImageRef::parse(i).map_err(|e| e.to_string())?),
        None => None,
    };
    let matching: Vec<_> = file
        .images
        .iter()
        .filter(|p| {
            wanted
                .as_ref()
                .is_none_or(|w| w.same_repository(&p.repository))
                && name.is_none_or(|n| p.name == n)
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok((one.selector(), one.repository.name())),
        [] => {
            let mut what = Vec::new();
            if let Some(i) = image {
                what.push(format!("repository {i}"));
            }
            if let Some(n) = name {
                what.push(format!("name {n:?}"));
            }
            let names: Vec<_> = file.images.iter().map(|p| p.name.as_str()).collect();
            Err(format!(
                "{}: no image with {}; its images are named {}",
                path.display(),
                what.join(" and "),
                names.join(", ")
            ))
        }
        several => {
            let names: Vec<_> = several.iter().map(|p| p.name.as_str()).collect();
            Err(format!(
                "{}: several images match; pick one with --name ({}) or --image REPO",
                path.display(),
                names.join(", ")
            ))
        }
    }
}

fn print_explain(selector: &Selector, tags: &[String]) {
    for n in selector.explain(tags) {
        let word = if n.kept { "kept" } else { "dropped" };
        let why = n
            .reason
            .trim_start_matches("dropped: ")
            .trim_start_matches("candidate: ");
        println!("{}: {word}: {why}", n.tag);
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
        Some(p) => {
            let pattern = re(p)?;
            if let Some(tpl) = &a.extract {
                imagebump_core::policy::extract::check(&pattern, tpl)
                    .map_err(|e| e.replacen("tags.extract", "--extract", 1))?;
            }
            Some(TagFilter {
                pattern,
                extract: a.extract.clone(),
            })
        }
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
