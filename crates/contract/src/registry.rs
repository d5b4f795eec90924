//! The session-key registry: the JSON file StackPerf writes (`credentials::RegistryIssuer`) and
//! two other processes read — the edge (every request) and LiteLLM's `stackperf_auth.py` hook
//! (defense in depth). It holds SHA-256 hashes of keys, never keys.
//!
//! Its JSON Schema is committed (`configs/litellm/key-registry.schema.json`); a test checks it is
//! current and that every field the Python hook reads is in it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version StackPerf writes.
pub const REGISTRY_VERSION: u32 = 1;

/// The registry file: entries by the SHA-256 (hex) of their key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Registry {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub keys: BTreeMap<String, KeyEntry>,
}

/// What a key is for. On the wire a string; a kind this build does not know (written by a
/// newer StackPerf) is kept by name, so the rest of the registry still reads and a rewrite
/// keeps it — and no check accepts its key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum KeyKind {
    /// One session's key (written without a `kind`).
    #[default]
    Session,
    /// A long-lived usage key (`stackperf key create`): everyday use, attributed to its owner.
    Usage,
    /// A kind this build does not know, by the name it was written with.
    Other(String),
}

impl KeyKind {
    fn is_session(&self) -> bool {
        *self == KeyKind::Session
    }

    pub fn as_str(&self) -> &str {
        match self {
            KeyKind::Session => "session",
            KeyKind::Usage => "usage",
            KeyKind::Other(name) => name,
        }
    }
}

impl From<String> for KeyKind {
    fn from(name: String) -> Self {
        match name.as_str() {
            "session" => KeyKind::Session,
            "usage" => KeyKind::Usage,
            _ => KeyKind::Other(name),
        }
    }
}

impl From<KeyKind> for String {
    fn from(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Other(name) => name,
            known => known.as_str().to_string(),
        }
    }
}

/// What a key is for: the kinds this build writes. A reader refuses the key of a kind it does
/// not know (written by a newer StackPerf) and keeps its entry as it is.
#[cfg(test)]
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "KeyKind")]
#[allow(dead_code)]
enum KnownKind {
    /// One session's key (written without a `kind`).
    Session,
    /// A long-lived usage key (`stackperf key create`): everyday use, attributed to its owner.
    Usage,
}

/// One key's entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct KeyEntry {
    /// The key's alias (names the session or the usage key, never the key).
    pub alias: String,
    #[serde(default, skip_serializing_if = "KeyKind::is_session")]
    #[cfg_attr(test, schemars(with = "KnownKind"))]
    pub kind: KeyKind,
    #[serde(default)]
    pub session_id: String,
    /// What the session benchmarks (labels of the edge's metrics, metadata LiteLLM logs).
    #[serde(default)]
    pub experiment: String,
    #[serde(default)]
    pub variant: String,
    #[serde(default)]
    pub harness: String,
    #[serde(default)]
    pub task_card: String,
    #[serde(default)]
    pub provider: String,
    /// Unix epoch seconds (what the Python hook compares with `time.time()`).
    pub expires_at: f64,
    #[serde(default)]
    pub revoked: bool,
    /// Unix epoch seconds.
    #[serde(default)]
    pub created_at: f64,
    /// The model aliases this key may call. Absent in entries written before model scoping:
    /// such a key reaches no model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Usage keys: may call every model (their `models` is then absent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub any_model: bool,
    /// Usage keys: who it was issued to (shown in refusals, never used for access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Fields a newer StackPerf wrote that this build does not know: kept as they are when
    /// this build rewrites the file, never read.
    #[serde(flatten)]
    #[cfg_attr(test, schemars(skip))]
    pub unknown: std::collections::BTreeMap<String, serde_json::Value>,
}

