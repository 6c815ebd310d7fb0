//! The one loopback upstream every runner calls: it records each request (the harness reads
//! them back per step through the marker header) and answers predictably:
//!
//! - `/v1/echo-auth...`: `200`, `{"authorization": "<the Authorization header received>"}`
//!   (the broker must redact the echoed key);
//! - `/v1/status/<code>...`: that status with body `status <code>` (relayed, not an error);
//! - anything else: `200`, `{"method", "target", "body"}` of the request, with the response
//!   header `x-upstream: conformance`.

use aivault_testkit::{Recorded, Reply, Upstream};
use serde_json::json;

/// The request header the harness adds to every `invoke` step, naming runner, scenario index
/// and step index (`rust:3:4`), so each recorded request is attributed to its step.
pub const MARKER: &str = "x-conformance-step";

/// Starts the upstream.
pub fn start() -> Upstream {
    Upstream::http(reply)
}

fn reply(req: &Recorded) -> Reply {
    let path = req.target.split('?').next().unwrap_or_default();
    if path.starts_with("/v1/echo-auth") {
        let auth = req.header("authorization").unwrap_or_default();
        return Reply::json(json!({ "authorization": auth }).to_string());
    }
    if let Some(code) = path
        .strip_prefix("/v1/status/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|code| code.parse::<u16>().ok())
    {
        return Reply::status(code).body(format!("status {code}"));
    }
    let body = json!({
        "method": req.method,
        "target": req.target,
        "body": String::from_utf8_lossy(&req.body),
    });
    Reply::json(body.to_string()).header("x-upstream", "conformance")
}
