//! Which requests the edge forwards (inference routes only) and how each surface spells an error.

use serde_json::{json, Value};

pub use stackperf_contract::Surface;

/// An inference route the edge forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub surface: Surface,
    /// A request that produces model output (as opposed to listing models or counting tokens).
    pub generates: bool,
    /// The model named in the path (Google surface).
    pub path_model: Option<String>,
    /// Streaming decided by the path (`:streamGenerateContent`).
    pub path_stream: bool,
    /// Whether the request names a model the key must be allowed to use.
    pub needs_model: bool,
}

fn route(surface: Surface, generates: bool) -> Route {
    Route {
        surface,
        generates,
        path_model: None,
        path_stream: false,
        needs_model: true,
    }
}

/// Classify `(method, path)`; `None` means "not an inference route" (404 at the edge).
pub fn classify(method: &str, path: &str) -> Option<Route> {
    let p = path.strip_suffix('/').unwrap_or(path);
    let bare = p.strip_prefix("/v1").unwrap_or(p);
    match (method, bare) {
        ("POST", "/chat/completions") => return Some(route(Surface::OpenaiChat, true)),
        ("POST", "/responses") => return Some(route(Surface::OpenaiResponses, true)),
        ("POST", "/messages") => return Some(route(Surface::AnthropicMessages, true)),
        ("POST", "/messages/count_tokens") => {
            return Some(route(Surface::AnthropicMessages, false))
        }
        ("GET", "/models") => {
            return Some(Route {
                needs_model: false,
                ..route(Surface::OpenaiChat, false)
            })
        }
        _ => {}
    }
    // Google: /v1beta/models/{model}:{action} (also without the version prefix).
    let rest = p
        .strip_prefix("/v1beta/models/")
        .or_else(|| p.strip_prefix("/v1/models/"))
        .or_else(|| p.strip_prefix("/models/"))?;
    let (model, action) = rest.rsplit_once(':')?;
    if method != "POST" || model.is_empty() || model.contains('/') {
        return None;
    }
    let (generates, stream) = match action {
        "generateContent" => (true, false),
        "streamGenerateContent" => (true, true),
        "countTokens" => (false, false),
        _ => return None,
    };
    Some(Route {
        surface: Surface::GoogleGenerateContent,
        generates,
        path_model: Some(percent_decode(model)),
        path_stream: stream,
        needs_model: true,
    })
}

/// The surface whose error format a rejected request gets: from the path, else from how the
/// client sent its key.
pub fn surface_for_errors(path: &str, anthropic_key: bool, google_key: bool) -> Surface {
    if path.contains("/messages") || (anthropic_key && !path.contains("/chat/")) {
        Surface::AnthropicMessages
    } else if path.contains("/v1beta/") || path.contains(":generateContent") || google_key {
        Surface::GoogleGenerateContent
    } else if path.contains("/responses") {
        Surface::OpenaiResponses
    } else {
        Surface::OpenaiChat
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why the edge refused or failed a request; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Unauthorized,
    Forbidden,
    BadRequest,
    TooLarge,
    HeadersTooLarge,
    Unavailable,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::NotFound => 404,
            Refusal::Unauthorized => 401,
            Refusal::Forbidden => 403,
            Refusal::BadRequest => 400,
            Refusal::TooLarge => 413,
            Refusal::HeadersTooLarge => 431,
            Refusal::Unavailable => 502,
        }
    }
}