impl KeyEntry {
    pub fn is_usage(&self) -> bool {
        self.kind == KeyKind::Usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn repo(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    fn schema_text() -> String {
        let schema = schemars::schema_for!(Registry);
        serde_json::to_string_pretty(&schema).unwrap() + "\n"
    }

    /// `STACKPERF_WRITE_SCHEMA=1 cargo test -p stackperf-contract` rewrites it.
    #[test]
    fn the_committed_schema_is_current() {
        let path = repo("configs/litellm/key-registry.schema.json");
        let want = schema_text();
        if std::env::var_os("STACKPERF_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: run STACKPERF_WRITE_SCHEMA=1 cargo test -p stackperf-contract",
            path.display()
        );
    }

    /// Every field `stackperf_auth.py` reads from an entry is one StackPerf writes, and its wire
    /// names are the edge's.
    #[test]
    fn the_python_hook_reads_only_what_the_schema_defines() {
        let hook = std::fs::read_to_string(repo("configs/litellm/stackperf_auth.py")).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&schema_text()).unwrap();
        let props = &schema["$defs"]["KeyEntry"]["properties"];
        let mut read = Vec::new();
        for (i, _) in hook.match_indices("entry.get(\"") {
            let rest = &hook[i + "entry.get(\"".len()..];
            read.push(rest[..rest.find('"').unwrap()].to_string());
        }
        // The session metadata the hook copies by name.
        let tuple = hook.split("for k in (").nth(1).unwrap();
        let tuple = &tuple[..tuple.find(')').unwrap()];
        read.extend(
            tuple
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty()),
        );
        for f in [
            "alias",
            "kind",
            "revoked",
            "expires_at",
            "models",
            "any_model",
            "owner",
            "session_id",
            "task_card",
        ] {
            assert!(
                read.iter().any(|r| r == f),
                "the hook no longer reads {f}: {read:?}"
            );
        }
        for f in &read {
            assert!(
                props.get(f).is_some(),
                "the hook reads `{f}`, which the registry schema does not define"
            );
        }
        assert!(
            hook.contains("data.get(\"keys\""),
            "the hook reads the entries under `keys`"
        );
        let kinds = serde_json::to_string(&schema["$defs"]["KeyKind"]).unwrap();
        // The hook tells the kinds apart by these names and refuses any other.
        assert!(hook.contains("== \"usage\"") && kinds.contains("\"usage\""));
        assert!(hook.contains("!= \"session\"") && kinds.contains("\"session\""));
        assert!(hook.contains("entry.get(\"kind\", \"session\")"));
        for (name, value) in [
            ("_REQUEST_ID", crate::wire::REQUEST_ID_HEADER),
            ("_EDGE_TOKEN_HEADER", crate::wire::EDGE_TOKEN_HEADER),
        ] {
            assert!(
                hook.contains(&format!("{name} = \"{value}\"")),
                "{name} is not {value}"
            );
        }
        assert!(hook.contains(&format!("_MAX_KEY = {}", crate::wire::MAX_KEY_LEN)));
    }

    #[test]
    fn a_session_entry_is_written_without_kind_and_a_usage_entry_with_it() {
        let s = KeyEntry {
            alias: "a".into(),
            expires_at: 1.0,
            ..KeyEntry::default()
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            !text.contains("kind") && !text.contains("any_model") && !text.contains("models"),
            "{text}"
        );
        let u = KeyEntry {
            kind: KeyKind::Usage,
            any_model: true,
            ..s.clone()
        };
        let text = serde_json::to_string(&u).unwrap();
        assert!(
            text.contains("\"kind\":\"usage\"") && text.contains("\"any_model\":true"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<KeyEntry>(&text).unwrap(), u);
        // An entry from before scoping and metadata: only alias and expiry.
        let old: KeyEntry = serde_json::from_str(r#"{"alias":"x","expires_at":5}"#).unwrap();
        assert_eq!(
            (old.kind, old.models, old.revoked),
            (KeyKind::Session, None, false)
        );
    }

    /// A newer StackPerf's kind: the registry still reads, the entry keeps its kind's name
    /// when the file is written again, and it is neither a session nor a usage key.
    #[test]
    fn a_kind_this_build_does_not_know_is_kept_by_name() {
        let text = r#"{"version":1,"keys":{
            "aa":{"alias":"team-1","kind":"team","expires_at":1e12,"any_model":true},
            "bb":{"alias":"s","session_id":"s","expires_at":1e12,"models":["m"]}}}"#;
        let reg: Registry = serde_json::from_str(text).unwrap();
        let team = &reg.keys["aa"];
        assert_eq!(team.kind, KeyKind::Other("team".into()));
        assert!(!team.is_usage());
        assert_eq!(reg.keys["bb"].kind, KeyKind::Session);
        let again = serde_json::to_string(&reg).unwrap();
        assert!(again.contains(r#""kind":"team""#), "{again}");
        assert_eq!(serde_json::from_str::<Registry>(&again).unwrap(), reg);
        // An explicit "session" reads as a session key and is written without a kind.
        let s: KeyEntry =
            serde_json::from_str(r#"{"alias":"x","kind":"session","expires_at":5}"#).unwrap();
        assert_eq!(s.kind, KeyKind::Session);
        assert!(!serde_json::to_string(&s).unwrap().contains("kind"));
    }
}
