//! A raw-socket HTTP client that times its own send, first content and end of body.

/// What a raw-socket client observed of one request, timed by its own clock.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// From just before the request's first byte was written to the read that completed the first
    /// SSE event with answer text, reasoning or a tool call.
    pub ttft_ms: Option<f64>,
    /// The same, to the first answer text or tool call (reasoning excluded).
    pub ttft_visible_ms: Option<f64>,
    /// To the read that completed the response body.
    pub total_ms: f64,
    /// SSE events with content the client received.
    pub content_events: u64,
    /// The body ended properly (chunked terminator or full Content-Length).
    pub complete: bool,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The client's own reading of one SSE `data:` payload: (content, visible content). Written
/// separately from the edge's parser on purpose: the test must not agree with itself.
fn client_content(data: &str) -> (bool, bool) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
        return (false, false);
    };
    let s = |p: &str| {
        v.pointer(p)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    let kind = s("/type");
    if kind == "content_block_delta" {
        let text = !s("/delta/text").is_empty() || !s("/delta/partial_json").is_empty();
        return (text || !s("/delta/thinking").is_empty(), text);
    }
    if kind.starts_with("response.") && kind.ends_with(".delta") {
        let has = !s("/delta").is_empty();
        return (has, has && !kind.contains("reasoning"));
    }
    let text = !s("/choices/0/delta/content").is_empty()
        || v.pointer("/choices/0/delta/tool_calls")
            .is_some_and(|t| !t.is_null());
    let reasoning = !s("/choices/0/delta/reasoning_content").is_empty();
    let mut g_text = false;
    let mut g_thought = false;
    for p in v
        .pointer("/candidates/0/content/parts")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let t = p.get("text").and_then(|t| t.as_str()).unwrap_or("");
        if p.get("thought").and_then(|b| b.as_bool()).unwrap_or(false) {
            g_thought |= !t.is_empty();
        } else {
            g_text |= !t.is_empty() || p.get("functionCall").is_some();
        }
    }
    (text || reasoning || g_text || g_thought, text || g_text)
}

/// POST `body` on a fresh connection with the standard library only, timing the send, the first
/// content event and the end of the body on this process's clock.
pub fn raw_post(base_url: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    raw_request("POST", base_url, path, headers, body)
}

/// [`raw_post`] with any method.
pub fn raw_request(
    method: &str,
    base_url: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    use std::io::{Read, Write};
    use std::time::Instant;
    let addr = base_url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("read timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    let sent = Instant::now();
    conn.write_all(&req).expect("send");
    let ms = |t: Instant| t.duration_since(sent).as_secs_f64() * 1000.0;
    let mut raw: Vec<u8> = Vec::new();
    type Head = (u16, Vec<(String, String)>, usize);
    let mut head: Option<Head> = None;
    let (mut ttft, mut visible, mut events) = (None, None, 0u64);
    let mut decoded: Vec<u8> = Vec::new();
    let mut scanned = 0; // bytes of `decoded` already split into lines
    let mut data = String::new();
    let mut chunk_pos = 0; // position in `raw` of the next chunk header (after the head)
    let mut complete = false;
    let mut buf = [0u8; 65536];
    let total;
    loop {
        let n = conn.read(&mut buf).unwrap_or(0);
        let now = Instant::now();
        raw.extend_from_slice(&buf[..n]);
        if head.is_none() {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&raw[..i]).to_string();
                let mut lines = text.split("\r\n");
                let status = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let hs = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                head = Some((status, hs, i + 4));
                chunk_pos = i + 4;
            }
        }
        if let Some((_, hs, start)) = &head {
            let chunked = hs
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
            if chunked {
                // Decode every complete chunk now in `raw`.
                while let Some(eol) = raw[chunk_pos..].windows(2).position(|w| w == b"\r\n") {
                    let size_line =
                        String::from_utf8_lossy(&raw[chunk_pos..chunk_pos + eol]).to_string();
                    let size =
                        usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                            .unwrap_or(0);
                    let data_start = chunk_pos + eol + 2;
                    if size == 0 {
                        complete = true;
                        break;
                    }
                    if raw.len() < data_start + size + 2 {
                        break;
                    }
                    decoded.extend_from_slice(&raw[data_start..data_start + size]);
                    chunk_pos = data_start + size + 2;
                }
            } else {
                decoded = raw[*start..].to_vec();
                let len = hs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok());
                complete = len.is_some_and(|l| decoded.len() >= l);
            }
            while let Some(i) = decoded[scanned..].iter().position(|b| *b == b'\n') {
                let line = String::from_utf8_lossy(&decoded[scanned..scanned + i])
                    .trim_end_matches('\r')
                    .to_string();
                scanned += i + 1;
                if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                } else if line.is_empty() && !data.is_empty() {
                    let (content, vis) = client_content(&data);
                    if content {
                        events += 1;
                        ttft.get_or_insert(ms(now));
                    }
                    if vis {
                        visible.get_or_insert(ms(now));
                    }
                    data.clear();
                }
            }
        }
        if complete || n == 0 {
            total = ms(now);
            break;
        }
    }
    let (status, headers, _) = head.unwrap_or((0, Vec::new(), 0));
    RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&decoded).to_string(),
        ttft_ms: ttft,
        ttft_visible_ms: visible,
        total_ms: total,
        content_events: events,
        complete,
    }
}
