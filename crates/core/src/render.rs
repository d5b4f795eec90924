//! Rendering a harness environment for one session: the harness's own variable names, the
//! variant's overrides, benchmark tags where the harness carries them, and the files some
//! harnesses need (Codex `config.toml`, OpenCode JSON, Gemini `settings.json`). The session key
//! appears only in environment values; files refer to it by variable name (validation enforces it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::config::template;
use crate::config::{FileFormat, HarnessProfile, Provider, RenderFormat, Variant};
use crate::secrets::Secret;
use crate::{io_err, Error};

/// What a session's harness needs.
pub struct RenderInput<'a> {
    pub harness: &'a HarnessProfile,
    pub variant: &'a Variant,
    pub provider: &'a Provider,
    pub session_id: &'a str,
    pub experiment: &'a str,
    pub task_card: &'a str,
    /// The proxy's origin, e.g. `http://127.0.0.1:4000`.
    pub proxy_url: &'a str,
    pub session_dir: &'a Path,
    pub api_key: &'a Secret,
    /// Add the harness's isolation variables (its state lives in the session folder).
    pub isolated: bool,
}

/// A file to write for the harness.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub content: String,
}

/// A variable's value: the session key (or any value made from it) is a [`Secret`] that never
/// prints; everything else is plain text.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Plain(String),
    Secret(Secret),
}

impl EnvValue {
    /// The value itself (for the harness's environment and the user's own copy of it).
    pub fn expose(&self) -> &str {
        match self {
            EnvValue::Plain(v) => v,
            EnvValue::Secret(s) => s.expose(),
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, EnvValue::Secret(_))
    }
}

/// The rendered environment. It holds the session key (as a [`Secret`]), so it is never
/// serialized as a whole: [`Rendered::format`] writes it for the user, [`Rendered::redacted`]
/// for everything else.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Variables in a stable order (base URL, key, model, then the rest by name).
    pub env: Vec<(String, EnvValue)>,
    pub files: Vec<RenderedFile>,
    pub launch_command: Option<String>,
    pub launch_checks: Vec<String>,
    pub default_format: RenderFormat,
    /// The variable holding the key (its value is redacted in `redacted()`).
    pub api_key_env: String,
}