/// An error body in the surface's own format.
pub fn error_body(surface: Surface, refusal: Refusal, message: &str) -> Value {
    let status = refusal.status();
    match surface {
        Surface::OpenaiChat | Surface::OpenaiResponses => {
            let (kind, code) = match refusal {
                Refusal::NotFound => ("invalid_request_error", "unknown_url"),
                Refusal::Unauthorized => ("invalid_request_error", "invalid_api_key"),
                Refusal::Forbidden => ("permission_error", "model_not_allowed"),
                Refusal::BadRequest => ("invalid_request_error", "invalid_request"),
                Refusal::TooLarge => ("invalid_request_error", "request_too_large"),
                Refusal::HeadersTooLarge => ("invalid_request_error", "headers_too_large"),
                Refusal::Unavailable => ("server_error", "proxy_unavailable"),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Surface::AnthropicMessages => {
            let kind = match refusal {
                Refusal::NotFound => "not_found_error",
                Refusal::Unauthorized => "authentication_error",
                Refusal::Forbidden => "permission_error",
                Refusal::BadRequest | Refusal::HeadersTooLarge => "invalid_request_error",
                Refusal::TooLarge => "request_too_large",
                Refusal::Unavailable => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Surface::GoogleGenerateContent => {
            let st = match refusal {
                Refusal::NotFound => "NOT_FOUND",
                Refusal::Unauthorized => "UNAUTHENTICATED",
                Refusal::Forbidden => "PERMISSION_DENIED",
                Refusal::BadRequest | Refusal::TooLarge | Refusal::HeadersTooLarge => {
                    "INVALID_ARGUMENT"
                }
                Refusal::Unavailable => "UNAVAILABLE",
            };
            json!({"error": {"code": status, "message": message, "status": st}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_routes_are_forwarded_and_everything_else_is_not() {
        for (m, p) in [
            ("POST", "/v1/chat/completions"),
            ("POST", "/chat/completions"),
            ("POST", "/v1/responses"),
            ("POST", "/v1/messages"),
            ("POST", "/v1/messages/count_tokens"),
            ("GET", "/v1/models"),
            ("GET", "/models"),
            ("POST", "/v1beta/models/sim-fast:streamGenerateContent"),
            ("POST", "/v1beta/models/sim-fast:generateContent"),
            ("POST", "/v1beta/models/sim-fast:countTokens"),
        ] {
            assert!(classify(m, p).is_some(), "{m} {p}");
        }
        for (m, p) in [
            ("GET", "/health"),
            ("GET", "/health/liveliness"),
            ("GET", "/model/info"),
            ("GET", "/v1/model/info"),
            ("GET", "/routes"),
            ("GET", "/settings"),
            ("GET", "/debug/asyncio-tasks"),
            ("GET", "/metrics"),
            ("GET", "/metrics/"),
            ("GET", "/ui"),
            ("POST", "/key/generate"),
            ("GET", "/spend/logs"),
            ("GET", "/v1/chat/completions"),
            ("POST", "/v1beta/models/x:deleteEverything"),
            ("POST", "/v1beta/models/a/b:generateContent"),
            ("POST", "/v1beta/models/:generateContent"),
            ("GET", "/"),
        ] {
            assert!(classify(m, p).is_none(), "{m} {p}");
        }
        let g = classify("POST", "/v1beta/models/sim%2Dfast:streamGenerateContent").unwrap();
        assert_eq!(g.path_model.as_deref(), Some("sim-fast"));
        assert!(g.path_stream && g.generates);
        assert!(!classify("GET", "/v1/models").unwrap().needs_model);
    }

    #[test]
    fn each_surface_gets_errors_in_its_own_format() {
        let o = error_body(Surface::OpenaiChat, Refusal::Forbidden, "no");
        assert_eq!(o["error"]["code"], "model_not_allowed");
        let a = error_body(Surface::AnthropicMessages, Refusal::Unauthorized, "no");
        assert_eq!(a["error"]["type"], "authentication_error");
        assert_eq!(a["type"], "error");
        let g = error_body(Surface::GoogleGenerateContent, Refusal::NotFound, "no");
        assert_eq!(
            (g["error"]["code"].as_u64(), g["error"]["status"].as_str()),
            (Some(404), Some("NOT_FOUND"))
        );
        assert_eq!(
            surface_for_errors("/health", false, true),
            Surface::GoogleGenerateContent
        );
        assert_eq!(
            surface_for_errors("/health", true, false),
            Surface::AnthropicMessages
        );
        assert_eq!(
            surface_for_errors("/v1/messages", false, false),
            Surface::AnthropicMessages
        );
        assert_eq!(
            surface_for_errors("/v1/responses", false, false),
            Surface::OpenaiResponses
        );
    }
}
