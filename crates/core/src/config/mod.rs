//! Versioned YAML configuration under one directory: `providers/`, `harnesses/`, `variants/`,
//! `experiments/`, `task-cards/`, one entity per file.

mod fingerprint;
pub mod retention;
pub mod template;
mod types;
mod validate;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use fingerprint::{canonical_json, fingerprint};
pub use types::*;
pub use validate::surfaces_compatible;

use crate::diag::Problem;
use crate::yaml::{self, Doc};

/// Files larger than this are refused (configs are small; this bounds hostile input).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// One config entity and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub file: PathBuf,
    pub doc: Doc,
    pub value: T,
}

impl<T> Loaded<T> {
    /// A problem located at `field` in this entity's file.
    pub fn problem(
        &self,
        field: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Problem {
        Problem::new(&self.file, field, message, fix).at_line(self.doc.line_of(field))
    }
}

/// Every loaded config entity.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub dir: PathBuf,
    pub providers: Vec<Loaded<Provider>>,
    pub harnesses: Vec<Loaded<HarnessProfile>>,
    pub variants: Vec<Loaded<Variant>>,
    pub experiments: Vec<Loaded<Experiment>>,
    pub task_cards: Vec<Loaded<TaskCard>>,
    pub suites: Vec<Loaded<Suite>>,
}

/// A variant with everything it references resolved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResolvedVariant<'a> {
    pub variant: &'a Variant,
    pub provider: &'a Provider,
    pub harness: &'a HarnessProfile,
    pub upstream_model: &'a str,
    pub config_fingerprint: String,
}

fn find<'a, T>(items: &'a [Loaded<T>], name: &str, get: impl Fn(&T) -> &str) -> Option<&'a T> {
    items.iter().map(|l| &l.value).find(|v| get(v) == name)
}

impl Registry {
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        find(&self.providers, name, |p| &p.name)
    }
    pub fn harness(&self, name: &str) -> Option<&HarnessProfile> {
        find(&self.harnesses, name, |p| &p.name)
    }
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        find(&self.variants, name, |p| &p.name)
    }
    pub fn experiment(&self, name: &str) -> Option<&Experiment> {
        find(&self.experiments, name, |p| &p.name)
    }
    /// The experiment, or the not-found error that lists the known ones.
    pub fn experiment_or_err(&self, name: &str) -> Result<&Experiment, crate::Error> {
        self.experiment(name).ok_or_else(|| crate::Error::NotFound {
            kind: "experiment",
            name: name.to_string(),
            known: self
                .experiments
                .iter()
                .map(|l| l.value.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
    pub fn task_card(&self, name: &str) -> Option<&TaskCard> {
        find(&self.task_cards, name, |p| &p.name)
    }
    pub fn suite(&self, name: &str) -> Option<&Suite> {
        find(&self.suites, name, |p| &p.name)
    }
    /// The suite, or the not-found error that lists the known ones.
    pub fn suite_or_err(&self, name: &str) -> Result<&Suite, crate::Error> {
        self.suite(name).ok_or_else(|| crate::Error::NotFound {
            kind: "suite",
            name: name.to_string(),
            known: self
                .suites
                .iter()
                .map(|l| l.value.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Resolve a variant's references and compute its fingerprint.
    pub fn resolve(&self, variant: &str) -> Option<ResolvedVariant<'_>> {
        let variant = self.variant(variant)?;
        let provider = self.provider(&variant.provider)?;
        let harness = self.harness(&variant.harness_profile)?;
        let upstream_model = provider
            .model(&variant.model_alias)?
            .upstream_model
            .as_str();
        let config_fingerprint = fingerprint(variant, provider, harness);
        Some(ResolvedVariant {
            variant,
            provider,
            harness,
            upstream_model,
            config_fingerprint,
        })
    }

    /// Load every config file under `dir` and validate the whole set. Returns the registry even
    /// when there are problems (so callers can show everything), plus all problems found.
    pub fn load(dir: &Path) -> (Registry, Vec<Problem>) {
        Registry::load_with_draft(dir, None)
    }

    /// As [`Registry::load`], but with `draft = (file, text)` standing in for that file's
    /// contents (or added, for a new file): what the editor validates while the user types.
    pub fn load_with_draft(dir: &Path, draft: Option<(&Path, &str)>) -> (Registry, Vec<Problem>) {
        let mut reg = Registry {
            dir: dir.to_path_buf(),
            ..Registry::default()
        };
        let mut problems = Vec::new();
        if !dir.is_dir() {
            problems.push(Problem::new(
                dir,
                "",
                "config directory not found",
                "pass --config-dir DIR (or set STACKPERF_CONFIG_DIR) to a directory with providers/, harnesses/, variants/, experiments/ and task-cards/",
            ));
            return (reg, problems);
        }
        reg.providers = load_kind(dir, "providers", draft, &mut problems);
        reg.harnesses = load_kind(dir, "harnesses", draft, &mut problems);
        reg.variants = load_kind(dir, "variants", draft, &mut problems);
        reg.experiments = load_kind(dir, "experiments", draft, &mut problems);
        reg.task_cards = load_kind(dir, "task-cards", draft, &mut problems);
        reg.suites = load_kind(dir, "suites", draft, &mut problems);
        problems.extend(validate::validate(&reg));
        (reg, problems)
    }
}

fn load_kind<T: DeserializeOwned>(
    dir: &Path,
    sub: &str,
    draft: Option<(&Path, &str)>,
    problems: &mut Vec<Problem>,
) -> Vec<Loaded<T>> {
    let sub_dir = dir.join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sub_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    let draft = draft.filter(|(f, _)| f.parent() == Some(sub_dir.as_path()));
    if let Some((f, _)) = draft {
        if !files.iter().any(|p| p == f) {
            files.push(f.to_path_buf());
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        if std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) > MAX_FILE_BYTES {
            problems.push(Problem::new(
                &file,
                "",
                "file is larger than 1 MiB",
                "split it or remove what is not configuration",
            ));
            continue;
        }
        let from_disk = match draft {
            Some((f, text)) if f == file => Ok(text.to_string()),
            _ => std::fs::read_to_string(&file),
        };
        let text = match from_disk {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::new(
                    &file,
                    "",
                    format!("cannot read: {e}"),
                    "make the file readable UTF-8 text",
                ));
                continue;
            }
        };
        let doc = match yaml::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(
                    Problem::new(
                        &file,
                        "",
                        format!("YAML syntax error: {}", e.message),
                        "fix the YAML syntax at that line",
                    )
                    .at_line(Some(e.line)),
                );
                continue;
            }
        };
        let (value, found) = yaml::decode::<T>(&file, &doc);
        problems.extend(found);
        if let Some(value) = value {
            out.push(Loaded { file, doc, value });
        }
    }
    out
}

/// Refuse a harness/provider pair that cannot work through LiteLLM.
pub fn validate_surfaces(
    harness: &HarnessProfile,
    provider: &Provider,
) -> Result<(), crate::Error> {
    validate::surfaces_compatible(harness.protocol_surface, provider.protocol_surface).map_err(
        |why| {
            crate::Error::Invalid(format!(
                "harness `{}` ({}) cannot use provider `{}` ({}): {why}",
                harness.name,
                harness.protocol_surface.as_str(),
                provider.name,
                provider.protocol_surface.as_str()
            ))
        },
    )
}
