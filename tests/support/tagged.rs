//! Many tags of one image without pushing an image per tag: the config and layer blobs
//! are uploaded once ([`upload_blobs`]), then each tag is a manifest of its own (an
//! annotation carries the tag, so every tag has its own digest) — how the benches set up
//! fleets of thousands of tags quickly.

use imagebump_testbed::registry::TestRegistry;

/// The manifest media type [`put_tag`] puts.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Uploads a config and a layer blob to `repo`; returns the manifest (its
/// `org.imagebump.bench` annotation filled per tag by [`put_tag`]).
pub async fn upload_blobs(reg: &TestRegistry, repo: &str) -> serde_json::Value {
    let layer = format!("layer of {repo}").into_bytes();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []}, "config": {}
    }))
    .unwrap();
    let config_digest = reg.push_blob(repo, &config).await;
    let layer_digest = reg.push_blob(repo, &layer).await;
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer.len()}],
        "annotations": {"org.imagebump.bench": ""}
    })
}

/// Tags `base` (from [`upload_blobs`]) as `tag` in `repo`.
pub async fn put_tag(reg: &TestRegistry, repo: &str, base: &serde_json::Value, tag: &str) {
    let mut m = base.clone();
    m["annotations"]["org.imagebump.bench"] = tag.into();
    reg.put_manifest(repo, tag, MANIFEST, &serde_json::to_vec(&m).unwrap())
        .await;
}
