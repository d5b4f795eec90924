//! The OTLP exporters' HTTP client: StackPerf's own reqwest client behind the exporter's
//! `HttpClient` trait (no second HTTP stack in the binary). Every request runs on the export
//! thread's runtime, whoever calls (the metrics reader exports from a thread of its own).

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// Sends the exporters' requests with reqwest, on the runtime `rt`.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    pub http: reqwest::Client,
    pub rt: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        self.rt
            .spawn(send(http, request))
            .await
            .map_err(|e| -> HttpError { format!("the OTLP request's task: {e}").into() })?
    }
}

async fn send(
    http: reqwest::Client,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, HttpError> {
    let (parts, body) = request.into_parts();
    let mut req = http.request(parts.method, parts.uri.to_string()).body(body);
    for (k, v) in &parts.headers {
        req = req.header(k, v);
    }
    let res = req.send().await?;
    let mut out = Response::builder().status(res.status());
    for (k, v) in res.headers() {
        out = out.header(k, v);
    }
    // A collector's answer is small; more than 4 MiB is not one.
    let body = res.bytes().await?;
    if body.len() > 4 << 20 {
        return Err("the OTLP endpoint answered with more than 4 MiB".into());
    }
    Ok(out.body(body)?)
}
