//! Benchmark sessions (docs/sessions.md): created before any harness traffic, with a session-scoped proxy
//! key, the rendered harness environment and the repository's git state; finalized with a status,
//! outcome and notes, which revokes the key.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{validate_surfaces, Registry};
use crate::credentials::{CredentialIssuer, KeyMeta};
use crate::render::{self, RenderInput, Rendered};
use crate::secrets::{Secret, Secrets};
pub use crate::store::model::{SessionMode, SessionRow, SessionStatus};
use crate::store::{NewSession, Store};
use crate::timestamp::Timestamp;
use crate::{git, paths, Error};

/// Key validity beyond the task card's timebox.
const TTL_MARGIN: Duration = Duration::from_secs(30 * 60);

/// What `session create` needs.
#[derive(Debug, Clone)]
pub struct CreateSession {
    pub experiment: String,
    pub variant: String,
    pub task_card: String,
    pub harness: Option<String>,
    pub label: Option<String>,
    pub exploratory: bool,
    /// Keep the harness's own state (history, settings, caches) in the session folder
    /// (the profile's `isolation`); refused for a harness that has none.
    pub isolate: bool,
}

/// The longest operator label, outcome and notes accepted (characters).
pub const MAX_LABEL: usize = 200;
pub const MAX_OUTCOME: usize = 500;
pub const MAX_NOTES: usize = 20_000;

/// Refuse a free-text field longer than `max` characters, saying which and by how much.
pub fn check_text(field: &str, value: Option<&str>, max: usize) -> Result<(), Error> {
    match value.map(|v| v.chars().count()) {
        Some(n) if n > max => Err(Error::Invalid(format!(
            "the {field} is {n} characters long; at most {max} are accepted"
        ))),
        _ => Ok(()),
    }
}

/// How a session ends (what the operator records at finalize).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FinalStatus {
    Completed,
    Aborted,
    Invalid,
}

/// The session services. Keychain calls run on blocking threads.
pub struct Sessions {
    pub store: Store,
    pub data_dir: PathBuf,
    pub secrets: Arc<Secrets>,
    pub issuer: Arc<dyn CredentialIssuer>,
    /// The proxy's origin, e.g. `http://127.0.0.1:4000`.
    pub proxy_url: String,
    pub litellm_version: Option<String>,
}

fn key_name(session_id: &str) -> String {
    format!("STACKPERF_SESSION_KEY_{session_id}")
}

