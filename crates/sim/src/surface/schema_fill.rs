//! Tool-call arguments that are valid against the tool's JSON schema: every required property
//! gets a value of its type, an `enum`'s first member, a `const`, the first branch of `anyOf` /
//! `oneOf`, `$ref`s resolved against the schema's `$defs` / `definitions`, nested objects filled
//! the same way, numbers inside `minimum` / `maximum`, arrays with their `minItems`.

use serde_json::{json, Map, Value};

/// The filler string for free-text properties (a description, a title).
pub const TEXT: &str = "stackperf scripted agent";

/// How deep nested schemas are followed (a recursive `$ref` stops here).
const MAX_DEPTH: usize = 8;

/// A value valid against `schema`, resolving `$ref`s in `root`.
pub fn value_for(schema: &Value, root: &Value) -> Value {
    fill(schema, root, 0)
}

fn fill(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let schema = resolve(schema, root);
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        let branches = schema.get(key).and_then(Value::as_array);
        let first_not_null = branches.and_then(|b| {
            b.iter()
                .find(|s| resolve(s, root).get("type").and_then(Value::as_str) != Some("null"))
        });
        if let Some(s) = first_not_null {
            return fill(s, root, depth + 1);
        }
    }
    match type_of(schema) {
        Some("boolean") => json!(false),
        Some("integer") => json!(number(schema, 60_000.0).round() as i64),
        Some("number") => json!(number(schema, 60_000.0)),
        Some("null") => Value::Null,
        Some("array") => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array((0..n).map(|_| fill(&item, root, depth + 1)).collect())
        }
        Some("object") => object(schema, root, depth),
        _ if schema.get("properties").is_some() => object(schema, root, depth),
        _ => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            json!(format!(
                "{TEXT}{}",
                "x".repeat(min.saturating_sub(TEXT.len()))
            ))
        }
    }
}

/// The schema's type (the first that is not `null` when it lists several).
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(s) => Some(s),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(Some("null")),
        _ => None,
    }
}

/// `want`, moved inside the schema's bounds.
fn number(schema: &Value, want: f64) -> f64 {
    let lo = schema.get("minimum").and_then(Value::as_f64);
    let hi = schema.get("maximum").and_then(Value::as_f64);
    let mut x = want;
    if let Some(h) = hi {
        x = x.min(h);
    }
    if let Some(l) = lo {
        x = x.max(l);
    }
    x
}

/// An object with every required property filled.
fn object(schema: &Value, root: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    let props = schema.get("properties").and_then(Value::as_object);
    for name in required(schema) {
        let s = props
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or(json!({}));
        out.insert(name.to_string(), fill(&s, root, depth + 1));
    }
    Value::Object(out)
}

/// The schema's required property names.
pub fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Follow a local `$ref` (`#/$defs/X`, `#/definitions/X`).
pub fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..MAX_DEPTH {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => s = target,
                None => return s,
            },
            None => return s,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenHands' `terminal` tool as pydantic writes it: `security_risk` is an enum behind a
    /// `$ref`; a nested object and bounded numbers beside it.
    #[test]
    fn values_are_valid_against_enums_refs_nested_objects_and_bounds() {
        let schema = json!({
            "type": "object",
            "$defs": {"SecurityRisk": {"type": "string", "enum": ["LOW", "MEDIUM", "HIGH"]}},
            "properties": {
                "command": {"type": "string"},
                "security_risk": {"$ref": "#/$defs/SecurityRisk"},
                "is_input": {"type": "boolean"},
                "timeout": {"anyOf": [{"type": "null"}, {"type": "number", "maximum": 600}]},
                "opts": {"type": "object", "required": ["mode", "n"], "properties": {
                    "mode": {"const": "fast"}, "n": {"type": "integer", "minimum": 1, "maximum": 5}}},
                "paths": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 30}},
                "kind": {"type": ["null", "string"], "enum": ["a", "b"]}
            },
            "required": ["security_risk", "is_input", "timeout", "opts", "paths", "kind"]
        });
        let v = value_for(&schema, &schema);
        assert_eq!(v["security_risk"], "LOW");
        assert_eq!(v["is_input"], false);
        assert_eq!(v["timeout"], 600.0);
        assert_eq!(v["opts"], json!({"mode": "fast", "n": 5}));
        let paths = v["paths"].as_array().unwrap();
        assert_eq!(paths.len(), 2);
        assert!(paths[0].as_str().unwrap().len() >= 30);
        assert_eq!(v["kind"], "a");
        assert!(v.get("command").is_none(), "only required properties");
        // A recursive reference ends instead of looping.
        let rec = json!({"$defs": {"N": {"type": "object", "required": ["next"],
            "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"});
        let _ = value_for(&rec, &rec);
    }
}
