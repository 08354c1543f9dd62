//! Live policies: the set the engine runs on, swapped as one unit by a reload.
//!
//! A [`Generation`] is the policies with the routes derived from them. Scans and writer
//! batches take one `Arc<Generation>` at their start, so each sees one consistent set
//! while a reload swaps in the next. A reload whose files have problems keeps the last
//! good generation and records the problems ([`PolicyStatus`], served at the top level
//! of `/api/v1/status`): never a half-applied set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use imagebump_core::plan::FileSource;
use imagebump_core::policy::{self, LoadedPolicy, PolicySet, Problem};
use serde::Serialize;

use super::RepoWatch;

/// One loaded policy set and its routes.
#[derive(Debug)]
pub struct Generation {
    /// 1 for the set loaded at start, +1 for each reload that took effect.
    pub number: u64,
    /// The policies, by image identity.
    pub policies: Arc<PolicySet>,
    /// Watched repositories by normalised name.
    pub routes: BTreeMap<String, RepoWatch>,
    /// The policies as each GitOps repository's writer sees them (only the targets in
    /// that repository), by repository name.
    pub by_git: BTreeMap<String, Arc<PolicySet>>,
}

impl Generation {
    /// The generation of `policies` for the GitOps repositories `gits` (config order).
    pub fn new(
        policies: PolicySet,
        default_interval: std::time::Duration,
        gits: &[String],
    ) -> Generation {
        let only = gits.len() == 1;
        let routes = super::routes(&policies, default_interval);
        let policies = Arc::new(policies);
        let by_git = gits
            .iter()
            .map(|g| {
                // One repository that every target is in sees the whole set: shared,
                // not copied (a copy is most of the policies' memory at 10,000 images).
                let whole = only
                    && policies
                        .images()
                        .all(|(_, img)| img.target_repos.iter().flatten().all(|t| t == g));
                let set = if whole {
                    policies.clone()
                } else {
                    Arc::new(policies.for_repository(g, only))
                };
                (g.clone(), set)
            })
            .collect();
        Generation {
            number: 1,
            routes,
            by_git,
            policies,
        }
    }

    /// The policies of GitOps repository `name`.
    pub fn for_git(&self, name: &str) -> Option<&Arc<PolicySet>> {
        self.by_git.get(name)
    }
}

/// The top-level `policies` field of `/api/v1/status`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The generation in effect.
    pub generation: u64,
    /// When the last reload was attempted (RFC 3339), if any was.
    pub last_reload: Option<String>,
    /// `ok` or `invalid` for the last reload attempted.
    pub last_result: Option<&'static str>,
    /// The last reload's problems (`file:line:col: message`); empty when it took effect.
    pub problems: Vec<String>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadReport {
    /// The new set is in effect as this generation.
    Applied {
        /// Its number.
        generation: u64,
    },
    /// The files had problems: the last good generation stays in effect.
    Rejected {
        /// The generation kept.
        kept: u64,
        /// Every problem, `file:line:col: message`.
        problems: Vec<String>,
    },
}

/// The swappable set plus what the last reload said.
#[derive(Debug)]
pub struct LiveSet {
    current: RwLock<Arc<Generation>>,
    status: Mutex<PolicyStatus>,
}

impl LiveSet {
    /// The set loaded at start, as generation 1.
    pub fn new(first: Generation) -> LiveSet {
        LiveSet {
            status: Mutex::new(PolicyStatus {
                generation: first.number,
                ..Default::default()
            }),
            current: RwLock::new(Arc::new(first)),
        }
    }

    /// The generation in effect (take it once per scan or batch).
    pub fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The policies in effect.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.current().policies.clone()
    }

    /// Swaps in `next` (its number is set here) and records a good reload.
    pub(crate) fn swap(&self, mut next: Generation, at: String) -> Arc<Generation> {
        let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
        next.number = cur.number + 1;
        let next = Arc::new(next);
        *cur = next.clone();
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = PolicyStatus {
            generation: next.number,
            last_reload: Some(at),
            last_result: Some("ok"),
            problems: Vec::new(),
        };
        next
    }

    /// Records a rejected reload; the generation in effect stays.
    pub(crate) fn reject(&self, problems: Vec<String>, at: String) -> u64 {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        s.last_reload = Some(at);
        s.last_result = Some("invalid");
        s.problems = problems;
        s.generation
    }

    /// What `/api/v1/status` shows.
    pub fn status(&self) -> PolicyStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The policy files under `dir` of a file source (the GitOps working tree), read and
