//! Who is calling: the key from whichever header or query parameter the client's SDK uses,
//! checked against the session-key registry (SHA-256 hashes only) or the master key.

use std::path::PathBuf;
use std::sync::Mutex;

use hyper::http::HeaderMap;
use sha2::{Digest, Sha256};

/// One registry entry (the contract's; StackPerf's `credentials.rs` writes it).
pub use stackperf_contract::registry::KeyEntry as Entry;
use stackperf_contract::registry::{KeyKind, Registry as RegistryFile};

/// The caller, once its key is accepted.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The LiteLLM master key (the operator's own tools): any model, inference routes only.
    Admin,
    Session(Entry),
    /// A usage key: everyday use through the proxy, attributed to its owner; never a session's.
    Usage(Entry),
}

impl Caller {
    pub fn alias(&self) -> &str {
        match self {
            Caller::Admin => "stackperf-admin",
            Caller::Session(e) | Caller::Usage(e) => &e.alias,
        }
    }

    /// `Err(allowed models)` when this caller may not use `model`.
    pub fn may_use(&self, model: &str) -> Result<(), Vec<String>> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Usage(e) if e.any_model => Ok(()),
            Caller::Session(e) | Caller::Usage(e) => match &e.models {
                Some(m) if m.iter().any(|a| a == model) => Ok(()),
                Some(m) => Err(m.clone()),
                None => Err(Vec::new()),
            },
        }
    }
}

pub use stackperf_contract::wire::MAX_KEY_LEN;

/// The key a request carries, as raw bytes (it may not be valid text).
pub fn extract(headers: &HeaderMap, query: Option<&str>) -> Option<Vec<u8>> {
    if let Some(v) = headers.get("authorization") {
        let b = v.as_bytes();
        let key = if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"bearer ") {
            &b[7..]
        } else {
            b
        };
        return Some(key.trim_ascii().to_vec());
    }
    for name in ["x-api-key", "x-goog-api-key", "api-key"] {
        if let Some(v) = headers.get(name) {
            return Some(v.as_bytes().trim_ascii().to_vec());
        }
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("key="))
        .map(|k| k.as_bytes().to_vec())
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex_sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The registry, re-read only when its file changes (one `stat` per request).
pub struct Keys {
    path: PathBuf,
    master: Option<Vec<u8>>,
    cache: Mutex<(Option<Stamp>, std::sync::Arc<RegistryFile>)>,
}

/// (mtime ns, size, inode): a changed registry file changes one of them.
type Stamp = (u128, u64, u64);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let ino = 0;
    (mtime, meta.len(), ino)
}

impl Keys {
    pub fn new(path: PathBuf, master: Option<String>) -> Keys {
        Keys {
            path,
            master: master.filter(|m| !m.is_empty()).map(String::into_bytes),
            cache: Mutex::new((None, Default::default())),
        }
    }

    fn registry(&self) -> std::sync::Arc<RegistryFile> {
        let Ok(mut guard) = self.cache.lock() else {
            return Default::default();
        };
        let Ok(meta) = std::fs::metadata(&self.path) else {
            *guard = (None, Default::default());
            return guard.1.clone();
        };
        let st = stamp(&meta);
        if guard.0 != Some(st) {
            // A registry being replaced right now keeps the previous copy until the next request.
            if let Ok(reg) = std::fs::read(&self.path)
                .map_err(|_| ())
                .and_then(|t| serde_json::from_slice::<RegistryFile>(&t).map_err(|_| ()))
            {
                *guard = (Some(st), std::sync::Arc::new(reg));
            }
        }
        guard.1.clone()
    }

    /// The registry entry of a session's key.
    pub fn session(&self, session_id: &str) -> Option<Entry> {
        self.registry()
            .keys
            .values()
            .find(|e| e.session_id == session_id)
            .cloned()
    }

