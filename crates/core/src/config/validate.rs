//! Cross-file validation (docs/configuration.md): references, names, protocol combinations, templates, tags.

use std::collections::{BTreeMap, HashMap};

use super::template::{self, SECRET_VARIABLES};
use super::{FileFormat, Loaded, Registry, Surface};
use crate::diag::Problem;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && name.len() <= 64
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn looks_like_secret(v: &str) -> bool {
    v.starts_with("sk-")
        || v.starts_with("AIza")
        || (v.len() >= 32 && !v.contains('_') && v.chars().any(|c| c.is_ascii_digit()))
}

/// Whether a harness speaking `harness` can reach an upstream serving `provider` through LiteLLM.
pub fn surfaces_compatible(harness: Surface, provider: Surface) -> Result<(), &'static str> {
    match (harness, provider) {
        (Surface::AnthropicMessages, Surface::OpenaiChat) => Err(
            "LiteLLM forwards /v1/messages for an OpenAI-type model to the upstream's /v1/responses, which a chat-only upstream does not serve",
        ),
        _ => Ok(()),
    }
}

fn check_names<T>(
    items: &[Loaded<T>],
    kind: &str,
    name: impl Fn(&T) -> &str,
    out: &mut Vec<Problem>,
) {
    let mut seen: HashMap<&str, &Loaded<T>> = HashMap::new();
    for item in items {
        let n = name(&item.value);
        if !valid_name(n) {
            out.push(item.problem("name", format!("`{n}` is not a valid {kind} name"), "use lowercase letters, digits, `-`, `_` or `.` (at most 64 characters), starting with a letter or digit"));
        }
        if let Some(first) = seen.get(n) {
            out.push(item.problem(
                "name",
                format!(
                    "duplicate {kind} name `{n}` (also defined in {})",
                    first.file.display()
                ),
                "give each one a unique name",
            ));
        } else {
            seen.insert(n, item);
        }
    }
}

fn check_template<T>(
    item: &Loaded<T>,
    field: &str,
    value: &str,
    in_file: bool,
    out: &mut Vec<Problem>,
) {
    match template::check(value) {
        Err(e) => out.push(item.problem(field, e.to_string(), "use one of the known variables, written as `{{ name }}`")),
        Ok(vars) if in_file && vars.iter().any(|v| SECRET_VARIABLES.contains(&v.as_str())) => out.push(item.problem(
            field,
            "a file must not contain the session key itself",
            "refer to the key by variable name, e.g. `{{ api_key_env }}`, and let the harness read it from the environment",
        )),
        Ok(_) => {}
    }
}

fn check_env_map<T>(
    item: &Loaded<T>,
    field: &str,
    map: &BTreeMap<String, String>,
    out: &mut Vec<Problem>,
) {
    for (k, v) in map {
        let f = format!("{field}.{k}");
        if !valid_env_name(k) {
            out.push(item.problem(
                &f,
                format!("`{k}` is not a valid environment variable name"),
                "use letters, digits and `_`, not starting with a digit",
            ));
        }
        if SHELL_ENV.contains(&k.as_str()) {
            out.push(item.problem(
                &f,
                format!("`{k}` must not be set: the operator evaluates this environment in their own shell (`eval \"$(stackperf session env …)\"`), and `{k}` would change for the whole shell, not just the harness"),
                "point the harness at its settings with its own variable (e.g. GEMINI_CLI_SYSTEM_SETTINGS_PATH, CODEX_HOME, OPENCODE_CONFIG) instead",
            ));
        }
        check_template(item, &f, v, false, out);
    }
}

/// Variables a rendered environment must not set: evaluated in the operator's shell, they would
/// change it for everything run there afterwards.
const SHELL_ENV: &[&str] = &[
    "HOME",
    "PATH",
    "SHELL",
    "USER",
    "LOGNAME",
    "PWD",
    "TMPDIR",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
];

