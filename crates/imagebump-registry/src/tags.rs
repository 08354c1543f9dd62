//! Listing every tag of a repository, page by page.
//!
//! Rules (see the module docs of [`crate::registry`] for why):
//! - ask for `n = page_size` tags;
//! - a `Link: <…>; rel="next"` header is followed wherever present (same host only),
//!   and once a listing has seen one, a page without it is the last;
//! - without `Link`, a page of exactly `n` tags asks for the next with
//!   `last=<last tag>`; an empty page, a page shorter than `n`, a page longer than
//!   `n` (the registry ignored `n`: that was everything) or a page with no new tags
//!   ends the listing;
//! - a URL seen twice, or a `Link` page that brings nothing new, is a loop: error;
//! - any failed page fails the whole listing.

use std::collections::HashSet;

use reqwest::header::LINK;
use reqwest::Method;

use super::error::RegistryError;
use super::metrics::RequestKind;
use super::transport::{Call, Policy, Registry};

/// Hard stop against a registry that paginates forever.
const MAX_PAGES: usize = 100_000;

#[derive(serde::Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// All tags of `repository`, in the order the registry gave them, without duplicates.
pub(crate) async fn list_all(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
) -> Result<Vec<String>, RegistryError> {
    let base = reg.url(&format!("/v2/{repository}/tags/list"))?;
    let n = p.opts.page_size;
    let page_url = |last: Option<&str>| {
        let mut u = base.clone();
        if n > 0 {
            let mut q = u.query_pairs_mut();
            q.append_pair("n", &n.to_string());
            if let Some(l) = last {
                q.append_pair("last", l);
            }
        }
        u
    };
    let mut url = page_url(None);
    let mut tags = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut visited: HashSet<String> = HashSet::new();
    // Once a registry has paginated with Link, a page without one is its last.
    let mut saw_link = false;
    loop {
        if !visited.insert(url.as_str().to_string()) {
            return Err(reg.protocol(format!("tag pagination loops back to {}", url.path())));
        }
        if visited.len() > MAX_PAGES {
            return Err(reg.protocol(format!("tag listing exceeded {MAX_PAGES} pages")));
        }
        let f = reg
            .api(
                p,
                Call {
                    kind: RequestKind::Tags,
                    repository,
                    method: Method::GET,
                    url: &url,
                    accept: "application/json",
                    what: "repository",
                },
            )
            .await?;
        let page: TagPage = serde_json::from_slice(&f.body)
            .map_err(|e| reg.protocol(format!("tag list page is not the expected JSON ({e})")))?;
        let page = page.tags.unwrap_or_default();
        let len = page.len();
        let last = page.last().cloned();
        let mut new = 0usize;
        for t in page {
            if seen.insert(t.clone()) {
                tags.push(t);
                new += 1;
            }
        }
        if tags.len() > p.opts.max_tags {
            return Err(reg.protocol(format!(
                "{repository} lists more than {} tags, the most imagebump reads from one repository",
                p.opts.max_tags
            )));
        }
        if len == 0 {
            break;
        }
        if let Some(next) = next_link(&f.headers) {
            let next = f
                .url
                .join(&next)
                .map_err(|e| reg.protocol(format!("bad Link header {next:?}: {e}")))?;
            if next.host_str() != base.host_str()
                || next.port_or_known_default() != base.port_or_known_default()
                || next.scheme() != base.scheme()
            {
                return Err(reg.protocol(format!(
                    "Link header points to another host ({})",
                    next.authority()
                )));
            }
            if new == 0 {
                return Err(reg.protocol("a Link-ed tag page brought no new tags"));
            }
            url = next;
            saw_link = true;
            continue;
        }
        if saw_link || n == 0 || len != n || new == 0 {
            break;
        }
        url = page_url(last.as_deref());
    }
    Ok(tags)
}

/// The target of the `rel="next"` entry of the `Link` header(s), if any.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        // Entries are `<uri>; param=…, <uri>; …`; a comma inside <…> is not a separator.
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let after = &rest[start + 1..];
            let end = after.find('>')?;
            let target = &after[..end];
            let params_end = after[end..].find('<').map_or(after.len(), |i| end + i);
            let params = &after[end + 1..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("rel")
                        && v.trim()
                            .trim_matches('"')
                            .split_whitespace()
                            .any(|r| r.eq_ignore_ascii_case("next"))
                })
            });
            if is_next {
                return Some(target.to_string());
            }
            rest = &after[params_end..];
        }
    }
    None
}

/// Only for tests of [`next_link`].
#[cfg(test)]
fn link(v: &str) -> Option<String> {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(LINK, v.parse().unwrap());
    next_link(&h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            link(r#"</v2/a/tags/list?n=100&last=x>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=100&last=x")
        );
        assert_eq!(
            link(r#"<https://r/v2/a/tags/list?last=a,b>; rel="prev", <https://r/v2/a/tags/list?last=z>; rel=next"#)
                .as_deref(),
            Some("https://r/v2/a/tags/list?last=z")
        );
        assert_eq!(link(r#"</x>; rel="prev""#), None);
        assert_eq!(link(r#"</x>; rel="next last""#).as_deref(), Some("/x"));
    }
}
