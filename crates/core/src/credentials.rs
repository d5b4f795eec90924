//! Session-scoped proxy credentials.
//!
//! [`CredentialIssuer`] is the seam: [`RegistryIssuer`] (the native stack, no LiteLLM database)
//! keeps SHA-256 hashes, aliases, metadata and expiry in the JSON registry that LiteLLM's
//! `stackperf_auth` hook reads; a LiteLLM-virtual-key issuer (`/key/generate`, for a Compose stack
//! with its database) can implement the same trait.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::Secret;
use crate::timestamp::Timestamp;
use crate::{io_err, Error};

/// What a key carries into every request it authorizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub session_id: String,
    pub experiment: String,
    pub variant: String,
    pub harness: String,
    pub task_card: String,
    /// The variant's provider (a label of the edge's metrics).
    pub provider: String,
    /// The model aliases the key may call (the variant's); the edge refuses any other with 403.
    pub models: Vec<String>,
}

/// A freshly issued key. The value exists only here and in the keychain.
#[derive(Debug)]
pub struct IssuedKey {
    pub alias: String,
    pub key: Secret,
    pub expires_at: Timestamp,
}

/// Issues and revokes session keys.
pub trait CredentialIssuer: Send + Sync {
    fn issue(&self, meta: &KeyMeta, ttl: Duration) -> Result<IssuedKey, Error>;
    /// Revoke immediately; true when a live key was revoked.
    fn revoke(&self, alias: &str) -> Result<bool, Error>;
}

/// The alias of a session's key (it names the session, never the key).
pub fn alias_for(session_id: &str) -> String {
    format!("stackperf-{session_id}")
}

/// SHA-256 of a key, in hex (what LiteLLM logs as `user_api_key_hash`).
pub fn key_hash(key: &Secret) -> String {
    Sha256::digest(key.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

use stackperf_contract::registry::{
    KeyEntry as Entry, KeyKind, Registry as RegistryFile, REGISTRY_VERSION,
};

/// A usage key's expiry when it has none: far beyond any real date (Unix epoch seconds).
pub const NEVER_EXPIRES_S: f64 = 1e12;

/// What a usage key carries into the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageKeyMeta {
    pub alias: String,
    pub owner: String,
    /// `None` = every model.
    pub models: Option<Vec<String>>,
    /// `None` = never.
    pub expires_at: Option<Timestamp>,
}

/// The JSON registry the auth hook reads.
pub struct RegistryIssuer {
    path: PathBuf,
}

impl RegistryIssuer {
    pub fn new(path: &Path) -> Self {
        RegistryIssuer {
            path: path.to_path_buf(),
        }
    }

    /// Read-modify-write under an exclusive lock, replacing the file atomically.
    fn update<T>(&self, f: impl FnOnce(&mut RegistryFile) -> T) -> Result<T, Error> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".registry.lock"))
            .map_err(io_err("open the key registry lock"))?;
        lock.lock().map_err(io_err("lock the key registry"))?;
        let mut reg: RegistryFile = match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Io {
                context: format!(
                    "the key registry {} is damaged (move it aside to start over)",
                    self.path.display()
                ),
                source: std::io::Error::other(e),
            })?,
            Err(_) => RegistryFile {
                version: REGISTRY_VERSION,
                keys: BTreeMap::new(),
            },
        };
        let out = f(&mut reg);
        // Drop entries that expired more than a day ago; they can never authorize anything again.
        let horizon = Timestamp::now().secs() - 86_400.0;
        reg.keys.retain(|_, e| e.expires_at > horizon);
        let text = serde_json::to_string_pretty(&reg).unwrap_or_default();
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f =
                std::fs::File::create(&tmp).map_err(io_err(format!("write {}", tmp.display())))?;
            f.write_all(text.as_bytes())
                .map_err(io_err("write the key registry"))?;
            f.sync_all().map_err(io_err("sync the key registry"))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
        }
        std::fs::rename(&tmp, &self.path).map_err(io_err("replace the key registry"))?;
        Ok(out)
    }

    /// Register a usage key (a long-lived key not tied to a session); returns the key and its hash.
    pub fn issue_usage(&self, meta: &UsageKeyMeta) -> Result<(Secret, String), Error> {
        let key = Secret::generate("sk-stackperf-usage-")?;
        let now = Timestamp::now();
        let entry = Entry {
            alias: meta.alias.clone(),
            kind: KeyKind::Usage,
            expires_at: meta.expires_at.map_or(NEVER_EXPIRES_S, Timestamp::secs),
            created_at: now.secs(),
            any_model: meta.models.is_none(),
            models: meta.models.clone(),
            owner: Some(meta.owner.clone()),
            ..Entry::default()
        };
        let hash = key_hash(&key);
        self.update(|r| r.keys.insert(hash.clone(), entry))?;
        Ok((key, hash))
    }

    /// Whether the key with this alias would be accepted now.
    pub fn is_live(&self, alias: &str) -> bool {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return false;
        };
        let Ok(reg) = serde_json::from_str::<RegistryFile>(&text) else {
            return false;
        };
        let now = Timestamp::now().secs();
        reg.keys.values().any(|e| {
            e.alias == alias
                && !e.revoked
                && e.expires_at > now
                && !matches!(e.kind, KeyKind::Other(_))
        })
    }
}

