//! `imagebump test`: run a selection strategy over tags given on the command line, in a
//! file, or on stdin, and print the chosen tag.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use regex::Regex;

use imagebump_core::policy::constraint::Constraints;
use imagebump_core::policy::select::{Order, Selector, Strategy, TagFilter};
use imagebump_core::policy::ImagePolicy;
use imagebump_registry::RegistryClient;

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
    if let Some(p) = &a.policy {
        return match policy_from_file(p, &a) {
            Ok(policy) => with_policy(&a, &policy),
            Err(e) => super::fail(e),
        };
    }
    let selector = match selector_from_flags(&a) {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    if let Some(image) = &a.image {
        return live(&a, &selector, image);
    }
    if a.digest {
        return super::fail("--digest needs a registry: give --image REPO");
    }
    match given_tags(&a) {
        Ok(tags) => choose(&selector, &tags, a.current.as_deref(), a.explain),
        Err(e) => super::fail(e),
    }
}

/// The TAGs and --tags-file lines; an error when there are none.
fn given_tags(a: &TestArgs) -> Result<Vec<String>, String> {
    let mut tags = a.tags.clone();
    if let Some(f) = &a.tags_file {
        tags.extend(read_tags(f)?);
    }
    if tags.is_empty() {
        return Err("no tags given: pass TAG… or --tags-file FILE|-".into());
    }
    Ok(tags)
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

/// A parsed `--image` (no tag, no digest).
fn repository_arg(image: &str) -> Result<imagebump_core::image::ImageRef, String> {
    match imagebump_core::image::ImageRef::parse(image) {
        Ok(i) if i.tag.is_none() && i.digest.is_none() => Ok(i),
        Ok(_) => Err(format!(
            "--image {image}: give the repository without a tag or digest"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A registry client for `--config` (or the defaults) and a runtime to drive it.
fn registry(a: &TestArgs) -> Result<(tokio::runtime::Runtime, RegistryClient), String> {
    let cfg = match &a.config {
        Some(p) => crate::config::Config::load(p).map_err(|problems| {
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?,
        None => crate::config::Config::default(),
    };
    let client = crate::engine::setup::registry_client(&cfg).map_err(|e| format!("{e:#}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok((rt, client))
}

/// Chooses from the tags a live registry lists; exit 2 with a one-line reason (and
/// nothing on stdout) when the registry fails.
fn live(a: &TestArgs, selector: &Selector, image: &str) -> ExitCode {
    let image = match repository_arg(image) {
        Ok(i) => i,
        Err(e) => return super::fail(e),
    };
    let (rt, client) = match registry(a) {
        Ok(x) => x,
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

/// `test --policy`: every key of the policy applies as the service applies it —
/// `suspended`, `pinned`, `exclude`, `allowDowngrade`, `minAge`/`newestBuild` and
/// `platforms` (read newest first from the registry, like a scan). `--exclude` adds to the policy's
/// excludes and `--allow-downgrade` allows what the policy does not. Exit 0 with the
/// tag, 1 when nothing qualifies, 2 when the registry fails or cannot be asked.
fn with_policy(a: &TestArgs, policy: &ImagePolicy) -> ExitCode {
    let selector = policy.selector();
    let offline = !(a.tags.is_empty() && a.tags_file.is_none()) && a.image.is_none();
    let reg = if offline {
        if !policy.platforms.is_empty() {
            return super::fail(format!(
                "the policy requires platforms ({}), which only the registry can tell: drop the TAGs to ask {}",
                policy.platforms.join(", "),
                policy.repository.name()
            ));
        }
        if crate::engine::age::applies(policy) {
            return super::fail(format!(
                "the policy selects by build time (minAge/newestBuild), which only the registry can tell: drop the TAGs to ask {}",
                policy.repository.name()
            ));
        }
        if a.digest {
            return super::fail("--digest needs a registry: drop the TAGs to ask it");
        }
        None
    } else {
        match registry(a) {
            Ok(x) => Some(x),
            Err(e) => return super::fail(e),
        }
    };
    let image = policy.repository.without_version();
    let tags = match &reg {
        None => match given_tags(a) {
            Ok(t) => t,
            Err(e) => return super::fail(e),
        },
        Some((rt, client)) => match rt.block_on(client.list_tags(&image)) {
            Ok(t) => t.to_vec(),
            Err(e) => return super::fail(e),
        },
    };
    if a.explain {
        print_explain(&selector, &tags);
    }
    let (_, chosen) = imagebump_core::decision::choose(policy, &tags);
    let mut tag = match chosen {
        Ok(t) => t,
        Err(d) => {
            eprintln!("{}", d.why_not_updated().unwrap_or_default());
            return ExitCode::from(1);
        }
    };
    let timed = crate::engine::age::applies(policy);
    if let (Some((rt, client)), true) = (&reg, timed) {
        let ranked = selector.ranked(&tags);
        let now = std::time::SystemTime::now();
        let found = rt.block_on(crate::engine::age::pick(
            client, &image, &ranked, policy, now,
        ));
        tag = match found {
            Ok(p) => {
                if let Some(w) = p.waiting.and_then(|w| w.why_not_updated()) {
                    eprintln!("imagebump: {w}");
                }
                p.tag
            }
            Err(d) if d.is_failure() => return super::fail(d.last_error().unwrap_or_default()),
            Err(d) => {
                eprintln!("{}", d.why_not_updated().unwrap_or_default());
                return ExitCode::from(1);
            }
        };
    }
    if let (Some((rt, client)), false) = (&reg, policy.platforms.is_empty()) {
        let ranked = if policy.pinned.is_some() || timed {
            vec![tag.as_str()]
        } else {
            selector.ranked(&tags)
        };
        let found = rt.block_on(crate::engine::platforms::first_with_platforms(
            client,
            &image,
            &ranked,
            &policy.platforms,
        ));
        tag = match found {
            Ok(t) => t,
            Err(d) if d.is_failure() => return super::fail(d.last_error().unwrap_or_default()),
            Err(d) => {
                eprintln!("{}", d.why_not_updated().unwrap_or_default());
                return ExitCode::from(1);
            }
        };
    }
    if let (Some(current), None) = (a.current.as_deref(), &policy.pinned) {
        if let imagebump_core::policy::select::Verdict::DowngradeRefused { .. } =
            selector.select(std::slice::from_ref(&tag), Some(current))
        {
            eprintln!("imagebump: {tag} is lower than the current {current}; keeping {current} (allowDowngrade: true in the policy, or --allow-downgrade, to move)");
            tag = current.to_string();
        }
    }
    if a.digest {
        let Some((rt, client)) = &reg else {
            return super::fail("--digest needs a registry");
        };
        return match rt.block_on(client.resolve_digest(&image, &tag)) {
            Ok(d) => {
                println!("{tag}@{d}");
                ExitCode::SUCCESS
            }
            Err(e) => super::fail(e),
        };
    }
    println!("{tag}");
    ExitCode::SUCCESS
}

/// One image of a policy file (the one matching --image, or its only one), with the
/// command line's `--exclude` and `--allow-downgrade` added.
fn policy_from_file(path: &std::path::Path, a: &TestArgs) -> Result<ImagePolicy, String> {
    let (image, name) = (a.image.as_deref(), a.name.as_deref());
    let file = crate::policy_files::load_policy(path).map_err(|p| p.to_string())?;
    let wanted = match a.image.as_deref() {
        Some(i) => Some(repository_arg(i)?),
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
    let mut policy = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let mut what = Vec::new();
            if let Some(i) = image {
                what.push(format!("repository {i}"));
            }
            if let Some(n) = name {
                what.push(format!("name {n:?}"));
            }
            let names: Vec<_> = file.images.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "{}: no image with {}; its images are named {}",
                path.display(),
                what.join(" and "),
                names.join(", ")
            ));
        }
        several => {
            let names: Vec<_> = several.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "{}: several images match; pick one with --name ({}) or --image REPO",
                path.display(),
                names.join(", ")
            ));
        }
    };
    // The flags change this one copy only.
    let spec = std::sync::Arc::make_mut(&mut policy.spec);
    for e in &a.exclude {
        spec.exclude.push(regex(e)?);
    }
    spec.allow_downgrade |= a.allow_downgrade;
    Ok(policy)
}

fn regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| {
        format!(
            "invalid regular expression {s:?}: {}",
            e.to_string().lines().last().unwrap_or("")
        )
    })
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
    let re = regex;
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
