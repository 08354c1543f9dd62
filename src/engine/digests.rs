//! Index digests resolved on demand, for the plans of the writer and of `plan`.
//!
//! A scan does not ask for the chosen tag's digest unless the policy pins every reference
//! (`digest:`, `pinDigest`): most references in git are not pinned, and a scan costs one
//! tag listing per repository. When the pure plan finds a reference pinned `tag@digest`
//! whose wish has no index digest ([`Plan::needs_digest`]), the digest is resolved here —
//! one manifest request per such image — and the plan is made again. A digest that cannot
//! be resolved leaves the reference refused at its file:line, never unpinned.
//!
//! Resolved digests are not cached between writes: a tag pushed again must move its pins
//! at the next write, and a burst of events is one batch already (the batch window).
//! Within one write they are kept in the wishes, so a push race does not ask again.

use std::collections::BTreeMap;

use imagebump_core::decision::{ImageId, Wish};
use imagebump_core::hold::Date;
use imagebump_core::plan::{plan_on, FileSource, Outcome, Plan};
use imagebump_core::policy::PolicySet;
use imagebump_registry::RegistryClient;

/// Today's date (UTC), for the expiry of `# imagebump: hold until DATE` markers; `None`
/// (every marker holds) only if the clock is before 1970 or after 9999.
pub fn today() -> Option<Date> {
    let now = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    Date::parse(now.get(..10)?).ok()
}

/// Calls the async registry client from the writer's plain thread.
#[derive(Clone)]
pub struct DigestResolver {
    registry: RegistryClient,
    rt: tokio::runtime::Handle,
}

/// Why an image's digest could not be resolved, by image (kept for the retries of one
/// write, so a registry that failed is not asked again by each retry).
pub type Unresolved = BTreeMap<ImageId, String>;

impl DigestResolver {
    /// A resolver over `registry`, run on `rt` (must not be called from inside it).
    pub fn new(registry: RegistryClient, rt: tokio::runtime::Handle) -> DigestResolver {
        DigestResolver { registry, rt }
    }

    /// Plans `wishes`; when the plan finds pinned references without a digest, resolves
    /// those images' index digests into `wishes` and plans again. Images whose digest
    /// could not be resolved (now or earlier, in `unresolved`) stay refused, with the
    /// registry's reason added.
    pub fn plan(
        &self,
        policies: &PolicySet,
        wishes: &mut [Wish],
        src: &dyn FileSource,
        unresolved: &mut Unresolved,
    ) -> Plan {
        let today = today();
        let first = plan_on(policies, wishes, src, today);
        if first.needs_digest.is_empty() {
            return first;
        }
        let mut resolved = false;
        for w in wishes.iter_mut() {
            if !first.needs_digest.contains(&w.id)
                || w.index_digest.is_some()
                || unresolved.contains_key(&w.id)
            {
                continue;
            }
            let Some(policy) = policies.get(&w.id) else {
                continue;
            };
            let image = policy.repository.without_version();
            match self
                .rt
                .block_on(self.registry.resolve_digest(&image, &w.tag))
            {
                Ok(d) => {
                    w.index_digest = Some(d);
                    resolved = true;
                }
                Err(e) => {
                    tracing::warn!(image = %w.id, tag = %w.tag, error = %e,
                        "cannot resolve the index digest; its pinned references are left as they are");
                    unresolved.insert(w.id.clone(), e.to_string());
                }
            }
        }
        let mut p = if resolved {
            plan_on(policies, wishes, src, today)
        } else {
            first
        };
        for (id, e) in unresolved.iter() {
            if !p.needs_digest.contains(id) {
                continue;
            }
            if let Some(Outcome::Refused { why, .. }) = p.outcomes.get_mut(id) {
                why.push_str(&format!(" (the registry said: {e})"));
            }
        }
        p
    }
}