impl CredentialIssuer for RegistryIssuer {
    fn issue(&self, meta: &KeyMeta, ttl: Duration) -> Result<IssuedKey, Error> {
        let key = Secret::generate("sk-stackperf-session-")?;
        let alias = alias_for(&meta.session_id);
        let now = Timestamp::now();
        let expires_at = now.plus_ms(ttl.as_secs_f64() * 1000.0);
        let entry = Entry {
            alias: alias.clone(),
            session_id: meta.session_id.clone(),
            experiment: meta.experiment.clone(),
            variant: meta.variant.clone(),
            harness: meta.harness.clone(),
            task_card: meta.task_card.clone(),
            provider: meta.provider.clone(),
            expires_at: expires_at.secs(),
            revoked: false,
            created_at: now.secs(),
            models: Some(meta.models.clone()),
            ..Entry::default()
        };
        let hash = key_hash(&key);
        self.update(|r| r.keys.insert(hash, entry))?;
        Ok(IssuedKey {
            alias,
            key,
            expires_at,
        })
    }

    fn revoke(&self, alias: &str) -> Result<bool, Error> {
        self.update(|r| {
            let mut any = false;
            for e in r
                .keys
                .values_mut()
                .filter(|e| e.alias == alias && !e.revoked)
            {
                e.revoked = true;
                any = true;
            }
            any
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> KeyMeta {
        KeyMeta {
            session_id: id.into(),
            experiment: "e".into(),
            variant: "v".into(),
            harness: "h".into(),
            task_card: "t".into(),
            provider: "p".into(),
            models: vec!["sim-fast".into()],
        }
    }

    #[test]
    fn the_registry_holds_hashes_never_keys_and_revocation_is_immediate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/registry.json");
        let issuer = RegistryIssuer::new(&path);
        let a = issuer.issue(&meta("s1"), Duration::from_secs(600)).unwrap();
        let b = issuer.issue(&meta("s2"), Duration::from_secs(600)).unwrap();
        assert_ne!(a.key, b.key);
        assert!(a.key.expose().len() >= 32 + 20, "at least 128 bits of key");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(a.key.expose()) && !text.contains(b.key.expose()));
        assert!(text.contains(&key_hash(&a.key)) && text.contains("stackperf-s1"));
        assert!(
            text.contains("\"models\"") && text.contains("sim-fast"),
            "{text}"
        );
        assert!(issuer.is_live("stackperf-s1"));
        assert!(issuer.revoke("stackperf-s1").unwrap());
        assert!(!issuer.is_live("stackperf-s1"));
        assert!(
            !issuer.revoke("stackperf-s1").unwrap(),
            "revoking twice changes nothing"
        );
        assert!(issuer.is_live("stackperf-s2"));
        let expired = issuer.issue(&meta("s3"), Duration::from_secs(0)).unwrap();
        assert!(!issuer.is_live(&expired.alias));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    /// An entry a newer StackPerf wrote (a kind this build does not know) survives this build's
    /// rewrites with its kind, and is never called live.
    #[test]
    fn an_entry_of_a_newer_kind_survives_rewrites_and_is_not_live() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/registry.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let newer = r#"{"version":2,"keys":{"ab12":{"alias":"team-x","kind":"team","expires_at":1e12,"future_field":1}}}"#;
        std::fs::write(&path, newer).unwrap();
        let issuer = RegistryIssuer::new(&path);
        issuer.issue(&meta("s1"), Duration::from_secs(600)).unwrap();
        assert!(issuer.revoke("stackperf-s1").unwrap());
        let reg: RegistryFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(reg.keys["ab12"].kind, KeyKind::Other("team".into()));
        assert_eq!(
            reg.keys["ab12"].unknown.get("future_field"),
            Some(&serde_json::json!(1)),
            "a field this build does not know is kept through its rewrites"
        );
        assert_eq!(reg.keys.len(), 2, "{reg:?}");
        assert!(!issuer.is_live("team-x"));
    }

    #[test]
    fn writers_at_once_lose_no_key_and_a_reader_never_sees_half_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/registry.json");
        RegistryIssuer::new(&path)
            .issue(&meta("seed"), Duration::from_secs(600))
            .unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // What the edge and LiteLLM's hook do: read the file while StackPerf replaces it.
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = std::fs::read_to_string(&path).unwrap();
                    serde_json::from_str::<RegistryFile>(&text)
                        .unwrap_or_else(|e| panic!("half-written registry: {e}"));
                    reads += 1;
                }
                reads
            })
        };
        // Each writer opens the file on its own, as separate processes do.
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let issuer = RegistryIssuer::new(&path);
                    for i in 0..10 {
                        let k = issuer
                            .issue(&meta(&format!("w{w}-{i}")), Duration::from_secs(600))
                            .unwrap();
                        if i % 2 == 0 {
                            assert!(issuer.revoke(&k.alias).unwrap());
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let reg: RegistryFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(reg.keys.len(), 61, "every key issued is in the registry");
        let revoked = reg.keys.values().filter(|e| e.revoked).count();
        assert_eq!(revoked, 30);
        for w in 0..6 {
            for i in 0..10 {
                let alias = alias_for(&format!("w{w}-{i}"));
                let e = reg.keys.values().find(|e| e.alias == alias).unwrap();
                assert_eq!(e.revoked, i % 2 == 0, "{alias}");
            }
        }
    }
}