/// Every cross-file and value problem in the registry.
pub fn validate(reg: &Registry) -> Vec<Problem> {
    let mut out = Vec::new();
    check_names(&reg.providers, "provider", |p| &p.name, &mut out);
    check_names(&reg.harnesses, "harness profile", |p| &p.name, &mut out);
    check_names(&reg.variants, "variant", |p| &p.name, &mut out);
    check_names(&reg.experiments, "experiment", |p| &p.name, &mut out);
    check_names(&reg.task_cards, "task card", |p| &p.name, &mut out);
    check_names(&reg.suites, "suite", |p| &p.name, &mut out);

    let mut aliases: HashMap<&str, &str> = HashMap::new();
    let mut routes: HashMap<&str, &str> = HashMap::new();
    for item in &reg.providers {
        let p = &item.value;
        match (&p.upstream_base_url, &p.upstream_base_url_env) {
            (Some(_), Some(_)) => out.push(item.problem(
                "upstream_base_url",
                "both upstream_base_url and upstream_base_url_env are set",
                "keep exactly one of them",
            )),
            (None, None) => out.push(item.problem(
                "upstream_base_url",
                "no upstream address",
                "set upstream_base_url (e.g. https://api.example.com/v1) or upstream_base_url_env",
            )),
            (Some(url), None) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                out.push(item.problem(
                    "upstream_base_url",
                    format!("`{url}` is not an http(s) URL"),
                    "start it with http:// or https://",
                ))
            }
            (None, Some(env)) if !valid_env_name(env) => out.push(item.problem(
                "upstream_base_url_env",
                format!("`{env}` is not a valid environment variable name"),
                "name the variable that holds the URL",
            )),
            _ => {}
        }
        if let Some(key) = &p.api_key_env {
            if looks_like_secret(key) {
                out.push(item.problem("api_key_env", "this looks like a key itself, not the name of one", "write the secret's name (e.g. OPENAI_API_KEY) and store the value with `stackperf secrets set`"));
            } else if !valid_env_name(key) {
                out.push(item.problem(
                    "api_key_env",
                    format!("`{key}` is not a valid secret name"),
                    "use letters, digits and `_`",
                ));
            }
        }
        if p.litellm_provider
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            out.push(item.problem(
                "litellm_provider",
                "must not be empty",
                "remove it or name LiteLLM's provider prefix, e.g. `openai`",
            ));
        }
        if p.routing_defaults.timeout_seconds == Some(0) {
            out.push(item.problem(
                "routing_defaults.timeout_seconds",
                "must be greater than 0",
                "use a timeout in seconds, e.g. 600",
            ));
        }
        if let Some(first) = routes.insert(&p.route_name, &p.name) {
            out.push(item.problem(
                "route_name",
                format!(
                    "route `{}` is also used by provider `{first}`",
                    p.route_name
                ),
                "give each provider its own route name",
            ));
        }
        if p.models.is_empty() {
            out.push(item.problem(
                "models",
                "no models",
                "list at least one `{alias, upstream_model}`",
            ));
        }
        for (i, m) in p.models.iter().enumerate() {
            let f = format!("models[{i}].alias");
            if !valid_name(&m.alias) {
                out.push(item.problem(
                    &f,
                    format!("`{}` is not a valid model alias", m.alias),
                    "use lowercase letters, digits, `-`, `_` or `.`",
                ));
            }
            if m.upstream_model.trim().is_empty() {
                out.push(item.problem(
                    &format!("models[{i}].upstream_model"),
                    "must not be empty",
                    "name the model as the upstream knows it",
                ));
            }
            if let Some(price) = &m.price {
                let prices = [
                    ("input_per_mtok", Some(price.input_per_mtok)),
                    ("output_per_mtok", Some(price.output_per_mtok)),
                    ("cached_input_per_mtok", price.cached_input_per_mtok),
                    ("cache_write_per_mtok", price.cache_write_per_mtok),
                ];
                for (name, v) in prices {
                    if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                        out.push(item.problem(
                            &format!("models[{i}].price.{name}"),
                            "must be a price of 0 or more (US dollars per million tokens)",
                            "e.g. `input_per_mtok: 3.0`",
                        ));
                    }
                }
            }
            if let Some(first) = aliases.insert(&m.alias, &p.name) {
                out.push(item.problem(&f, format!("alias `{}` is also exposed by provider `{first}`", m.alias), "aliases must be unique across providers, or the proxy would silently spread traffic over both"));
            }
        }
    }

    for item in &reg.harnesses {
        let h = &item.value;
        for (field, v) in [
            ("base_url_env", Some(&h.base_url_env)),
            ("api_key_env", Some(&h.api_key_env)),
            ("model_env", h.model_env.as_ref()),
        ] {
            if let Some(v) = v {
                if !valid_env_name(v) {
                    out.push(item.problem(
                        field,
                        format!("`{v}` is not a valid environment variable name"),
                        "use letters, digits and `_`, not starting with a digit",
                    ));
                }
            }
        }
        if !(h.base_url_path.is_empty() || h.base_url_path.starts_with('/')) {
            out.push(item.problem("base_url_path", "must start with `/`", "e.g. `/v1`"));
        }
        check_env_map(item, "extra_env", &h.extra_env, &mut out);
        if let Some(iso) = &h.isolation {
            check_env_map(item, "isolation.env", &iso.env, &mut out);
        }
        if let Some(hl) = &h.headless {
            check_env_map(item, "headless.env", &hl.env, &mut out);
            if hl.argv.first().is_none_or(|a| a.trim().is_empty()) {
                out.push(item.problem(
                    "headless.argv",
                    "must name the program to run",
                    "e.g. `argv: [claude, -p, \"{{ prompt }}\"]`",
                ));
            }
            for (i, a) in hl.argv.iter().enumerate() {
                check_template(item, &format!("headless.argv[{i}]"), a, false, &mut out);
            }
        }
        for (i, file) in h.files.iter().enumerate() {
            let f = format!("files[{i}]");
            check_template(item, &format!("{f}.path"), &file.path, true, &mut out);
            if file.path.starts_with('/')
                || file.path.split('/').any(|s| s == "..")
                || file.path.trim().is_empty()
            {
                out.push(item.problem(
                    &format!("{f}.path"),
                    "must be a relative path inside the session directory",
                    "e.g. `codex/config.toml`",
                ));
            }
            let mut strings = Vec::new();
            template::strings_in(&file.content, &format!("{f}.content"), &mut strings);
            for (path, s) in strings {
                check_template(item, &path, &s, true, &mut out);
            }
            match (file.format, &file.content) {
                (FileFormat::Text, serde_json::Value::String(_)) => {}
                (FileFormat::Text, _) => out.push(item.problem(
                    &format!("{f}.content"),
                    "a text file's content must be a string",
                    "use `content: |` followed by the text",
                )),
                (FileFormat::Json | FileFormat::Toml, serde_json::Value::Object(_)) => {}
                (_, _) => out.push(item.problem(
                    &format!("{f}.content"),
                    "a json/toml file's content must be a mapping",
                    "write the file's fields as a YAML mapping",
                )),
            }
        }
    }

    for item in &reg.variants {
        let v = &item.value;
        let provider = reg.provider(&v.provider);
        let harness = reg.harness(&v.harness_profile);
        match provider {
            None => out.push(item.problem(
                "provider",
                format!("provider `{}` is not defined", v.provider),
                format!(
                    "add providers/{}.yaml or use one of: {}",
                    v.provider,
                    names(&reg.providers, |p| &p.name)
                ),
            )),
            Some(p) => {
                if p.route_name != v.provider_route {
                    out.push(item.problem(
                        "provider_route",
                        format!(
                            "provider `{}` has route `{}`, not `{}`",
                            p.name, p.route_name, v.provider_route
                        ),
                        format!("set provider_route: {}", p.route_name),
                    ));
                }
                if p.model(&v.model_alias).is_none() {
                    let known: Vec<&str> = p.models.iter().map(|m| m.alias.as_str()).collect();
                    out.push(item.problem(
                        "model_alias",
                        format!("provider `{}` exposes no model `{}`", p.name, v.model_alias),
                        format!("use one of: {}", known.join(", ")),
                    ));
                }
            }
        }
        match harness {
            None => out.push(item.problem(
                "harness_profile",
                format!("harness profile `{}` is not defined", v.harness_profile),
                format!(
                    "add harnesses/{}.yaml or use one of: {}",
                    v.harness_profile,
                    names(&reg.harnesses, |p| &p.name)
                ),
            )),
            Some(h) => {
                if let Some(p) = provider {
                    if let Err(why) = surfaces_compatible(h.protocol_surface, p.protocol_surface) {
                        out.push(item.problem(
                            "harness_profile",
                            format!(
                                "harness `{}` ({}) cannot use provider `{}` ({}): {why}",
                                h.name,
                                h.protocol_surface.as_str(),
                                p.name,
                                p.protocol_surface.as_str()
                            ),
                            "pick a provider whose protocol surface the harness can reach",
                        ));
                    }
                }
            }
        }
        for tag in ["provider", "model", "harness"] {
            if !v.benchmark_tags.contains_key(tag) {
                out.push(item.problem(
                    "benchmark_tags",
                    format!("missing the `{tag}` tag"),
                    format!("add `{tag}: ...` under benchmark_tags"),
                ));
            }
        }
        for (k, val) in &v.benchmark_tags {
            if k.contains([',', ':']) || val.contains(',') || val.trim().is_empty() {
                out.push(item.problem(&format!("benchmark_tags.{k}"), "tag keys may not contain `,` or `:` and values may not contain `,` or be empty", "use short plain words"));
            }
        }
        check_env_map(
            item,
            "harness_env_overrides",
            &v.harness_env_overrides,
            &mut out,
        );
    }

    for item in &reg.experiments {
        let e = &item.value;
        if e.variants.is_empty() {
            out.push(item.problem(
                "variants",
                "an experiment needs at least one variant",
                "list the variants to compare",
            ));
        }
        let mut seen = Vec::new();
        for (i, v) in e.variants.iter().enumerate() {
            if reg.variant(v).is_none() {
                out.push(item.problem(
                    &format!("variants[{i}]"),
                    format!("variant `{v}` is not defined"),
                    format!(
                        "add variants/{v}.yaml or use one of: {}",
                        names(&reg.variants, |p| &p.name)
                    ),
                ));
            }
            if seen.contains(&v) {
                out.push(item.problem(
                    &format!("variants[{i}]"),
                    format!("variant `{v}` is listed twice"),
                    "list each variant once",
                ));
            }
            seen.push(v);
        }
        if let Some(s) = &e.suite {
            if reg.suite(s).is_none() {
                out.push(item.problem(
                    "suite",
                    format!("suite `{s}` is not defined"),
                    format!(
                        "add suites/{s}.yaml or use one of: {}",
                        names(&reg.suites, |p| &p.name)
                    ),
                ));
            }
        }
    }
    validate_suites(reg, &mut out);

    for item in &reg.task_cards {
        let t = &item.value;
        for (field, v) in [
            ("stop_condition", &t.stop_condition),
            ("goal", &t.goal),
            ("starting_prompt", &t.starting_prompt),
            ("repo_path", &t.repo_path),
        ] {
            if v.trim().is_empty() {
                out.push(item.problem(
                    field,
                    "must not be empty",
                    format!("write the task card's {}", field.replace('_', " ")),
                ));
            }
        }
        if t.session_timebox_minutes == 0 {
            out.push(item.problem(
                "session_timebox_minutes",
                "must be greater than 0",
                "give the session a timebox in minutes, e.g. 30",
            ));
        }
    }
    out
}

