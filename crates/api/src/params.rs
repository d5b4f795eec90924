//! Query parameters: strict (an unknown, repeated, empty or malformed parameter is a 400 that
//! names it), repeated keys where a list is meant (`experiment=a&experiment=b`).

use stackperf_core::session::SessionStatus;
use stackperf_core::store::SessionFilter;
use stackperf_core::timestamp::Timestamp;

use crate::ApiError;

/// A request's query parameters, checked against what the endpoint accepts.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (k, v) in &pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::field(
                    k,
                    format!(
                        "unknown parameter; this endpoint takes: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if v.trim().is_empty() {
                return Err(ApiError::field(k, "empty value"));
            }
        }
        Ok(Params(pairs))
    }

    /// A parameter given at most once.
    pub fn one(&self, key: &str) -> Result<Option<String>, ApiError> {
        let mut it = self.0.iter().filter(|(k, _)| k == key);
        let first = it.next().map(|(_, v)| v.clone());
        if it.next().is_some() {
            return Err(ApiError::field(key, "given more than once"));
        }
        Ok(first)
    }

    /// A parameter that may repeat.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.one(key)?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::field(key, format!("`{v}` is not a whole number")))
            })
            .transpose()
    }

    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.one(key)?.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(v) => Err(ApiError::field(key, format!("`{v}` is not true or false"))),
        }
    }

    /// A time: Unix epoch milliseconds, or RFC 3339 (`2026-11-28T10:00:00Z`, `2026-11-28`).
    /// A time: epoch ms or RFC 3339 (a date, or a date and time with `Z` or an offset).
    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, ApiError> {
        self.one(key)?
            .map(|v| {
                Timestamp::parse(&v).ok_or_else(|| {
                    ApiError::field(
                        key,
                        format!("`{v}` is not a time: use RFC 3339 (2026-11-28T10:00:00Z) or Unix epoch milliseconds"),
                    )
                })
            })
            .transpose()
    }

    /// The session filters of `/sessions`.
    pub fn session_filter(&self) -> Result<SessionFilter, ApiError> {
        let status = self
            .one("status")?
            .map(|s| {
                SessionStatus::parse(&s).ok_or_else(|| {
                    ApiError::field(
                        "status",
                        format!("`{s}` is not a status: pending, active, expired, completed, aborted or invalid"),
                    )
                })
            })
            .transpose()?;
        Ok(SessionFilter {
            experiment: self.one("experiment")?,
            variant: self.one("variant")?,
            provider: self.one("provider")?,
            model: self.one("model")?,
            harness: self.one("harness")?,
            task_card: self.one("task_card")?,
            status,
            label: self.one("label")?,
            machine: self.one("machine")?,
            since: self.time("since")?,
            until: self.time("until")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_and_empty_parameters_are_named() {
        let e = Params::parse(Some("experiment=a&colour=red"), &["experiment"]).err();
        assert_eq!(e.map(|e| e.field), Some(Some("colour".to_string())));
        let p = Params::parse(Some("experiment=a&experiment=b"), &["experiment"])
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(p.all("experiment"), ["a", "b"]);
        assert!(p.one("experiment").is_err());
        let e = Params::parse(Some("experiment="), &["experiment"]).err();
        assert_eq!(e.map(|e| e.field), Some(Some("experiment".to_string())));
        let p = Params::parse(Some("limit=ten"), &["limit"]).unwrap_or_else(|_| unreachable!());
        assert!(p.number("limit").is_err());
    }
}
