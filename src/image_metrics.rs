//! Per-image series and `imagebump_build_info`, rendered at scrape time from the status
//! board.
//!
//! Rendered, not registered: a series exists exactly while its image is watched, so an
//! image that leaves the policies takes its series with it (a registered family would
//! keep reporting it until a restart). Labels are bounded: one series per watched image
//! and name, `application`, `image` and `repository` each escaped per OpenMetrics.

use std::fmt::Write as _;

/// What the per-image series say about one image (a copy taken under the board's lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSeries {
    /// Application name.
    pub application: String,
    /// Image name within the application.
    pub image: String,
    /// Normalised repository.
    pub repository: String,
    /// Git holds what the policy wants: `up_to_date`, `pinned`, or `updated` (pushed).
    pub up_to_date: bool,
    /// The last decision is `held` (a hold marker or a manual change).
    pub held: bool,
    /// Unix time of the last successful listing, if any.
    pub last_successful_scan: Option<i64>,
    /// Unix time of the last commit that changed this image, if any since start.
    pub last_commit: Option<i64>,
}

/// The decision kinds that count as up to date for `imagebump_image_up_to_date`.
pub const UP_TO_DATE_KINDS: &[&str] = &["up_to_date", "pinned", "updated"];

/// One OpenMetrics label value: `\`, `"` and line feeds escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped(&mut out, value);
    out
}

/// [`escape_label`] appended to `out`, without a `String` per value (a scrape at 10,000
/// images writes 90,000 of them).
fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The per-image families in OpenMetrics text (without `# EOF`).
pub fn render(images: &[ImageSeries]) -> String {
    let mut out = String::new();
    render_into(&mut out, images);
    out
}

/// [`render`] appended to `out`, which is grown once to about the size needed: the
/// scrape is one `String`, not a copy of each part in the next (at 10,000 images the
/// copies and their doubling were 30 MB, the largest allocation of the whole service).
pub fn render_into(out: &mut String, images: &[ImageSeries]) {
    let labels: usize = images
        .iter()
        .map(|s| s.application.len() + s.image.len() + s.repository.len())
        .sum();
    // Four families; per sample the name (≤ 56), the label names and quotes (~35) and a
    // value (≤ 12); escaping rarely adds anything.
    out.reserve(4 * (labels + images.len() * 103) + 1024);
    family(
        out,
        "imagebump_image_up_to_date",
        "1 when git holds what the image's policy wants (up to date, pinned, or updated and pushed), else 0",
        images,
        |s| Some(i64::from(s.up_to_date)),
    );
    family(
        out,
        "imagebump_image_held",
        "1 while the image is held (a hold marker in git or a manual change), else 0",
        images,
        |s| Some(i64::from(s.held)),
    );
    family(
        out,
        "imagebump_image_last_successful_scan_timestamp_seconds",
        "Unix time of the last successful tag listing of the image's repository",
        images,
        |s| s.last_successful_scan,
    );
    family(
        out,
        "imagebump_image_last_commit_timestamp_seconds",
        "Unix time of the last commit that changed the image (absent until one)",
        images,
        |s| s.last_commit,
    );
}

fn family(
    out: &mut String,
    name: &str,
    help: &str,
    images: &[ImageSeries],
    value: impl Fn(&ImageSeries) -> Option<i64>,
) {
    // Writing into a String cannot fail.
    let _ = write!(out, "# HELP {name} {help}.\n# TYPE {name} gauge\n");
    for s in images {
        if let Some(v) = value(s) {
            out.push_str(name);
            out.push_str("{application=\"");
            push_escaped(out, &s.application);
            out.push_str("\",image=\"");
            push_escaped(out, &s.image);
            out.push_str("\",repository=\"");
            push_escaped(out, &s.repository);
            let _ = writeln!(out, "\"}} {v}");
        }
    }
}

/// `imagebump_build_info{version,commit,build_date} 1`: an OpenMetrics `info` family
/// (its samples carry the `_info` suffix; Prometheus stores it as a gauge).
pub fn build_info() -> String {
    format!(
        "# HELP imagebump_build The running build: version, commit and build date.\n# TYPE imagebump_build info\nimagebump_build_info{{version=\"{}\",commit=\"{}\",build_date=\"{}\"}} 1\n",
        escape_label(crate::build_info::VERSION),
        escape_label(crate::build_info::COMMIT),
        escape_label(crate::build_info::BUILD_DATE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(app: &str) -> ImageSeries {
        ImageSeries {
            application: app.into(),
            image: "web".into(),
            repository: "registry.example.com/team/web".into(),
            up_to_date: true,
            held: false,
            last_successful_scan: Some(1_700_000_000),
            last_commit: None,
        }
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("a\nb"), r"a\nb");
        let text = render(&[series("sh\"op")]);
        assert!(
            text.contains(r#"imagebump_image_up_to_date{application="sh\"op",image="web",repository="registry.example.com/team/web"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn absent_timestamps_have_no_series() {
        let text = render(&[series("shop")]);
        assert!(
            text.contains("imagebump_image_last_successful_scan_timestamp_seconds{application=\"shop\",image=\"web\",repository=\"registry.example.com/team/web\"} 1700000000\n"),
            "{text}"
        );
        assert!(
            !text.contains("imagebump_image_last_commit_timestamp_seconds{"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE imagebump_image_last_commit_timestamp_seconds gauge\n"),
            "{text}"
        );
        // No images, no series: only the family headers.
        assert!(!render(&[]).contains('{'));
    }

    #[test]
    fn build_info_is_one_series() {
        let text = build_info();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(
            lines[0].starts_with("imagebump_build_info{version=\""),
            "{text}"
        );
        assert!(lines[0].ends_with("} 1"), "{text}");
    }
}