fn render_value(
    v: &Value,
    vals: &BTreeMap<&str, String>,
) -> Result<Value, template::TemplateError> {
    Ok(match v {
        Value::String(s) => Value::String(template::render(s, vals)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_value(x, vals))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, x) in o {
                out.insert(template::render(k, vals)?, render_value(x, vals)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Render the environment and files (files are not written; see [`write_files`]).
pub fn render(input: &RenderInput<'_>) -> Result<Rendered, Error> {
    let h = input.harness;
    let v = input.variant;
    let mut tags: Vec<String> = v
        .benchmark_tags
        .iter()
        .map(|(k, val)| format!("{k}:{val}"))
        .collect();
    tags.push(format!("session:{}", input.session_id));
    let base_url = format!(
        "{}{}",
        input.proxy_url.trim_end_matches('/'),
        h.base_url_path
    );
    let session_dir = input.session_dir.display().to_string();
    let mut vals: BTreeMap<&str, String> = BTreeMap::from([
        ("base_url", base_url.clone()),
        (
            "proxy_url",
            input.proxy_url.trim_end_matches('/').to_string(),
        ),
        ("model_alias", v.model_alias.clone()),
        ("api_key_env", h.api_key_env.clone()),
        ("session_id", input.session_id.to_string()),
        ("session_dir", session_dir),
        ("experiment", input.experiment.to_string()),
        ("variant", v.name.clone()),
        ("task_card", input.task_card.to_string()),
        ("harness", h.name.clone()),
        ("provider", input.provider.name.clone()),
        ("tags_csv", tags.join(",")),
    ]);
    let bad = |what: &str, e: template::TemplateError| Error::Render(format!("{what}: {e}"));

    // Files first, without the key in scope, so a template cannot smuggle it into a file.
    let mut files = Vec::new();
    for f in &h.files {
        let rel = template::render(&f.path, &vals)
            .map_err(|e| bad(&format!("harness {} file path", h.name), e))?;
        let content = render_value(&f.content, &vals)
            .map_err(|e| bad(&format!("harness {} file {rel}", h.name), e))?;
        let text = match f.format {
            FileFormat::Json => serde_json::to_string_pretty(&content).unwrap_or_default() + "\n",
            FileFormat::Toml => toml::to_string_pretty(&content)
                .map_err(|e| Error::Render(format!("{rel}: cannot write TOML: {e}")))?,
            FileFormat::Text => content.as_str().unwrap_or_default().to_string(),
        };
        files.push(RenderedFile {
            path: input.session_dir.join(rel),
            content: text,
        });
    }

    vals.insert("api_key", input.api_key.expose().to_string());
    let mut env: Vec<(String, String)> = vec![
        (h.base_url_env.clone(), base_url),
        (h.api_key_env.clone(), input.api_key.expose().to_string()),
    ];
    if let Some(m) = &h.model_env {
        env.push((m.clone(), v.model_alias.clone()));
    }
    let mut rest: BTreeMap<String, String> = BTreeMap::new();
    for (k, t) in &h.extra_env {
        rest.insert(
            k.clone(),
            template::render(t, &vals)
                .map_err(|e| bad(&format!("harness {} extra_env.{k}", h.name), e))?,
        );
    }
    let isolation = h.isolation.as_ref().filter(|_| input.isolated);
    for (k, t) in isolation.iter().flat_map(|i| &i.env) {
        rest.insert(
            k.clone(),
            template::render(t, &vals)
                .map_err(|e| bad(&format!("harness {} isolation.env.{k}", h.name), e))?,
        );
    }
    for (k, t) in &v.harness_env_overrides {
        rest.insert(
            k.clone(),
            template::render(t, &vals)
                .map_err(|e| bad(&format!("variant {} override {k}", v.name), e))?,
        );
    }
    for (k, val) in rest {
        match env.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = val,
            None => env.push((k, val)),
        }
    }
    // Every value that holds the key (the key variable, or a template that embeds `{{api_key}}`).
    let key = input.api_key.expose();
    let env = env
        .into_iter()
        .map(|(k, v)| {
            let v = if !key.is_empty() && v.contains(key) {
                EnvValue::Secret(Secret::new(v))
            } else {
                EnvValue::Plain(v)
            };
            (k, v)
        })
        .collect();
    Ok(Rendered {
        env,
        files,
        launch_command: h.launch_command.clone(),
        launch_checks: h
            .launch_checks
            .iter()
            .map(|c| match &c.command {
                Some(cmd) => format!("{} — `{cmd}`", c.description),
                None => c.description.clone(),
            })
            .collect(),
        default_format: h.render_format,
        api_key_env: h.api_key_env.clone(),
    })
}

fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

fn dotenv_quote(v: &str) -> String {
    format!(
        "\"{}\"",
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('$', "\\$")
    )
}

impl Rendered {
    /// The environment in one of the output formats.
    pub fn format(&self, fmt: RenderFormat) -> String {
        match fmt {
            RenderFormat::Shell => self
                .env
                .iter()
                .map(|(k, v)| format!("export {k}={}\n", shell_quote(v.expose())))
                .collect(),
            RenderFormat::Dotenv => self
                .env
                .iter()
                .map(|(k, v)| format!("{k}={}\n", dotenv_quote(v.expose())))
                .collect(),
            RenderFormat::Json => {
                let env: serde_json::Map<String, Value> = self
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.expose().to_string())))
                    .collect();
                let files: Vec<String> = self
                    .files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect();
                serde_json::to_string_pretty(&serde_json::json!({"env": env, "files": files}))
                    .unwrap_or_default()
                    + "\n"
            }
            RenderFormat::Toml => {
                let mut out = String::from("[env]\n");
                for (k, v) in &self.env {
                    out.push_str(&format!(
                        "{k} = {}\n",
                        toml::Value::String(v.expose().to_string())
                    ));
                }
                out
            }
        }
    }

    /// The same environment with every value that holds the key replaced (for logs, the
    /// window and screenshots).
    pub fn redacted(&self) -> Rendered {
        let mut r = self.clone();
        for (_, v) in r.env.iter_mut() {
            if v.is_secret() {
                *v = EnvValue::Plain("<session key: stackperf session env ID>".into());
            }
        }
        r
    }

    /// The variables as the harness's process gets them.
    pub fn exposed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.expose()))
    }
}

