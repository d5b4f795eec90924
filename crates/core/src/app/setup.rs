//! Experiment setup: browse the YAML documents of the five config kinds, validate a draft while
//! the user types (against the whole set, so references are checked too), save it.

use std::path::{Path, PathBuf};
use strum::VariantArray;

use serde::{Deserialize, Serialize};

use super::App;
use crate::config::Registry;
use crate::{io_err, Error, Problem};

/// The five kinds of configuration, by directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::VariantArray)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ConfigKind {
    Providers,
    Harnesses,
    Variants,
    Experiments,
    TaskCards,
}

impl ConfigKind {
    /// The directory under the config dir.
    pub fn dir(self) -> &'static str {
        match self {
            ConfigKind::Providers => "providers",
            ConfigKind::Harnesses => "harnesses",
            ConfigKind::Variants => "variants",
            ConfigKind::Experiments => "experiments",
            ConfigKind::TaskCards => "task-cards",
        }
    }
}

/// One YAML document.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ConfigDoc {
    pub kind: ConfigKind,
    /// The file name (`sim-fast-oai.yaml`).
    pub file: String,
    /// The document's `name`, when it has one.
    pub name: Option<String>,
    pub text: String,
    pub problems: Vec<Problem>,
}

/// Everything the setup screen lists.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Catalog {
    pub config_dir: String,
    pub docs: Vec<ConfigDoc>,
    /// Problems not tied to one listed document (e.g. a missing directory).
    pub other_problems: Vec<Problem>,
}

/// A draft's validation.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DraftCheck {
    /// Problems in the draft itself (with line and field where known).
    pub problems: Vec<Problem>,
    /// Problems elsewhere that the draft causes or leaves (e.g. a variant naming a removed model).
    pub elsewhere: Vec<Problem>,
}

/// An experiment as the Session and Compare pickers offer it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ExperimentChoice {
    pub name: String,
    pub description: String,
    pub variants: Vec<String>,
    /// The suite its runs take by default.
    pub suite: Option<String>,
}

/// What can be picked: experiments (with their variants) and task cards.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Choices {
    pub experiments: Vec<ExperimentChoice>,
    pub task_cards: Vec<String>,
    /// Suites of task cards (`configs/suites/`).
    pub suites: Vec<String>,
    /// Configuration problems, if any (actions are refused until they are fixed).
    pub problems: Vec<Problem>,
    /// The formats each export offers, first = default.
    pub export_formats: Vec<ExportFormats>,
    /// The variants whose harness can keep its state per session, with what that means.
    pub isolation: Vec<IsolationChoice>,
}

/// Per-session isolation as the operator chooses it for one variant.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IsolationChoice {
    pub variant: String,
    pub harness: String,
    pub effect: String,
    pub gives_up: String,
}

/// The formats one kind of export can be written in.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ExportFormats {
    pub what: super::ExportWhat,
    pub formats: Vec<super::ExportFormat>,
}

