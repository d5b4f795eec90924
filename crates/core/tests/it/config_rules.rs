//! Every rejection rule of docs/configuration.md, each pinned to the file and field it must name.

use stackperf_core::config::Registry;

fn problems(overrides: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    crate::common::write_set(dir.path(), overrides);
    let (_, problems) = Registry::load(dir.path());
    problems
        .iter()
        .map(|p| p.to_string().replace(&dir.path().display().to_string(), ""))
        .collect()
}

fn assert_problem(overrides: &[(&str, &str)], needles: &[&str]) {
    let found = problems(overrides);
    assert!(
        found.iter().any(|p| needles.iter().all(|n| p.contains(n))),
        "no problem containing {needles:?}; got:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_baseline_and_the_shipped_configs_are_valid() {
    assert_eq!(problems(&[]), Vec::<String>::new());
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let (reg, problems) = Registry::load(&shipped);
    assert!(problems.is_empty(), "{problems:#?}");
    for h in [
        "claude-code",
        "codex",
        "opencode",
        "gemini-cli",
        "openhands",
        "openai-compatible",
    ] {
        assert!(reg.harness(h).is_some(), "missing harness {h}");
    }
    for p in ["sim", "openai", "anthropic", "fireworks", "openrouter"] {
        assert!(reg.provider(p).is_some(), "missing provider {p}");
    }
    for v in &reg.variants {
        assert!(reg.resolve(&v.value.name).is_some());
    }
}

#[test]
fn missing_references_are_named() {
    assert_problem(
        &[(
            "variants/v.yaml",
            &crate::common::VARIANT.replace("provider: p\n", "provider: q\n"),
        )],
        &["/variants/v.yaml:2: provider: provider `q` is not defined"],
    );
    assert_problem(
        &[(
            "variants/v.yaml",
            &crate::common::VARIANT.replace("harness_profile: h", "harness_profile: x"),
        )],
        &["v.yaml:5: harness_profile", "`x` is not defined"],
    );
    assert_problem(
        &[(
            "variants/v.yaml",
            &crate::common::VARIANT.replace("model_alias: m", "model_alias: zz"),
        )],
        &["v.yaml:4: model_alias", "no model `zz`", "use one of: m"],
    );
    assert_problem(
        &[(
            "variants/v.yaml",
            &crate::common::VARIANT.replace("provider_route: p", "provider_route: r"),
        )],
        &["provider_route", "set provider_route: p"],
    );
    assert_problem(
        &[("experiments/e.yaml", "name: e\nvariants: [v, w]\n")],
        &["e.yaml:2: variants[1]", "variant `w` is not defined"],
    );
    assert_problem(
        &[("experiments/e.yaml", "name: e\nvariants: []\n")],
        &["variants", "at least one variant"],
    );
}

#[test]
fn impossible_protocol_combinations_are_rejected() {
    let chat_provider = crate::common::PROVIDER.replace("openai_responses", "openai_chat");
    let messages_harness = crate::common::HARNESS.replace("openai_chat", "anthropic_messages");
    assert_problem(
        &[
            ("providers/p.yaml", &chat_provider),
            ("harnesses/h.yaml", &messages_harness),
        ],
        &["v.yaml", "harness_profile", "cannot use provider `p`"],
    );
}

#[test]
fn duplicate_names_are_rejected_with_both_files() {
    assert_problem(
        &[("variants/v2.yaml", crate::common::VARIANT)],
        &[
            "v2.yaml:1: name: duplicate variant name `v`",
            "variants/v.yaml",
        ],
    );
    let twin = crate::common::PROVIDER
        .replace("name: p", "name: p2")
        .replace("route_name: p", "route_name: p2");
    assert_problem(
        &[("providers/p2.yaml", &twin)],
        &[
            "p2.yaml",
            "models[0].alias",
            "alias `m` is also exposed by provider `p`",
        ],
    );
}

#[test]
fn unresolved_template_variables_are_rejected() {
    assert_problem(
        &[(
            "harnesses/h.yaml",
            &crate::common::HARNESS.replace("tags_csv", "tag_csv"),
        )],
        &["h.yaml:8: extra_env.TAGS: unknown template variable `tag_csv`"],
    );
    let overrides = format!(
        "{}harness_env_overrides:\n  X: \"{{{{ nope }}}}\"\n",
        crate::common::VARIANT
    );
    assert_problem(
        &[("variants/v.yaml", &overrides)],
        &["harness_env_overrides.X", "`nope`"],
    );
    let file = format!("{}files:\n  - path: c/config.toml\n    format: toml\n    content:\n      key: \"{{{{ api_key }}}}\"\n", crate::common::HARNESS);
    assert_problem(
        &[("harnesses/h.yaml", &file)],
        &["files[0].content.key", "must not contain the session key"],
    );
    let unclosed = format!(
        "{}files:\n  - path: \"{{{{ session_dir\"\n    format: text\n    content: x\n",
        crate::common::HARNESS
    );
    assert_problem(
        &[("harnesses/h.yaml", &unclosed)],
        &["files[0].path", "without a closing"],
    );
}

#[test]
fn a_rendered_env_may_not_move_the_operator_s_shell() {
    let home = crate::common::HARNESS.replace(
        "extra_env:\n",
        "extra_env:\n  HOME: \"{{ session_dir }}/home\"\n",
    );
    assert_problem(
        &[("harnesses/h.yaml", &home)],
        &["extra_env.HOME", "must not be set", "whole shell"],
    );
    let path = format!(
        "{}harness_env_overrides:\n  PATH: /tmp\n",
        crate::common::VARIANT
    );
    assert_problem(
        &[("variants/v.yaml", &path)],
        &["harness_env_overrides.PATH", "must not be set"],
    );
}

#[test]
fn task_cards_need_a_stop_condition() {
    assert_problem(
        &[(
            "task-cards/t.yaml",
            &crate::common::TASK.replace("stop_condition: done", "stop_condition: '  '"),
        )],
        &["t.yaml:5: stop_condition: must not be empty"],
    );
    assert_problem(
        &[(
            "task-cards/t.yaml",
            &crate::common::TASK.replace("stop_condition: done\n", ""),
        )],
        &["t.yaml", "stop_condition", "missing field"],
    );
}

#[test]
fn benchmark_tags_must_name_provider_model_and_harness() {
    for tag in ["provider", "model", "harness"] {
        let text =
            crate::common::VARIANT.replace(&format!("  {tag}: "), &format!("  other_{tag}: "));
        assert_problem(
            &[("variants/v.yaml", &text)],
            &["benchmark_tags", &format!("missing the `{tag}` tag")],
        );
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_rejected_all_at_once() {
    let text = crate::common::TASK.replace("goal: g", "gaol: g").replace(
        "session_timebox_minutes: 5",
        "session_timebox_minutes: soon",
    ) + "colour: red\n";
    let found = problems(&[("task-cards/t.yaml", &text)]);
    let joined = found.join("\n");
    assert!(
        joined.contains("t.yaml:3: gaol: unknown field (fix: did you mean `goal`?)"),
        "{joined}"
    );
    assert!(
        joined.contains("t.yaml:7: colour: unknown field"),
        "{joined}"
    );
    assert!(
        joined.contains("t.yaml:6: session_timebox_minutes: invalid type"),
        "{joined}"
    );
    assert_problem(
        &[(
            "providers/p.yaml",
            &crate::common::PROVIDER.replace("upstream_model: up-m", "upstream_modle: up-m"),
        )],
        &["p.yaml", "models[0]", "unknown field `upstream_modle`"],
    );
    assert_problem(
        &[(
            "providers/p.yaml",
            &crate::common::PROVIDER.replace(
                "protocol_surface: openai_responses",
                "protocol_surface: grpc",
            ),
        )],
        &["p.yaml:3: protocol_surface", "unknown variant `grpc`"],
    );
}

#[test]
fn provider_values_are_checked() {
    assert_problem(
        &[(
            "providers/p.yaml",
            &crate::common::PROVIDER.replace("api_key_env: P_KEY", "api_key_env: sk-abc123"),
        )],
        &["api_key_env", "looks like a key itself"],
    );
    assert_problem(
        &[(
            "providers/p.yaml",
            &crate::common::PROVIDER.replace("http://127.0.0.1:1/v1", "ftp://x"),
        )],
        &["upstream_base_url", "not an http(s) URL"],
    );
    let both =
        crate::common::PROVIDER.replace("api_key_env", "upstream_base_url_env: URL\napi_key_env");
    assert_problem(
        &[("providers/p.yaml", &both)],
        &["upstream_base_url", "both"],
    );
    assert_problem(&[("providers/p.yaml", "name: Bad Name\nroute_name: p\nprotocol_surface: openai_chat\nupstream_base_url: http://x\nmodels: []\n")], &["name", "not a valid provider name"]);
}

#[test]
fn syntax_errors_and_empty_files_name_file_and_line() {
    assert_problem(
        &[("variants/v.yaml", "name: v\n  bad: [\n")],
        &["v.yaml:", "YAML syntax error"],
    );
    assert_problem(
        &[("variants/v.yaml", "")],
        &["v.yaml:1", "found an empty file"],
    );
    assert_problem(
        &[("variants/v.yaml", "- a\n- b\n")],
        &["v.yaml:1", "not a mapping"],
    );
}
