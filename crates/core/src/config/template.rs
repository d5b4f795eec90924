//! `{{ variable }}` templates in harness profiles. Unknown variables are errors, both when
//! validating (against the known names) and when rendering (against the supplied values).

use std::collections::BTreeMap;

/// Every variable a harness template may use.
pub const VARIABLES: &[&str] = &[
    "base_url",
    "proxy_url",
    "model_alias",
    "api_key",
    "api_key_env",
    "session_id",
    "session_dir",
    "experiment",
    "variant",
    "task_card",
    "harness",
    "provider",
    "tags_csv",
    // Only in `headless` (an automated run): the task card's prompt and the run's working copy.
    "prompt",
    "workdir",
];

/// Variables whose values are secrets: allowed in environment values, never in files.
pub const SECRET_VARIABLES: &[&str] = &["api_key"];

/// A template problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Unclosed,
    Unknown(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Unclosed => write!(f, "`{{{{` without a closing `}}}}`"),
            TemplateError::Unknown(v) => {
                write!(
                    f,
                    "unknown template variable `{v}` (known: {})",
                    VARIABLES.join(", ")
                )
            }
        }
    }
}

/// The variable names a template uses, in order.
pub fn variables(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// Check a template against the known variable names.
pub fn check(template: &str) -> Result<Vec<String>, TemplateError> {
    let vars = variables(template)?;
    if let Some(v) = vars.iter().find(|v| !VARIABLES.contains(&v.as_str())) {
        return Err(TemplateError::Unknown(v.clone()));
    }
    Ok(vars)
}

/// Render a template with the given values; a variable without a value is an error.
pub fn render(template: &str, values: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        out.push_str(
            values
                .get(name)
                .ok_or_else(|| TemplateError::Unknown(name.to_string()))?,
        );
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every string inside a structured value, with its path, for checking file templates.
pub fn strings_in(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => out.push((path.to_string(), s.clone())),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| strings_in(x, &format!("{path}[{i}]"), out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push((format!("{path}.{k}"), k.clone()));
            strings_in(x, &format!("{path}.{k}"), out)
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_variables_with_any_spacing() {
        let vals = BTreeMap::from([
            ("model_alias", "m1".to_string()),
            ("base_url", "http://x/v1".to_string()),
        ]);
        assert_eq!(
            render("{{model_alias}} @ {{ base_url }}", &vals).unwrap(),
            "m1 @ http://x/v1"
        );
    }

    #[test]
    fn unknown_and_unclosed_templates_are_errors() {
        assert_eq!(
            check("{{ modle_alias }}"),
            Err(TemplateError::Unknown("modle_alias".into()))
        );
        assert_eq!(check("{{ base_url"), Err(TemplateError::Unclosed));
        assert_eq!(
            render("{{ session_id }}", &BTreeMap::new()),
            Err(TemplateError::Unknown("session_id".into()))
        );
        assert_eq!(check("plain {env:X}").unwrap(), Vec::<String>::new());
    }
}
