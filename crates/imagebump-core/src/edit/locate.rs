//! Finding the line of a value by its path (`images[2].targets[0]`, `git.branch`), so
//! checks made after deserialising can still name `file:line`.

use super::walk;
use super::yaml::{self, Source};

/// The 1-based line of the node at `path` (the syntax of [`super::HelmPaths`] as
/// [`walk`] renders it: `a.b[0].c`) in the first document of `text`; `None` when the
/// text does not parse or holds no such node.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let src = Source::new(text);
    let docs = yaml::parse(&src).ok()?;
    let mut found = None;
    let _ = walk(docs.first()?, "", &mut |node, p| {
        if found.is_none() && p == path {
            found = Some(src.line_of(node.start));
        }
        Ok(())
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let t = "application: a\nimages:\n  - repository: x\n  - repository: y\n    targets:\n      - manifest: m.yaml\n";
        assert_eq!(line_of(t, "images[1]"), Some(4));
        assert_eq!(line_of(t, "images[1].targets[0].manifest"), Some(6));
        assert_eq!(line_of(t, "images[2]"), None);
        assert_eq!(line_of("a: [", "a"), None);
    }
}
