//! The loaded policies, addressed by [`ImageId`] rather than by position.

use std::collections::BTreeMap;

use super::{ImagePolicy, LoadedPolicy};
use crate::decision::ImageId;

/// Every loaded policy file, with an index from each image's stable identity
/// (`application/name`) to its policy. Routes, the write queue, status and metrics all
/// speak [`ImageId`]; a reordered or edited policy directory cannot make one image's
/// decision land on another.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    files: Vec<LoadedPolicy>,
    index: BTreeMap<ImageId, (usize, usize)>,
}

impl PolicySet {
    /// Indexes `files` (already checked by [`super::check_set`]: identities are unique;
    /// should two clash anyway, the first wins).
    pub fn new(files: Vec<LoadedPolicy>) -> PolicySet {
        let mut index = BTreeMap::new();
        for (f, lp) in files.iter().enumerate() {
            for (i, img) in lp.policy.images.iter().enumerate() {
                index
                    .entry(ImageId::new(&lp.policy.application, &img.name))
                    .or_insert((f, i));
            }
        }
        PolicySet { files, index }
    }

    /// The policy of one image.
    pub fn get(&self, id: &ImageId) -> Option<&ImagePolicy> {
        let (f, i) = self.index.get(id)?;
        Some(&self.files[*f].policy.images[*i])
    }

    /// Every image with its identity, in identity order.
    pub fn images(&self) -> impl Iterator<Item = (&ImageId, &ImagePolicy)> {
        self.index
            .iter()
            .map(|(id, (f, i))| (id, &self.files[*f].policy.images[*i]))
    }

    /// The policy files as loaded.
    pub fn files(&self) -> &[LoadedPolicy] {
        &self.files
    }

    /// How many images are watched.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no image is watched.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}
