//! The variant config fingerprint: a stable hash of everything that defines a variant's
//! behaviour. Key order and whitespace in the YAML do not change it; any effective value does.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{HarnessProfile, Provider, Variant};

/// JSON with object keys sorted recursively and no whitespace.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&o[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The fingerprint (`sha256:` + hex) of a variant as resolved against its provider and harness.
/// Descriptions and launch instructions are left out: they do not change what is measured.
pub fn fingerprint(variant: &Variant, provider: &Provider, harness: &HarnessProfile) -> String {
    let mut harness_v = serde_json::to_value(harness).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut harness_v {
        for k in ["description", "launch_checks", "launch_command"] {
            o.remove(k);
        }
        // How its output is read afterwards changes nothing the harness does.
        if let Some(Value::Object(h)) = o.get_mut("headless") {
            h.remove("report");
        }
    }
    let upstream_model = provider
        .model(&variant.model_alias)
        .map(|m| m.upstream_model.clone());
    let effective = json!({
        "provider": {
            "name": provider.name,
            "route_name": provider.route_name,
            "protocol_surface": provider.protocol_surface,
            "litellm_provider": provider.litellm_provider,
            "upstream_base_url": provider.upstream_base_url,
            "upstream_base_url_env": provider.upstream_base_url_env,
            "api_key_env": provider.api_key_env,
            "routing_defaults": provider.routing_defaults,
        },
        "provider_route": variant.provider_route,
        "model_alias": variant.model_alias,
        "upstream_model": upstream_model,
        "harness": harness_v,
        "harness_env_overrides": variant.harness_env_overrides,
        "benchmark_tags": variant.benchmark_tags,
    });
    let digest = Sha256::digest(canonical_json(&effective).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}"#
        );
    }
}