/// checked like a local directory: the good files and every problem. Names in problems
/// are relative to the repository root. A missing directory is a problem, not an empty
/// set: an empty set would silently stop every update.
pub fn load_tree(src: &dyn FileSource, dir: &Path) -> (Vec<LoadedPolicy>, Vec<Problem>) {
    let mut problems = Vec::new();
    let files = match src.list(dir) {
        Ok(f) => f,
        Err(e) => return (Vec::new(), vec![Problem::new(dir, e)]),
    };
    let mut parsed = Vec::new();
    for f in files {
        match src.read(&f) {
            Ok(Some(text)) => match policy::parse_policy_all(&f, &text) {
                Ok(policy) => parsed.push(LoadedPolicy { path: f, policy }),
                Err(p) => problems.extend(p),
            },
            Ok(None) => problems.push(Problem::new(&f, "vanished while reading")),
            Err(e) => problems.push(Problem::new(&f, format!("cannot read: {e}"))),
        }
    }
    let (loaded, clashes) = policy::check_set(parsed);
    problems.extend(clashes);
    (loaded, problems)
}

/// The raw texts of the policy files under `dir` (or the error listing them): a reload
/// runs only when these change.
pub fn fingerprint(src: &dyn FileSource, dir: &Path) -> Vec<(String, Option<String>)> {
    match src.list(dir) {
        Ok(files) => files
            .into_iter()
            .map(|f| {
                let text = src.read(&f).ok().flatten();
                (f.display().to_string(), text)
            })
            .collect(),
        Err(e) => vec![(e, None)],
    }
}

impl super::Engine {
    /// Makes `loaded` the policies in effect, or, when `problems` is not empty, keeps the
    /// last good set and reports them (status, metric, log, notification).
    ///
    /// A good set re-registers the status board (new images appear, removed ones
    /// disappear), drops queued wishes of removed images (each with a log line; the
    /// commit in flight finishes on the set it started with), restarts the pollers and
    /// scans every repository of the new set, so a changed policy takes effect now.
    pub fn reload(
        self: &Arc<Self>,
        loaded: Vec<LoadedPolicy>,
        mut problems: Vec<Problem>,
    ) -> ReloadReport {
        let at = super::status::now_rfc3339();
        if problems.is_empty() {
            // Targets must name GitOps repositories the service has (local files are
            // read again for their lines; in-repo callers check with their tree first).
            let local = super::files::Tree(Path::new(""));
            problems = crate::policy_files::repository_problems(&loaded, &self.gits, &local);
        }
        if !problems.is_empty() {
            let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            let kept = self.live.reject(problems.clone(), at);
            self.count_reload("invalid");
            tracing::error!(
                generation = kept,
                problems = %problems.join("; "),
                "policy reload rejected; the last good policies stay in effect"
            );
            if let Some(n) = self
                .notifier
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                n.send(super::notify::Notice::PolicyReloadFailed {
                    kept,
                    problems: problems.clone(),
                });
            }
            return ReloadReport::Rejected { kept, problems };
        }
        let policies = PolicySet::new(loaded).select(&self.selector);
        let next = Generation::new(policies, self.default_interval(), &self.gits);
        let gen = self.live.swap(next, at);
        self.status.keep_only(
            gen.policies
                .images()
                .map(|(id, img)| (id.clone(), img.repository.name()))
                .collect(),
        );
        let kept = |git: &str, id: &_| gen.for_git(git).is_some_and(|p| p.get(id).is_some());
        for id in self.queues.retain(kept) {
            tracing::info!(image = %id, "queued update dropped: its policy was removed");
        }
        self.count_reload("ok");
        tracing::info!(
            generation = gen.number,
            images = gen.policies.len(),
            repositories = gen.routes.len(),
            "policies reloaded"
        );
        let rt = self
            .poll_rt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(rt) = rt {
            self.start_pollers(&rt);
            let _in_runtime = rt.enter();
            self.hint_all(None);
        }
        ReloadReport::Applied {
            generation: gen.number,
        }
    }

    fn count_reload(&self, result: &str) {
        self.metrics
            .policy_reloads
            .get_or_create(&crate::metrics::ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }
}

/// `policies: {repoPath: DIR}`: the writer re-reads DIR of its working tree after every
/// fetch and hands a changed set to the engine.
pub struct RepoPolicies {
    /// DIR, relative to the repository root.
    pub dir: std::path::PathBuf,
    /// Fetch at least this often when there is nothing to write (the poll interval).
    pub every: std::time::Duration,
    /// The files last read: a reload runs only when they change.
    pub last: Vec<(String, Option<String>)>,
    /// The engine to reload.
    pub engine: Arc<super::Engine>,
}

impl RepoPolicies {
    /// After a fetch of the working tree at `root`: reloads when DIR's files changed.
    pub fn after_fetch(&mut self, root: &Path) {
        let tree = super::files::Tree(root);
        let now = fingerprint(&tree, &self.dir);
        if now == self.last {
            return;
        }
        self.last = now;
        let (loaded, mut problems) = load_tree(&tree, &self.dir);
        if problems.is_empty() {
            problems = crate::policy_files::repository_problems(&loaded, &self.engine.gits, &tree);
        }
        self.engine.reload(loaded, problems);
    }
}
