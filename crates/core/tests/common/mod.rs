//! A minimal valid config set that tests modify one file at a time.

use std::path::Path;

pub const PROVIDER: &str = "name: p\nroute_name: p\nprotocol_surface: openai_responses\nupstream_base_url: http://127.0.0.1:1/v1\napi_key_env: P_KEY\nmodels:\n  - alias: m\n    upstream_model: up-m\n";
pub const HARNESS: &str = "name: h\nprotocol_surface: openai_chat\nbase_url_env: BASE\nbase_url_path: /v1\napi_key_env: KEY\nmodel_env: MODEL\nextra_env:\n  TAGS: \"{{ tags_csv }}\"\n";
pub const VARIANT: &str = "name: v\nprovider: p\nprovider_route: p\nmodel_alias: m\nharness_profile: h\nbenchmark_tags:\n  provider: p\n  model: m\n  harness: h\n";
pub const EXPERIMENT: &str = "name: e\nvariants: [v]\n";
pub const TASK: &str = "name: t\nrepo_path: .\ngoal: g\nstarting_prompt: s\nstop_condition: done\nsession_timebox_minutes: 5\n";

/// Write the baseline into `dir`, with `overrides` replacing files (`("variants/v.yaml", text)`).
pub fn write_set(dir: &Path, overrides: &[(&str, &str)]) {
    for (rel, text) in [
        ("providers/p.yaml", PROVIDER),
        ("harnesses/h.yaml", HARNESS),
        ("variants/v.yaml", VARIANT),
        ("experiments/e.yaml", EXPERIMENT),
        ("task-cards/t.yaml", TASK),
    ] {
        let text = overrides
            .iter()
            .find(|(r, _)| *r == rel)
            .map(|(_, t)| *t)
            .unwrap_or(text);
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    for (rel, text) in overrides {
        let path = dir.join(rel);
        if !path.exists() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
}
