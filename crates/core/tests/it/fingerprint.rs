//! The variant config fingerprint: stable under formatting, sensitive to every effective value.

use stackperf_core::config::Registry;

fn fp(overrides: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    crate::common::write_set(dir.path(), overrides);
    let (reg, problems) = Registry::load(dir.path());
    assert!(problems.is_empty(), "{problems:?}");
    reg.resolve("v").unwrap().config_fingerprint
}

#[test]
fn key_order_whitespace_comments_and_descriptions_do_not_change_it() {
    let base = fp(&[]);
    let reordered = "# a comment\nbenchmark_tags: {harness: h, model: m, provider: p}\nharness_profile: h\nmodel_alias:    m\nprovider_route: p\nprovider: p\nname: v\ndescription: words do not matter\n";
    assert_eq!(fp(&[("variants/v.yaml", reordered)]), base);
    let harness = crate::common::HARNESS.to_string() + "description: prose\nlaunch_checks:\n  - description: installed\n    command: h --version\n";
    assert_eq!(fp(&[("harnesses/h.yaml", &harness)]), base);
    assert!(base.starts_with("sha256:") && base.len() == 7 + 64);
}

#[test]
fn every_effective_value_changes_it() {
    let base = fp(&[]);
    let changes: Vec<(&str, String)> = vec![
        (
            "variants/v.yaml",
            crate::common::VARIANT.to_string() + "harness_env_overrides:\n  X: \"1\"\n",
        ),
        (
            "variants/v.yaml",
            crate::common::VARIANT.replace("harness: h", "harness: h\n  config: beta"),
        ),
        (
            "providers/p.yaml",
            crate::common::PROVIDER.replace("upstream_model: up-m", "upstream_model: up-m2"),
        ),
        (
            "providers/p.yaml",
            crate::common::PROVIDER.replace("127.0.0.1:1", "127.0.0.1:2"),
        ),
        (
            "providers/p.yaml",
            crate::common::PROVIDER.to_string() + "routing_defaults:\n  timeout_seconds: 5\n",
        ),
        (
            "harnesses/h.yaml",
            crate::common::HARNESS.replace("TAGS:", "TAGS2:"),
        ),
        (
            "harnesses/h.yaml",
            crate::common::HARNESS.replace("base_url_path: /v1", "base_url_path: /v2"),
        ),
    ];
    let mut seen = vec![base.clone()];
    for (file, text) in changes {
        let f = fp(&[(file, &text)]);
        assert!(
            !seen.contains(&f),
            "changing {file} to\n{text}\ndid not give a new fingerprint"
        );
        seen.push(f);
    }
}