/// Write the files into the session directory (directories 0700, files 0600).
pub fn write_files(rendered: &Rendered, session_dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(session_dir)
        .map_err(io_err(format!("create {}", session_dir.display())))?;
    for f in &rendered.files {
        if let Some(dir) = f.path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        std::fs::write(&f.path, &f.content)
            .map_err(io_err(format!("write {}", f.path.display())))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![session_dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Registry, ResolvedVariant, Variant};

    fn shipped() -> Registry {
        let (reg, p) = Registry::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"));
        assert!(p.is_empty(), "{p:?}");
        reg
    }

    fn render_variant(reg: &Registry, variant: &str) -> Rendered {
        render_isolated(reg, variant, false)
    }

    fn render_isolated(reg: &Registry, variant: &str, isolated: bool) -> Rendered {
        let r = reg.resolve(variant).unwrap();
        render_as(&r, r.variant, isolated)
    }

    /// `r`'s harness and provider with `variant` (the resolved one, or a changed copy of it).
    fn render_as(r: &ResolvedVariant, variant: &Variant, isolated: bool) -> Rendered {
        let key = Secret::new("sk-stackperf-session-abc123");
        render(&RenderInput {
            harness: r.harness,
            variant,
            provider: r.provider,
            session_id: "sess_1",
            experiment: "exp",
            task_card: "task",
            proxy_url: "http://127.0.0.1:4000",
            session_dir: Path::new("/data/sessions/sess_1"),
            api_key: &key,
            isolated,
        })
        .unwrap()
    }

    #[test]
    fn isolation_adds_the_profile_s_state_variables_only_when_asked_for() {
        let reg = shipped();
        let plain = render_isolated(&reg, "claude-code-sim-fast", false);
        assert!(!plain.env.iter().any(|(k, _)| k == "CLAUDE_CONFIG_DIR"));
        let iso = render_isolated(&reg, "claude-code-sim-fast", true);
        assert_eq!(
            env(&iso, "CLAUDE_CONFIG_DIR"),
            "/data/sessions/sess_1/claude"
        );
        let oc = render_isolated(&reg, "opencode-sim-fast", true);
        assert_eq!(
            env(&oc, "OPENCODE_DB"),
            "/data/sessions/sess_1/opencode/opencode.db"
        );
        for variant in [
            "claude-code-sim-fast",
            "opencode-sim-fast",
            "gemini-cli-sim-fast",
            "openhands-sim-fast",
            "codex-sim-fast",
        ] {
            for isolated in [false, true] {
                let r = render_isolated(&reg, variant, isolated);
                assert!(
                    !r.env.iter().any(|(k, _)| k == "HOME" || k == "PATH"),
                    "{variant}: {:?}",
                    r.env
                );
            }
        }
    }

    fn env<'a>(r: &'a Rendered, k: &str) -> &'a str {
        r.env
            .iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("{k} not rendered"))
            .1
            .expose()
    }

    #[test]
    fn claude_code_gets_its_own_variables_and_overrides() {
        let reg = shipped();
        let r = render_variant(&reg, "claude-code-sim-fast-betas-off");
        assert_eq!(env(&r, "ANTHROPIC_BASE_URL"), "http://127.0.0.1:4000");
        assert_eq!(
            env(&r, "ANTHROPIC_AUTH_TOKEN"),
            "sk-stackperf-session-abc123"
        );
        assert_eq!(env(&r, "ANTHROPIC_MODEL"), "sim-fast");
        assert_eq!(env(&r, "CLAUDE_CODE_SUBAGENT_MODEL"), "sim-fast");
        assert_eq!(env(&r, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"), "1");
        assert_eq!(
            env(&r, "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS"),
            "1",
            "variant override applied"
        );
        assert!(
            env(&r, "ANTHROPIC_CUSTOM_HEADERS").contains("config:betas-off")
                && env(&r, "ANTHROPIC_CUSTOM_HEADERS").contains("session:sess_1")
        );
        assert!(r.files.is_empty());
    }

    #[test]
    fn codex_and_opencode_get_files_that_name_the_key_variable_not_the_key() {
        let reg = shipped();
        let codex = render_variant(&reg, "codex-sim-fast");
        assert_eq!(env(&codex, "CODEX_HOME"), "/data/sessions/sess_1/codex");
        let toml_file = &codex.files[0];
        assert_eq!(
            toml_file.path,
            Path::new("/data/sessions/sess_1/codex/config.toml")
        );
        let parsed: toml::Value = toml::from_str(&toml_file.content).unwrap();
        assert_eq!(parsed["model_provider"].as_str(), Some("stackperf"));
        assert_eq!(
            parsed["model_providers"]["stackperf"]["base_url"].as_str(),
            Some("http://127.0.0.1:4000/v1")
        );
        assert_eq!(
            parsed["model_providers"]["stackperf"]["env_key"].as_str(),
            Some("STACKPERF_API_KEY")
        );
        assert_eq!(
            parsed["model_providers"]["stackperf"]["wire_api"].as_str(),
            Some("responses")
        );
        assert_eq!(
            parsed["model_providers"]["stackperf"]["request_max_retries"].as_integer(),
            Some(0)
        );
        assert!(!toml_file.content.contains("abc123"));

        let oc = render_variant(&reg, "opencode-sim-fast");
        let json: Value = serde_json::from_str(&oc.files[0].content).unwrap();
        assert_eq!(
            json["provider"]["stackperf"]["options"]["apiKey"],
            "{env:STACKPERF_API_KEY}"
        );
        assert!(
            json["provider"]["stackperf"]["models"]["sim-fast"].is_object(),
            "templated keys are rendered"
        );
        assert_eq!(json["model"], "stackperf/sim-fast");
        assert!(!oc.files[0].content.contains("abc123"));
    }

    #[cfg(unix)]
    #[test]
    fn session_files_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let reg = shipped();
        let dir = tempfile::tempdir().unwrap();
        let mut r = render_variant(&reg, "codex-sim-fast");
        let session_dir = dir.path().join("sessions/sess_1");
        for f in r.files.iter_mut() {
            f.path = session_dir.join(f.path.strip_prefix("/data/sessions/sess_1").unwrap());
        }
        write_files(&r, &session_dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&session_dir), 0o700);
        assert_eq!(mode(&session_dir.join("codex")), 0o700);
        assert_eq!(mode(&session_dir.join("codex/config.toml")), 0o600);
        assert!(
            !std::fs::read_to_string(session_dir.join("codex/config.toml"))
                .unwrap()
                .contains("abc123")
        );
    }

    #[test]
    fn formats_quote_safely_and_redaction_hides_the_key() {
        let reg = shipped();
        let r = render_variant(&reg, "sim-fast-oai");
        let shell = r.format(RenderFormat::Shell);
        assert!(shell.contains("export OPENAI_BASE_URL='http://127.0.0.1:4000/v1'\n"));
        assert!(r
            .format(RenderFormat::Dotenv)
            .contains("OPENAI_MODEL=\"sim-fast\"\n"));
        let j: Value = serde_json::from_str(&r.format(RenderFormat::Json)).unwrap();
        assert_eq!(j["env"]["OPENAI_API_KEY"], "sk-stackperf-session-abc123");
        assert!(toml::from_str::<toml::Value>(&r.format(RenderFormat::Toml)).is_ok());
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert!(!format!("{:?}", r.redacted().env).contains("abc123"));
    }

    /// The key is a `Secret` wherever it ends up in the environment (its own variable or a
    /// template that embeds it): Debug never prints it, redaction replaces every such value.
    #[test]
    fn every_value_that_holds_the_key_is_a_secret() {
        let reg = shipped();
        let r = reg.resolve("sim-fast-oai").unwrap();
        let mut variant = r.variant.clone();
        variant
            .harness_env_overrides
            .insert("EXTRA_AUTH".into(), "Bearer {{api_key}}".into());
        let rendered = render_as(&r, &variant, false);
        let secret: Vec<&str> = rendered
            .env
            .iter()
            .filter(|(_, v)| v.is_secret())
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(secret, ["OPENAI_API_KEY", "EXTRA_AUTH"]);
        assert!(!format!("{rendered:?}").contains("abc123"));
        assert_eq!(
            env(&rendered, "EXTRA_AUTH"),
            "Bearer sk-stackperf-session-abc123"
        );
        let shown = rendered.redacted().format(RenderFormat::Shell);
        assert!(!shown.contains("abc123"), "{shown}");
        assert!(shown.contains("EXTRA_AUTH="), "{shown}");
    }
}