/// `name.yaml` with a plain name: no directories, no hidden files.
fn check_file_name(file: &str) -> Result<(), Error> {
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"));
    let ok = stem.is_some_and(|s| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{file}` is not a config file name: use letters, digits, `-` or `_` and end in .yaml"
        )))
    }
}

fn doc_name(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix("name:")
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Every configured experiment with its variants.
pub(crate) fn experiment_choices(reg: &Registry) -> Vec<ExperimentChoice> {
    reg.experiments
        .iter()
        .map(|l| ExperimentChoice {
            name: l.value.name.clone(),
            description: l.value.description.clone(),
            variants: l.value.variants.clone(),
            suite: l.value.suite.clone(),
        })
        .collect()
}

impl App {
    /// The experiments, variants and task cards to pick from.
    pub fn choices(&self) -> Choices {
        let (reg, problems) = Registry::load(&self.paths.config_dir);
        Choices {
            experiments: experiment_choices(&reg),
            task_cards: reg
                .task_cards
                .iter()
                .map(|l| l.value.name.clone())
                .collect(),
            suites: reg.suites.iter().map(|l| l.value.name.clone()).collect(),
            isolation: reg
                .variants
                .iter()
                .filter_map(|l| {
                    let h = reg.harness(&l.value.harness_profile)?;
                    let iso = h.isolation.as_ref()?;
                    Some(IsolationChoice {
                        variant: l.value.name.clone(),
                        harness: h.name.clone(),
                        effect: iso.effect.clone(),
                        gives_up: iso.gives_up.clone(),
                    })
                })
                .collect(),
            problems,
            export_formats: super::ExportWhat::VARIANTS
                .iter()
                .copied()
                .map(|what| ExportFormats {
                    what,
                    formats: super::ExportFormat::fits(what).to_vec(),
                })
                .collect(),
        }
    }

    fn draft_path(&self, kind: ConfigKind, file: &str) -> Result<PathBuf, Error> {
        check_file_name(file)?;
        Ok(self.paths.config_dir.join(kind.dir()).join(file))
    }

    /// Every document of every kind with its problems.
    pub fn config_catalog(&self) -> Catalog {
        let dir = &self.paths.config_dir;
        let (_, problems) = Registry::load(dir);
        let mut docs = Vec::new();
        let mut claimed = vec![false; problems.len()];
        for &kind in ConfigKind::VARIANTS {
            let sub = dir.join(kind.dir());
            let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
                .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
            files.sort();
            for path in files {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let mine: Vec<Problem> = problems
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| same_file(&p.file, &path))
                    .map(|(i, p)| {
                        claimed[i] = true;
                        p.clone()
                    })
                    .collect();
                docs.push(ConfigDoc {
                    kind,
                    file: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    name: doc_name(&text),
                    text,
                    problems: mine,
                });
            }
        }
        Catalog {
            config_dir: dir.display().to_string(),
            docs,
            other_problems: problems
                .into_iter()
                .zip(claimed)
                .filter(|(_, c)| !c)
                .map(|(p, _)| p)
                .collect(),
        }
    }

    /// Validate a draft of `kind/file` against the whole configuration, without writing it.
    pub fn config_check(
        &self,
        kind: ConfigKind,
        file: &str,
        text: &str,
    ) -> Result<DraftCheck, Error> {
        let path = self.draft_path(kind, file)?;
        let (_, problems) = Registry::load_with_draft(&self.paths.config_dir, Some((&path, text)));
        let (problems, elsewhere) = problems
            .into_iter()
            .partition(|p| same_file(&p.file, &path));
        Ok(DraftCheck {
            problems,
            elsewhere,
        })
    }

    /// Write a draft that has no problems of its own (atomically; the old file stays on error).
    pub fn config_save(
        &self,
        kind: ConfigKind,
        file: &str,
        text: &str,
    ) -> Result<DraftCheck, Error> {
        let check = self.config_check(kind, file, text)?;
        if !check.problems.is_empty() {
            return Err(Error::Config(check.problems));
        }
        let path = self.draft_path(kind, file)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(io_err(format!("write {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io_err(format!("write {}", path.display())))?;
        Ok(check)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || (a.file_name() == b.file_name() && a.parent() == b.parent())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_leave_the_kind_directory() {
        assert!(check_file_name("sim-fast.yaml").is_ok());
        for bad in [
            "../x.yaml",
            "a/b.yaml",
            ".hidden.yaml",
            "x.txt",
            ".yaml",
            "",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_document_name_is_read_from_its_name_field() {
        assert_eq!(
            doc_name("name: sim\nroute_name: x\n").as_deref(),
            Some("sim")
        );
        assert_eq!(doc_name("name: \"quoted\"\n").as_deref(), Some("quoted"));
        assert_eq!(doc_name("models: []\n"), None);
    }
}
