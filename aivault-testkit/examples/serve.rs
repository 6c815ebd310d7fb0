//! A loopback upstream for whole-process benchmarks (`scripts/bench_invoke.py`).
//!
//! Starts one HTTPS [`Upstream`] with a throwaway [`Pki`] whose server certificate names
//! `api.openai.com`, writes the CA to `<dir>/ca.pem`, prints one line
//! `{"port": PORT, "ca": "<dir>/ca.pem"}` on stdout and serves until stdin reaches EOF.
//!
//! - `GET /v1/models/zeros?bytes=N`: `200` with N zero bytes (streamed in 64 KiB pieces);
//! - `POST /v1/chat/completions`: `200` with a small chat completion (for SDK benchmarks);
//! - any other request: `200` with a fixed 1 KiB JSON body.
//!
//! With `http` as the second argument the upstream is plain HTTP (`scripts/bench_serve.py`'s
//! throughput and gateway runs, through a credential that opts in to a loopback host).
//!
//! Usage: `cargo run --release -p aivault-testkit --example serve -- <dir> [http]`

#![allow(clippy::unwrap_used)] // A benchmark helper: failing loudly is the point.

use std::io::{Read, Write};
use std::path::PathBuf;

use aivault_testkit::{Pki, Reply, Upstream};

/// The fixed 1 KiB JSON body (the same one as `aivault-core/benches/broker.rs`).
fn body_1k() -> Vec<u8> {
    let head = br#"{"object":"list","data":[{"id":"gpt-bench","object":"model","owned_by":"bench","pad":""#;
    let tail = br#""}]}"#;
    let mut body = head.to_vec();
    body.resize(1024 - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

/// A chat completion as the OpenAI API answers one.
const CHAT: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}"#;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let pki = Pki::new(&["api.openai.com", "localhost"]);
    let ca = pki.write_ca(&dir);
    let body = body_1k();
    let handler = move |req: &aivault_testkit::Recorded| {
        if let Some(query) = req.target.strip_prefix("/v1/models/zeros?bytes=") {
            return Reply::stream_zeros(query.parse().unwrap_or(0));
        }
        if req.target == "/v1/chat/completions" {
            return Reply::json(CHAT.to_vec());
        }
        Reply::json(body.clone())
    };
    let upstream = if std::env::args().nth(2).as_deref() == Some("http") {
        Upstream::http(handler)
    } else {
        Upstream::https(&pki, handler)
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{{\"port\": {}, \"ca\": \"{}\"}}",
        upstream.port(),
        ca.display()
    )
    .unwrap();
    out.flush().unwrap();
    drop(out);
    // Serve until the parent closes our stdin (or exits).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(upstream);
}