/// A suite names task cards that exist, each once, with positive weights.
fn validate_suites(reg: &Registry, out: &mut Vec<Problem>) {
    for item in &reg.suites {
        let s = &item.value;
        if s.tasks.is_empty() {
            out.push(item.problem(
                "tasks",
                "a suite needs at least one task",
                "list its task cards under `tasks:` (`- task_card: NAME`)",
            ));
        }
        let mut seen = Vec::new();
        for (i, t) in s.tasks.iter().enumerate() {
            let field = format!("tasks[{i}].task_card");
            if reg.task_card(&t.task_card).is_none() {
                out.push(item.problem(
                    &field,
                    format!("task card `{}` is not defined", t.task_card),
                    format!(
                        "add task-cards/{}.yaml or use one of: {}",
                        t.task_card,
                        names(&reg.task_cards, |p| &p.name)
                    ),
                ));
            }
            if seen.contains(&&t.task_card) {
                out.push(item.problem(
                    &field,
                    format!("task card `{}` is listed twice", t.task_card),
                    "list each task card once (repetitions come from --repeat)",
                ));
            }
            seen.push(&t.task_card);
            if t.weight.is_some_and(|w| !(w.is_finite() && w > 0.0)) {
                out.push(item.problem(
                    &format!("tasks[{i}].weight"),
                    "must be a number greater than 0",
                    "give the task a positive weight, or leave it out (1)",
                ));
            }
        }
    }
}

fn names<T>(items: &[Loaded<T>], name: impl Fn(&T) -> &str) -> String {
    let v: Vec<&str> = items.iter().map(|l| name(&l.value)).collect();
    if v.is_empty() {
        "(none defined)".into()
    } else {
        v.join(", ")
    }
}