fn new_session_id() -> Result<String, Error> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b)
        .map_err(|e| Error::KeychainUnavailable(format!("no randomness: {e}")))?;
    Ok(format!(
        "sess_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

impl Sessions {
    async fn keychain<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Secrets) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        crate::secrets::blocking(self.secrets.clone(), f).await
    }

    /// One session.
    pub async fn get(&self, id: &str) -> Result<SessionRow, Error> {
        self.store
            .session(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "session",
                name: id.to_string(),
                known: "see `stackperf session list`".into(),
            })
    }

    /// Sessions, newest first, optionally of one experiment.
    pub async fn list(&self, experiment: Option<&str>) -> Result<Vec<SessionRow>, Error> {
        self.store.sessions(experiment).await
    }

    /// Create a session: validate, record, issue the key, render the environment.
    pub async fn create(
        &self,
        reg: &Registry,
        req: &CreateSession,
    ) -> Result<(SessionRow, Rendered), Error> {
        check_text("label", req.label.as_deref(), MAX_LABEL)?;
        let known = |names: Vec<&str>| names.join(", ");
        let exp = reg.experiment_or_err(&req.experiment)?;
        if !exp.variants.contains(&req.variant) {
            return Err(Error::Invalid(format!(
                "variant `{}` is not part of experiment `{}`; its variants are: {}",
                req.variant,
                req.experiment,
                exp.variants.join(", ")
            )));
        }
        let resolved = reg.resolve(&req.variant).ok_or_else(|| Error::NotFound {
            kind: "variant",
            name: req.variant.clone(),
            known: String::new(),
        })?;
        let task = reg
            .task_card(&req.task_card)
            .ok_or_else(|| Error::NotFound {
                kind: "task card",
                name: req.task_card.clone(),
                known: known(
                    reg.task_cards
                        .iter()
                        .map(|l| l.value.name.as_str())
                        .collect(),
                ),
            })?;
        let harness_name = req
            .harness
            .clone()
            .unwrap_or_else(|| resolved.harness.name.clone());
        let harness = reg.harness(&harness_name).ok_or_else(|| Error::NotFound {
            kind: "harness profile",
            name: harness_name.clone(),
            known: known(
                reg.harnesses
                    .iter()
                    .map(|l| l.value.name.as_str())
                    .collect(),
            ),
        })?;
        validate_surfaces(harness, resolved.provider)?;
        if req.isolate && harness.isolation.is_none() {
            return Err(Error::Invalid(format!(
                "harness profile `{harness_name}` has no `isolation` section, so its state cannot be kept per session; create the session without isolation, or add one to the profile (docs/configuration.md)"
            )));
        }

        self.store.sync_config(reg).await?;
        let variant_id = self
            .store
            .variant_id(&req.variant, &resolved.config_fingerprint)
            .await?;

        let repo = resolve_repo(&reg.dir, &task.repo_path);
        let g = git::inspect(&repo);
        let config_commit = git::inspect(&reg.dir).commit;
        let id = new_session_id()?;
        let now = Timestamp::now();
        self.store
            .insert_session(&NewSession {
                session_id: &id,
                experiment: &req.experiment,
                variant_id,
                task_card: &req.task_card,
                harness_profile: &harness_name,
                mode: if req.exploratory {
                    SessionMode::Exploratory
                } else {
                    SessionMode::Bounded
                },
                created_at: now,
                operator_label: req.label.as_deref(),
                repo_root: g.root.clone().or_else(|| Some(repo.display().to_string())),
                git_branch: g.branch.as_deref(),
                git_commit_sha: g.commit.as_deref(),
                git_dirty: g.dirty,
                notes: g.note.as_deref(),
                litellm_version: self.litellm_version.as_deref(),
                config_commit: config_commit.as_deref(),
                isolated: req.isolate,
                price: resolved
                    .provider
                    .model(&resolved.variant.model_alias)
                    .and_then(|m| m.price.as_ref()),
            })
            .await?;

        // The key exists only once the session row does: no harness traffic can precede it.
        let ttl = Duration::from_secs(u64::from(task.session_timebox_minutes) * 60) + TTL_MARGIN;
        let meta = KeyMeta {
            session_id: id.clone(),
            experiment: req.experiment.clone(),
            variant: req.variant.clone(),
            harness: harness_name.clone(),
            task_card: req.task_card.clone(),
            provider: resolved.variant.provider.clone(),
            models: vec![resolved.variant.model_alias.clone()],
        };
        let issued = match self.issue(&meta, ttl).await {
            Ok(k) => k,
            Err(err) => {
                let _ = self.store.session_not_issued(&id, &err.to_string()).await;
                return Err(err);
            }
        };
        self.store
            .session_activated(&id, &issued.alias, issued.expires_at)
            .await?;
        let rendered = self.render(
            reg,
            &id,
            &harness_name,
            &req.variant,
            &req.experiment,
            &req.task_card,
            &issued.key,
            req.isolate,
        )?;
        Ok((self.get(&id).await?, rendered))
    }

    async fn issue(
        &self,
        meta: &KeyMeta,
        ttl: Duration,
    ) -> Result<crate::credentials::IssuedKey, Error> {
        let issued = self.issuer.issue(meta, ttl)?;
        let name = key_name(&meta.session_id);
        let value = issued.key.clone();
        if let Err(e) = self.keychain(move |s| s.set(&name, value)).await {
            let _ = self.issuer.revoke(&issued.alias);
            return Err(e);
        }
        Ok(issued)
    }

    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        reg: &Registry,
        id: &str,
        harness: &str,
        variant: &str,
        experiment: &str,
        task_card: &str,
        key: &Secret,
        isolated: bool,
    ) -> Result<Rendered, Error> {
        let r = reg.resolve(variant).ok_or_else(|| Error::NotFound {
            kind: "variant",
            name: variant.into(),
            known: String::new(),
        })?;
        let h = reg.harness(harness).ok_or_else(|| Error::NotFound {
            kind: "harness profile",
            name: harness.into(),
            known: String::new(),
        })?;
        let dir = paths::session_dir(&self.data_dir, id);
        let rendered = render::render(&RenderInput {
            harness: h,
            variant: r.variant,
            provider: r.provider,
            session_id: id,
            experiment,
            task_card,
            proxy_url: &self.proxy_url,
            session_dir: &dir,
            api_key: key,
            isolated,
        })?;
        render::write_files(&rendered, &dir)?;
        Ok(rendered)
    }

    /// Render an active session's environment again (and rewrite its files).
    pub async fn env(&self, reg: &Registry, id: &str) -> Result<Rendered, Error> {
        let s = self.get(id).await?;
        if s.status != SessionStatus::Active {
            return Err(Error::SessionNotActive {
                id: id.to_string(),
                status: s.status.to_string(),
            });
        }
        let name = key_name(id);
        let key = self
            .keychain(move |sec| sec.resolve(&name))
            .await?
            .map(|(k, _)| k)
            .ok_or_else(|| Error::SessionKeyLost(id.to_string()))?;
        self.render(
            reg,
            id,
            &s.harness_profile,
            &s.variant,
            &s.experiment,
            &s.task_card,
            &key,
            s.isolated,
        )
    }

    /// End a session: record status, outcome and notes; revoke and delete its key.
    pub async fn finalize(
        &self,
        id: &str,
        status: FinalStatus,
        outcome: Option<&str>,
        notes: Option<&str>,
    ) -> Result<SessionRow, Error> {
        check_text("outcome", outcome, MAX_OUTCOME)?;
        check_text("notes", notes, MAX_NOTES)?;
        let status = SessionStatus::from(status);
        let s = self.get(id).await?;
        if s.status.is_final() {
            return Err(Error::SessionFinalized {
                id: id.to_string(),
                status: s.status.to_string(),
            });
        }
        if let Some(alias) = &s.proxy_key_alias {
            self.issuer.revoke(alias)?;
        }
        let name = key_name(id);
        self.keychain(move |sec| sec.delete(&name).map(|_| ()))
            .await?;
        let notes = match (s.notes.as_deref(), notes) {
            (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
            (a, b) => b.or(a).map(str::to_string),
        };
        self.store
            .session_finalized(id, status, outcome, notes.as_deref())
            .await?;
        self.get(id).await
    }
}

/// A task card's `repo_path`, relative to the project the config directory belongs to.
pub fn resolve_repo(config_dir: &Path, repo_path: &str) -> PathBuf {
    let p = Path::new(repo_path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let base = config_dir
        .canonicalize()
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join(p)
}

impl From<FinalStatus> for SessionStatus {
    fn from(f: FinalStatus) -> SessionStatus {
        match f {
            FinalStatus::Completed => SessionStatus::Completed,
            FinalStatus::Aborted => SessionStatus::Aborted,
            FinalStatus::Invalid => SessionStatus::Invalid,
        }
    }
}
