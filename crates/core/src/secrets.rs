//! Secrets: provider API keys, the LiteLLM master key, session keys. They live in the OS
//! keychain (Secret Service, macOS Keychain, Windows Credential Manager) or in memory, never in the
//! database, logs or generated files. [`Secret`] never prints its value.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

use crate::Error;

mod turn;
use turn::KeychainTurn;

/// The keychain entry name of the LiteLLM master key.
pub const MASTER_KEY: &str = "LITELLM_MASTER_KEY";
/// The keychain entry name of the local query API's bearer token (`stackperf serve`).
pub const API_TOKEN: &str = "STACKPERF_API_TOKEN";

/// The keychain entry (or environment variable) of a PostgreSQL store's password.
pub const DB_PASSWORD: &str = "STACKPERF_DB_PASSWORD";

/// A secret value. `Debug` and `Display` print a placeholder; only [`Secret::expose`] reveals it,
/// and only the code that hands it to a keychain or a child process environment calls that.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A fresh random key: `prefix` + 32 random bytes in hex (256 bits).
    pub fn generate(prefix: &str) -> Result<Self, Error> {
        let mut buf = [0u8; 32];
        getrandom::fill(&mut buf)
            .map_err(|e| Error::KeychainUnavailable(format!("no randomness available: {e}")))?;
        Ok(Secret(format!(
            "{prefix}{}",
            buf.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )))
    }

    /// The value. Call only where the secret must leave the process (keychain, child environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where secrets are kept.
pub trait SecretStore: Send + Sync {
    fn get(&self, name: &str) -> Result<Option<Secret>, Error>;
    fn set(&self, name: &str, value: &Secret) -> Result<(), Error>;
    /// True when something was deleted.
    fn delete(&self, name: &str) -> Result<bool, Error>;
}

/// The OS keychain, under one service name (`stackperf`, or `STACKPERF_KEYRING_SERVICE`).
/// Calls block: do not call from an async task without `spawn_blocking`.
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    pub fn new() -> Self {
        let service = std::env::var("STACKPERF_KEYRING_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "stackperf".into());
        KeyringStore { service }
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, Error> {
        keyring::Entry::new(&self.service, name).map_err(map_keyring)
    }
}

impl Default for KeyringStore {
    fn default() -> Self {
        Self::new()
    }
}

fn map_keyring(e: keyring::Error) -> Error {
    Error::KeychainUnavailable(e.to_string())
}

impl SecretStore for KeyringStore {
    fn get(&self, name: &str) -> Result<Option<Secret>, Error> {
        let _turn = KeychainTurn::take();
        match self.entry(name)?.get_password() {
            Ok(v) => Ok(Some(Secret(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }
    fn set(&self, name: &str, value: &Secret) -> Result<(), Error> {
        let _turn = KeychainTurn::take();
        self.entry(name)?
            .set_password(value.expose())
            .map_err(map_keyring)
    }
    fn delete(&self, name: &str) -> Result<bool, Error> {
        let _turn = KeychainTurn::take();
        match self.entry(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_keyring(e)),
        }
    }
}

/// An in-memory store (tests, and sessions that must not touch the keychain).
#[derive(Default)]
pub struct MemoryStore(Mutex<HashMap<String, Secret>>);

impl SecretStore for MemoryStore {
    fn get(&self, name: &str) -> Result<Option<Secret>, Error> {
        Ok(self
            .0
            .lock()
            .map_err(|_| Error::KeychainUnavailable("memory store poisoned".into()))?
            .get(name)
            .cloned())
    }
    fn set(&self, name: &str, value: &Secret) -> Result<(), Error> {
        self.0
            .lock()
            .map_err(|_| Error::KeychainUnavailable("memory store poisoned".into()))?
            .insert(name.to_string(), value.clone());
        Ok(())
    }
    fn delete(&self, name: &str) -> Result<bool, Error> {
        Ok(self
            .0
            .lock()
            .map_err(|_| Error::KeychainUnavailable("memory store poisoned".into()))?
            .remove(name)
            .is_some())
    }
}

/// Where a resolved secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An environment variable of the same name (overrides the keychain).
    Environment,
    Keychain,
}

/// What `secrets list` shows: never the value.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SecretInfo {
    pub name: String,
    pub in_keychain: bool,
    pub in_environment: bool,
    /// Which one is used.
    pub effective: Option<Source>,
    /// Who needs it (providers, or "LiteLLM master key").
    pub used_by: Vec<String>,
}

/// Looks a variable up in an environment.
type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Secret resolution: the environment overrides the store.
pub struct Secrets {
    store: Box<dyn SecretStore>,
    env: EnvLookup,
}

/// Run a keychain call on a blocking thread (Secret Service calls block on D-Bus).
pub async fn blocking<T: Send + 'static>(
    secrets: std::sync::Arc<Secrets>,
    f: impl FnOnce(&Secrets) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(move || f(&secrets))
        .await
        .map_err(|e| Error::KeychainUnavailable(format!("keychain task failed: {e}")))?
}

/// `(secret name, who uses it)` for every secret the configuration and the stack refer to.
pub fn wanted(reg: &crate::config::Registry) -> Vec<(String, Vec<String>)> {
    use crate::stack::compose;
    let mut out: Vec<(String, Vec<String>)> =
        vec![(MASTER_KEY.into(), vec!["LiteLLM master key".into()])];
    for p in reg
        .providers
        .iter()
        .map(|l| &l.value)
        .filter(|p| !p.simulator)
    {
        if let Some(name) = &p.api_key_env {
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, users)) => users.push(format!("provider {}", p.name)),
                None => out.push((name.clone(), vec![format!("provider {}", p.name)])),
            }
        }
    }
    out.push((
        compose::POSTGRES_PASSWORD.into(),
        vec!["Compose runtime: LiteLLM's PostgreSQL".into()],
    ));
    out.push((
        compose::GRAFANA_ADMIN_PASSWORD.into(),
        vec!["Compose runtime: Grafana admin".into()],
    ));
    out
}