    /// Accept or refuse a key; the refusal is one line a person understands.
    pub fn check(&self, key: Option<&[u8]>, now_s: f64) -> Result<Caller, String> {
        let key = match key {
            None => return Err("stackperf: no API key was sent. Use the environment from `stackperf session env <id>` (it sets the key variable your harness reads).".into()),
            Some([]) => return Err("stackperf: the API key is empty. Use the environment from `stackperf session env <id>`.".into()),
            Some(k) => k,
        };
        if key.len() > MAX_KEY_LEN {
            return Err(format!("stackperf: the API key is {} bytes long; StackPerf keys are under {MAX_KEY_LEN}. Use the key from `stackperf session env <id>`.", key.len()));
        }
        if !key.iter().all(|b| b.is_ascii_graphic()) {
            return Err("stackperf: the API key contains characters no StackPerf key has (non-ASCII, spaces or control bytes); it was probably pasted wrong. Copy it again from `stackperf session env <id>`.".into());
        }
        if let Some(m) = &self.master {
            if ct_eq(key, m) {
                return Ok(Caller::Admin);
            }
        }
        let reg = self.registry();
        let Some(e) = reg.keys.get(&hex_sha256(key)) else {
            return Err("stackperf: unknown API key. Create a session (`stackperf session create …`) and use its environment.".into());
        };
        if let KeyKind::Other(kind) = &e.kind {
            return Err(format!("stackperf: the key {} is of kind \"{kind}\", which this StackPerf does not know (a newer version wrote it). Update StackPerf, or use a key this version created.", e.alias));
        }
        if e.is_usage() {
            let owner = e.owner.as_deref().unwrap_or("?");
            if e.revoked {
                return Err(format!("stackperf: the usage key {} (owner {owner}) was revoked. Ask for a new one (`stackperf key create`).", e.alias));
            }
            if e.expires_at < now_s {
                return Err(format!("stackperf: the usage key {} (owner {owner}) has expired. Ask for a new one (`stackperf key create`).", e.alias));
            }
            return Ok(Caller::Usage(e.clone()));
        }
        if e.revoked {
            return Err(format!("stackperf: the key of session {} was revoked when the session was finalized. Create a new session.", e.session_id));
        }
        if e.expires_at < now_s {
            return Err(format!(
                "stackperf: the key of session {} has expired. Create a new session.",
                e.session_id
            ));
        }
        Ok(Caller::Session(e.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::http::HeaderValue;

    fn keys(dir: &std::path::Path) -> Keys {
        let path = dir.join("registry.json");
        let entry = |alias: &str, exp: f64, revoked: bool| serde_json::json!({"alias": alias, "session_id": alias, "variant": "v", "expires_at": exp, "revoked": revoked, "models": ["sim-fast"]});
        let reg = serde_json::json!({"version": 1, "keys": {
            hex_sha256(b"sk-live"): entry("live", 2e9, false),
            hex_sha256(b"sk-revoked"): entry("revoked", 2e9, true),
            hex_sha256(b"sk-expired"): entry("expired", 1.0, false),
            hex_sha256(b"sk-old"): {"alias": "old", "session_id": "old", "expires_at": 2e9},
            hex_sha256(b"sk-usage-any"): {"alias": "stackperf-key-a", "kind": "usage", "owner": "ana", "expires_at": 1e12, "any_model": true},
            hex_sha256(b"sk-usage-one"): {"alias": "stackperf-key-b", "kind": "usage", "owner": "bo", "expires_at": 1e12, "models": ["sim-fast"]},
            hex_sha256(b"sk-usage-revoked"): {"alias": "stackperf-key-c", "kind": "usage", "owner": "cy", "expires_at": 1e12, "revoked": true, "any_model": true},
            hex_sha256(b"sk-usage-expired"): {"alias": "stackperf-key-d", "kind": "usage", "owner": "di", "expires_at": 5.0, "any_model": true},
            hex_sha256(b"sk-newer-kind"): {"alias": "team-e", "kind": "team", "expires_at": 1e12, "any_model": true, "session_id": "s-e"},
        }});
        std::fs::write(&path, reg.to_string()).unwrap();
        Keys::new(path, Some("sk-master".into()))
    }

    #[test]
    fn keys_are_found_in_every_place_an_sdk_puts_them() {
        let mut h = HeaderMap::new();
        assert_eq!(extract(&h, Some("alt=sse&key=abc")), Some(b"abc".to_vec()));
        h.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(extract(&h, None), Some(b"g".to_vec()));
        h.insert("x-api-key", HeaderValue::from_static("a"));
        assert_eq!(extract(&h, None), Some(b"a".to_vec()));
        h.insert("authorization", HeaderValue::from_static("bearer  b "));
        assert_eq!(extract(&h, None), Some(b"b".to_vec()));
        assert_eq!(extract(&HeaderMap::new(), Some("alt=sse")), None);
    }

    #[test]
    fn every_bad_key_is_refused_with_a_reason_and_good_ones_are_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let k = keys(dir.path());
        let now = 1e9;
        for (key, words) in [
            (None, "no API key"),
            (Some(&b""[..]), "empty"),
            (Some(&b"sk-nope"[..]), "unknown"),
            (Some(&b"sk-revoked"[..]), "revoked"),
            (Some(&b"sk-expired"[..]), "expired"),
            (Some("sk-\u{e9}t\u{e9}".as_bytes()), "non-ASCII"),
            (Some(&[0xff, 0xfe][..]), "non-ASCII"),
        ] {
            let err = k.check(key, now).unwrap_err();
            assert!(err.contains(words), "{key:?}: {err}");
            assert!(!err.contains('\n'));
        }
        let huge = vec![b'a'; 1 << 20];
        assert!(k
            .check(Some(&huge), now)
            .unwrap_err()
            .contains("1048576 bytes"));
        assert!(matches!(
            k.check(Some(b"sk-master"), now),
            Ok(Caller::Admin)
        ));
        let live = k.check(Some(b"sk-live"), now).unwrap();
        assert_eq!(live.alias(), "live");
        assert!(live.may_use("sim-fast").is_ok());
        assert_eq!(
            live.may_use("openai-gpt-4.1").unwrap_err(),
            vec!["sim-fast"]
        );
        let old = k.check(Some(b"sk-old"), now).unwrap();
        assert!(
            old.may_use("sim-fast").is_err(),
            "unscoped entries reach nothing"
        );
    }

    #[test]
    fn usage_keys_are_their_owners_and_scoped_like_session_keys() {
        let dir = tempfile::tempdir().unwrap();
        let k = keys(dir.path());
        let any = k.check(Some(b"sk-usage-any"), 1e9).unwrap();
        assert!(matches!(any, Caller::Usage(_)));
        assert_eq!(any.alias(), "stackperf-key-a");
        assert!(any.may_use("anything-served").is_ok());
        let one = k.check(Some(b"sk-usage-one"), 1e9).unwrap();
        assert!(one.may_use("sim-fast").is_ok());
        assert_eq!(one.may_use("sim-slow").unwrap_err(), vec!["sim-fast"]);
        let revoked = k.check(Some(b"sk-usage-revoked"), 1e9).unwrap_err();
        assert!(
            revoked.contains("revoked") && revoked.contains("owner cy"),
            "{revoked}"
        );
        let expired = k.check(Some(b"sk-usage-expired"), 1e9).unwrap_err();
        assert!(
            expired.contains("expired") && expired.contains("stackperf-key-d"),
            "{expired}"
        );
    }

    /// A kind a newer StackPerf wrote: refused with a reason, and the registry's other keys
    /// still work.
    #[test]
    fn a_key_of_a_kind_this_build_does_not_know_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = keys(dir.path());
        let e = k.check(Some(b"sk-newer-kind"), 1e9).unwrap_err();
        assert!(
            e.contains("kind \"team\"") && e.contains("team-e") && !e.contains('\n'),
            "{e}"
        );
        assert!(matches!(
            k.check(Some(b"sk-live"), 1e9),
            Ok(Caller::Session(_))
        ));
    }
}
