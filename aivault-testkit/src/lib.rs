//! Test support for aivault: real loopback HTTP/HTTPS upstreams that record exactly what they
//! received, and a throwaway PKI to run them with TLS and mutual TLS.
//!
//! ```
//! use aivault_testkit::{Reply, Upstream};
//! use std::io::{BufReader, Write};
//! use std::net::TcpStream;
//!
//! let upstream = Upstream::http(|req| Reply::ok(format!("you asked for {}", req.target)));
//! let mut socket = TcpStream::connect(upstream.addr()).unwrap();
//! socket.write_all(b"GET /v1/x?a=1 HTTP/1.1\r\nHost: up\r\n\r\n").unwrap();
//! let resp = aivault_testkit::read_response(&mut BufReader::new(socket), false).unwrap();
//! assert_eq!(resp.body_text(), "you asked for /v1/x?a=1");
//! assert_eq!(upstream.requests()[0].header("host"), Some("up"));
//! ```
//!
//! - [`Pki`]: a CA, a server certificate and a client certificate (rcgen, ECDSA P-256).
//! - [`Upstream`]: the server; [`Upstream::http`], [`Upstream::https`], [`Upstream::https_mtls`].
//! - [`Recorded`]: one received request, byte-exact; [`Reply`]: what the handler answers.
//! - [`echo_handler`]: reflects the request back in the body and in `x-echo-*` headers.
//! - [`read_response`]: a minimal HTTP/1.1 response reader for raw-socket tests.
//! - [`git_refs_handler`]: a git smart-HTTP ref advertisement (`git ls-remote`).

#![allow(clippy::unwrap_used)] // Test support: failing loudly is the point.

mod git;
mod http;
mod pki;
mod server;

pub use git::{git_refs_handler, pkt_line, upload_pack_advertisement};
pub use http::{RawResponse, Recorded, Reply, read_response};
pub use pki::Pki;
pub use server::Upstream;

/// A handler replying `200` with a JSON body
/// `{"method": .., "target": .., "headers": {name: value, ..}, "body": <lossy string>}` and
/// echoing every request header back as a response header `x-echo-<name>`.
///
/// Header names are lowercased (both as JSON keys and in `x-echo-*`); repeated headers are
/// joined with `", "` in the JSON and echoed once per occurrence. Used to prove that the broker
/// redacts secrets an upstream reflects in headers and bodies.
pub fn echo_handler() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    |req: &Recorded| {
        let mut names: Vec<String> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        let mut reply = Reply::json(Vec::new());
        for (name, value) in &req.headers {
            let lower = name.to_ascii_lowercase();
            reply = reply.header(format!("x-echo-{lower}"), value.clone());
            match names.iter().position(|n| *n == lower) {
                Some(i) => {
                    values[i].push_str(", ");
                    values[i].push_str(value);
                }
                None => {
                    names.push(lower);
                    values.push(value.clone());
                }
            }
        }
        let headers: Vec<String> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| format!("{}:{}", json_string(n), json_string(v)))
            .collect();
        let body = format!(
            "{{\"method\":{},\"target\":{},\"headers\":{{{}}},\"body\":{}}}",
            json_string(&req.method),
            json_string(&req.target),
            headers.join(","),
            json_string(&String::from_utf8_lossy(&req.body)),
        );
        reply.body(body)
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escaping() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