/// Whether `name` can be a secret name (it doubles as an environment variable name).
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Secrets {
    /// Secrets from `store`, overridden by the process environment.
    pub fn new(store: Box<dyn SecretStore>) -> Self {
        Secrets {
            store,
            env: Box::new(|n| std::env::var(n).ok().filter(|v| !v.is_empty())),
        }
    }

    /// Secrets from `store` with a custom environment (tests).
    pub fn with_env(
        store: Box<dyn SecretStore>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Secrets {
            store,
            env: Box::new(env),
        }
    }

    /// The secret and where it came from, or `None` when it is set nowhere.
    pub fn resolve(&self, name: &str) -> Result<Option<(Secret, Source)>, Error> {
        if let Some(v) = (self.env)(name) {
            return Ok(Some((Secret(v), Source::Environment)));
        }
        Ok(self.store.get(name)?.map(|s| (s, Source::Keychain)))
    }

    /// Store a secret in the keychain.
    pub fn set(&self, name: &str, value: Secret) -> Result<(), Error> {
        if !valid_name(name) {
            return Err(Error::BadSecretName(name.to_string()));
        }
        if value.expose().trim().is_empty() {
            return Err(Error::EmptySecret(name.to_string()));
        }
        self.store
            .set(name, &Secret(value.expose().trim().to_string()))
    }

    pub fn delete(&self, name: &str) -> Result<bool, Error> {
        self.store.delete(name)
    }

    /// The LiteLLM master key, generated and stored on first use.
    pub fn master_key(&self) -> Result<Secret, Error> {
        self.get_or_generate(MASTER_KEY, "sk-stackperf-master-")
    }

    /// The local query API's bearer token, generated and stored on first use.
    pub fn api_token(&self) -> Result<Secret, Error> {
        self.get_or_generate(API_TOKEN, "spk-api-")
    }

    /// A new API token replaces the old one in the keychain (a running `serve` keeps the token it
    /// started with until restarted).
    pub fn rotate_api_token(&self) -> Result<Secret, Error> {
        let value = Secret::generate("spk-api-")?;
        self.store.set(API_TOKEN, &value)?;
        Ok(value)
    }

    /// A secret the app owns (master key, database passwords): generated and stored on first use.
    pub fn get_or_generate(&self, name: &str, prefix: &str) -> Result<Secret, Error> {
        if let Some((s, _)) = self.resolve(name)? {
            return Ok(s);
        }
        let value = Secret::generate(prefix)?;
        self.store.set(name, &value)?;
        Ok(value)
    }

    /// Status of each named secret (`(name, used_by)`), without values.
    pub fn list(&self, wanted: &[(String, Vec<String>)]) -> Result<Vec<SecretInfo>, Error> {
        wanted
            .iter()
            .map(|(name, used_by)| {
                let in_environment = (self.env)(name).is_some();
                let in_keychain = self.store.get(name)?.is_some();
                let effective = if in_environment {
                    Some(Source::Environment)
                } else if in_keychain {
                    Some(Source::Keychain)
                } else {
                    None
                };
                Ok(SecretInfo {
                    name: name.clone(),
                    in_keychain,
                    in_environment,
                    effective,
                    used_by: used_by.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One keychain call at a time: while one holds the turn, nobody else (another thread, or
    /// another process: the same flock) gets it; after, they do.
    fn secrets(env: &'static [(&'static str, &'static str)]) -> Secrets {
        Secrets::with_env(Box::new(MemoryStore::default()), move |n| {
            env.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("sk-very-secret-value");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", Some(&s)).contains("very-secret"));
        assert_eq!(s.expose(), "sk-very-secret-value");
    }

    #[test]
    fn the_environment_overrides_the_keychain() {
        let s = secrets(&[("OPENAI_API_KEY", "from-env")]);
        s.set("OPENAI_API_KEY", Secret::new("from-keychain"))
            .unwrap();
        s.set("ANTHROPIC_API_KEY", Secret::new(" from-keychain \n"))
            .unwrap();
        let (v, src) = s.resolve("OPENAI_API_KEY").unwrap().unwrap();
        assert_eq!((v.expose(), src), ("from-env", Source::Environment));
        let (v, src) = s.resolve("ANTHROPIC_API_KEY").unwrap().unwrap();
        assert_eq!(
            (v.expose(), src),
            ("from-keychain", Source::Keychain),
            "values are trimmed"
        );
        assert!(s.resolve("NOPE").unwrap().is_none());
        let list = s
            .list(&[
                ("OPENAI_API_KEY".into(), vec!["openai".into()]),
                ("NOPE".into(), vec![]),
            ])
            .unwrap();
        assert!(
            list[0].in_keychain
                && list[0].in_environment
                && list[0].effective == Some(Source::Environment)
        );
        assert!(list[1].effective.is_none());
        assert!(s.delete("ANTHROPIC_API_KEY").unwrap());
        assert!(!s.delete("ANTHROPIC_API_KEY").unwrap());
    }

    #[test]
    fn the_master_key_is_generated_once() {
        let s = secrets(&[]);
        let a = s.master_key().unwrap();
        let b = s.master_key().unwrap();
        assert_eq!(a, b);
        assert!(a.expose().starts_with("sk-stackperf-master-") && a.expose().len() == 20 + 64);
    }

    #[test]
    fn bad_names_and_empty_values_are_refused() {
        let s = secrets(&[]);
        assert!(matches!(
            s.set("1BAD", Secret::new("x")),
            Err(Error::BadSecretName(_))
        ));
        assert!(matches!(
            s.set("OK", Secret::new("  ")),
            Err(Error::EmptySecret(_))
        ));
    }

    #[test]
    fn the_keyring_store_maps_missing_entries_to_none() {
        // keyring's mock keeps a value per Entry object and KeyringStore opens a fresh entry per
        // call, so this pins the mapping of "no entry" (None / false) rather than persistence;
        // persistence is tested against a real Secret Service end to end.
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let store = KeyringStore {
            service: "stackperf-unit-test".into(),
        };
        assert!(store.get("NOT_SET").unwrap().is_none());
        assert!(!store.delete("NOT_SET").unwrap());
        store.set("SOME_KEY", &Secret::new("v")).unwrap();
    }
}
