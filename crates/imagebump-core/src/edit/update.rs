//! [`Update`]: what an edit writes, and the rules for a value's digest ([`Pins`]).

use super::EditError;
use crate::image::{self, ImageRef};

/// How an update treats digests already written in the files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pins {
    /// Write what the update says everywhere (`set-image`, `digest:` and `pinDigest`
    /// policies): a tag+digest update pins every value, a tag-only update drops a stale
    /// digest, a digest-only update keeps the tag.
    #[default]
    Replace,
    /// Keep each value's pinning as it is (tag policies): `digest` is the index digest of
    /// the new tag, written only where a digest is written today
    /// (`nginx:1.2@sha256:a` → `nginx:1.3@sha256:b`); unpinned values get the tag alone.
    /// A pinned value is refused when the digest is not known, rather than unpinned.
    Keep,
}

/// What to write: the repository whose references are touched, and the new tag and/or
/// digest. At least one of `tag` and `digest` must be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The repository to match (its own tag and digest are ignored).
    pub image: ImageRef,
    /// The new tag, without `:`.
    pub tag: Option<String>,
    /// The new digest (`sha256:…`), without `@`.
    pub digest: Option<String>,
    /// Where the digest goes (see [`Pins`]).
    pub pins: Pins,
    /// Current tags whose references are left alone: another policy claims them.
    pub leave: Vec<String>,
}

impl Update {
    /// Builds a validated update.
    pub fn new(
        image: ImageRef,
        tag: Option<String>,
        digest: Option<String>,
    ) -> Result<Update, EditError> {
        let u = Update {
            image,
            tag,
            digest,
            pins: Pins::Replace,
            leave: Vec::new(),
        };
        u.validate()?;
        Ok(u)
    }

    /// Parses `repo:tag`, `repo@digest` or `repo:tag@digest` into an update.
    pub fn parse(reference: &str) -> Result<Update, EditError> {
        let r = ImageRef::parse(reference).map_err(|e| EditError::InvalidUpdate(e.to_string()))?;
        let (tag, digest) = (r.tag.clone(), r.digest.clone());
        Update::new(r.without_version(), tag, digest)
    }

    /// Checks that a tag or a digest is given and that both are well-formed.
    pub fn validate(&self) -> Result<(), EditError> {
        let bad = |m: String| Err(EditError::InvalidUpdate(m));
        if self.tag.is_none() && self.digest.is_none() {
            return bad(format!(
                "no tag and no digest given for {}",
                self.image.name()
            ));
        }
        if let Some(t) = &self.tag {
            image::validate_tag(t).or_else(bad)?;
        }
        if let Some(d) = &self.digest {
            image::validate_digest(d).or_else(bad)?;
        }
        Ok(())
    }

    /// True when `s` is a reference (any tag/digest) to the update's repository.
    pub fn matches(&self, s: &str) -> bool {
        ImageRef::parse(s).is_ok_and(|r| r.same_repository(&self.image))
    }

    /// True when a value whose current tag is `tag` (`None`: untagged, so `latest`)
    /// belongs to another policy.
    pub fn leaves(&self, tag: Option<&str>) -> bool {
        let tag = tag.map(|t| t.split('@').next().unwrap_or(t));
        let tag = tag.filter(|t| !t.is_empty()).unwrap_or("latest");
        self.leave.iter().any(|l| l == tag)
    }

    /// The same update with another digest rule.
    pub fn with_pins(mut self, pins: Pins) -> Update {
        self.pins = pins;
        self
    }

    /// The digest to write into a value whose digest is `old` (`None`: not pinned), or
    /// why the value cannot keep its pin.
    pub fn digest_for<'s>(&'s self, old: Option<&'s str>) -> Result<Option<&'s str>, String> {
        let old = old.filter(|d| !d.is_empty());
        match self.pins {
            Pins::Replace => Ok(match (&self.tag, &self.digest) {
                (_, Some(d)) => Some(d),
                (Some(_), None) => None,
                (None, None) => old,
            }),
            Pins::Keep => match (old, &self.digest) {
                (None, _) => Ok(None),
                (Some(_), Some(d)) => Ok(Some(d)),
                (Some(_), None) => Err(format!(
                    "the value is pinned by digest but the digest of {}:{} is not known; it is left as it is rather than unpinned",
                    self.image.name(),
                    self.tag.as_deref().unwrap_or("?")
                )),
            },
        }
    }

    /// True when every value must take the digest, so one without room for it is
    /// refused.
    pub fn pins_everywhere(&self) -> bool {
        self.pins == Pins::Replace && self.digest.is_some()
    }

    /// The reference `old` rewritten for this update, keeping its repository part as
    /// written; its digest follows [`Update::digest_for`].
    pub fn rewrite_reference(&self, old: &str) -> Result<String, String> {
        let raw = image::split_raw(old);
        let tag = self.tag.as_deref().or(raw.tag);
        let digest = self.digest_for(raw.digest)?;
        let mut s = raw.name.to_string();
        if let Some(t) = tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = digest {
            s.push('@');
            s.push_str(d);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const E: &str = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

    #[test]
    fn rewrite_rules() {
        let u = Update::parse("docker.io/library/nginx:1.3").unwrap();
        assert_eq!(u.rewrite_reference("nginx:1.2").unwrap(), "nginx:1.3");
        assert_eq!(
            u.rewrite_reference(&format!("nginx:1.2@{D}")).unwrap(),
            "nginx:1.3"
        );
        assert_eq!(u.rewrite_reference("nginx").unwrap(), "nginx:1.3");
        let u = Update::parse(&format!("nginx:1.3@{D}")).unwrap();
        assert_eq!(
            u.rewrite_reference("nginx:1.2").unwrap(),
            format!("nginx:1.3@{D}")
        );
        let u = Update::parse(&format!("nginx@{D}")).unwrap();
        assert_eq!(
            u.rewrite_reference("nginx:1.2").unwrap(),
            format!("nginx:1.2@{D}")
        );
        assert_eq!(
            u.rewrite_reference("localhost:5000/nginx").unwrap(),
            format!("localhost:5000/nginx@{D}")
        );
    }

    #[test]
    fn update_validation() {
        assert!(Update::parse("nginx").is_err());
        assert!(Update::new(ImageRef::parse("nginx").unwrap(), Some("-x".into()), None).is_err());
        assert!(Update::new(
            ImageRef::parse("nginx").unwrap(),
            None,
            Some("md5:1".into())
        )
        .is_err());
        let u = Update::parse("nginx:1").unwrap();
        assert!(u.matches("docker.io/library/nginx:0.1"));
        assert!(!u.matches("ghcr.io/nginx:1"));
    }

    #[test]
    fn keeping_pins() {
        let keep = |r: &str| Update::parse(r).unwrap().with_pins(Pins::Keep);
        let u = keep(&format!("nginx:1.3@{E}"));
        assert_eq!(
            u.rewrite_reference(&format!("nginx:1.2@{D}")).unwrap(),
            format!("nginx:1.3@{E}")
        );
        assert_eq!(u.rewrite_reference("nginx:1.2").unwrap(), "nginx:1.3");
        assert_eq!(u.digest_for(Some("")).unwrap(), None);
        let u = keep("nginx:1.3");
        assert_eq!(u.rewrite_reference("nginx:1.2").unwrap(), "nginx:1.3");
        let e = u.rewrite_reference(&format!("nginx:1.2@{D}")).unwrap_err();
        assert!(e.contains("pinned by digest"), "{e}");
    }
}
