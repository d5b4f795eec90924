//! The OTLP exporter's HTTP client: StackPerf's own reqwest client behind the exporter's
//! `HttpClient` trait (no second HTTP stack in the binary), run on the sink's own runtime.

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// Sends the exporter's requests with reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestClient(pub reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for ReqwestClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self
            .0
            .request(parts.method, parts.uri.to_string())
            .body(body);
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
}
