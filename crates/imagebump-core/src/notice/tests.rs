//! The formats' bodies, the filters and the body templates, per event.

use super::*;

fn sample(e: Event) -> Notice {
    samples().into_iter().find(|n| n.event() == e).unwrap()
}

#[test]
fn generic_names_the_event_and_its_fields() {
    let g = render(&sample(Event::PolicyReloadFailed), Format::Generic);
    assert_eq!(g["event"], "policy_reload_failed");
    assert_eq!(g["generation"], 3);
    let g = render(&sample(Event::Commit), Format::Generic);
    assert_eq!(
        (g["event"].as_str(), g["changes"][0]["new"].as_str()),
        (Some("commit"), Some("ghcr.io/acme/web:1.1.0"))
    );
    assert_eq!(g["applications"], json!(["shop"]));
    let g = render(&sample(Event::PullRequest), Format::Generic);
    assert_eq!(
        (
            g["opened"].as_bool(),
            g["changes"][0]["application"].as_str()
        ),
        (Some(true), Some("shop"))
    );
    let g = render(&sample(Event::Failure), Format::Generic);
    assert_eq!(g["images"], json!(["shop/web"]));
}

#[test]
fn slack_keeps_its_wording() {
    let t = render(&sample(Event::Commit), Format::Slack)["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        t.starts_with("imagebump pushed `0123456789ab` to `main`:"),
        "{t}"
    );
    assert!(
        t.contains("• shop/web: `ghcr.io/acme/web:1.0.0` → `ghcr.io/acme/web:1.1.0`"),
        "{t}"
    );
    let t = render(&sample(Event::ConfigReloadFailed), Format::Slack)["text"].to_string();
    assert!(
        t.contains("config generation 2") && t.contains("unknown provider"),
        "{t}"
    );
    let t = render(&sample(Event::PullRequest), Format::Slack)["text"].to_string();
    assert!(
        t.contains("opened pull request https://git.example.com/acme/fleet/pulls/7"),
        "{t}"
    );
}

#[test]
fn teams_is_a_message_with_an_adaptive_card() {
    let v = render(&sample(Event::PullRequest), Format::Teams);
    assert_eq!(v["type"], "message");
    let a = &v["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &a["content"];
    assert_eq!(
        (card["type"].as_str(), card["version"].as_str()),
        (Some("AdaptiveCard"), Some("1.4"))
    );
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert!(card["body"][0]["text"]
        .as_str()
        .unwrap()
        .contains("opened pull request"));
    assert_eq!(card["body"][1]["text"], "- shop/web: 1.0.0 → 1.1.0");
    assert_eq!(
        card["actions"][0]["url"],
        "https://git.example.com/acme/fleet/pulls/7"
    );
    let v = render(&sample(Event::Failure), Format::Teams);
    assert_eq!(
        v["attachments"][0]["content"]["body"][0]["color"],
        "Attention"
    );
    assert!(v["attachments"][0]["content"].get("actions").is_none());
}

#[test]
fn discord_has_content_and_an_embed_and_pings_nobody() {
    let v = render(&sample(Event::Commit), Format::Discord);
    assert_eq!(v["content"], "imagebump pushed 0123456789ab to main");
    assert_eq!(v["embeds"][0]["title"], v["content"]);
    assert!(v["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("shop/web: ghcr.io/acme/web:1.0.0 → ghcr.io/acme/web:1.1.0"));
    assert_eq!(v["allowed_mentions"]["parse"], json!([]));
    let long = Notice::Failure {
        error: "x".repeat(5000),
        images: vec![],
    };
    let v = render(&long, Format::Discord);
    assert_eq!(
        v["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        4096
    );
}

#[test]
fn google_chat_is_text() {
    let v = render(&sample(Event::Held), Format::GoogleChat);
    assert_eq!(
        v["text"],
        "*imagebump holds shop/web*\n• held: manual change in abc123"
    );
    assert_eq!(v.as_object().unwrap().len(), 1);
}

#[test]
fn filters_take_events_and_applications() {
    let f = Filter {
        events: vec![Event::Commit],
        applications: vec![],
    };
    assert!(f.apply(&sample(Event::Commit)).is_some());
    assert!(f.apply(&sample(Event::Held)).is_none());
    let f = Filter {
        events: vec![],
        applications: vec!["sh*".into()],
    };
    assert!(f.apply(&sample(Event::Held)).is_some());
    let f = Filter {
        events: vec![],
        applications: vec!["blog".into()],
    };
    assert!(f.apply(&sample(Event::Held)).is_none());
    assert!(f.apply(&sample(Event::Commit)).is_none());
    assert!(f.apply(&sample(Event::PullRequest)).is_none());
    assert!(f.apply(&sample(Event::Failure)).is_none());
    // Events of no application always pass.
    assert!(f.apply(&sample(Event::ConfigReloadFailed)).is_some());
    assert!(f.apply(&sample(Event::PolicyReloadFailed)).is_some());
    // A commit keeps only the matching applications' changes.
    let Notice::Commit {
        commit,
        branch,
        mut changes,
    } = sample(Event::Commit)
    else {
        unreachable!()
    };
    let mut other = changes[0].clone();
    other.owner = Some(crate::decision::ImageId::new("blog", "api"));
    changes.push(other);
    let both = Notice::Commit {
        commit,
        branch,
        changes,
    };
    let Some(Notice::Commit { changes, .. }) = f.apply(&both) else {
        panic!("kept")
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].owner.as_ref().unwrap().application, "blog");
}

#[test]
fn globs() {
    assert!(glob("*", "anything"));
    assert!(glob("shop-*", "shop-prod"));
    assert!(!glob("shop-*", "shop"));
    assert!(glob("a?c", "abc"));
    assert!(glob("*-prod", "web-prod"));
    assert!(!glob("*-prod", "web-dev"));
    assert!(glob("a*b*c", "aXXbYYc"));
    assert!(!glob("a*b*c", "aXXbYY"));
}

#[test]
fn names_are_checked() {
    assert_eq!(Event::parse("pull_request"), Ok(Event::PullRequest));
    assert!(Event::parse("commits")
        .unwrap_err()
        .contains("events are commit, pull_request"));
    assert_eq!(Format::parse("teams"), Ok(Format::Teams));
    assert!(Format::parse("msteams")
        .unwrap_err()
        .contains("teams, discord or googlechat"));
}

#[test]
fn body_templates_are_checked_and_see_every_event() {
    assert!(check_body(r#"{"msg": "{{ text }}", "e": "{{ event }}"}"#).is_ok());
    assert!(check_body("{{ evnt }}")
        .unwrap_err()
        .contains("unknown variable `evnt`"));
    assert!(check_body("{% for c in changes %}{{ c.nope }}{% endfor %}").is_err());
    let out = render_body(
        r#"{{ event }}:{{ url }}:{{ opened | tojson }}"#,
        &sample(Event::PullRequest),
    )
    .unwrap();
    assert_eq!(
        out,
        "pull_request:https://git.example.com/acme/fleet/pulls/7:true"
    );
    let out = render_body(r#"{"t": {{ text | tojson }}}"#, &sample(Event::Failure)).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["t"],
        "imagebump cannot write to git\npush refused\nimages: shop/web"
    );
    let out = render_body("{{ text }}", &sample(Event::Failure)).unwrap();
    assert_eq!(
        out,
        "imagebump cannot write to git\npush refused\nimages: shop/web"
    );
}
