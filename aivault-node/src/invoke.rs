//! Invoking a capability: the request as the core's `InvokeRequest` (camelCase), the body as a
//! string or bytes, or any JSON value (sent as `application/json`); the whole response comes
//! back (status, headers, body bytes, the planned request). An upstream 4xx or 5xx resolves:
//! only the broker's own refusals and failures reject.

use std::sync::Arc;

use aivault_core::Invocation;
use aivault_core::requests::InvokeRequest;
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Unknown};
use napi_derive::napi;

use crate::args;
use crate::call::{Call, Reply, call};
use crate::error::Failure;
use crate::vault::Handle;

/// One response header (auth-class, cookie and framing headers are never relayed).
#[napi(object)]
pub struct Header {
    /// Lower-case name.
    pub name: String,
    /// Value (redacted).
    pub value: String,
}

/// The request the broker made.
#[napi(object)]
pub struct Planned {
    /// The capability id.
    pub capability: String,
    /// The credential used.
    pub credential: String,
    /// The HTTP method.
    pub method: String,
    /// Scheme, host, path and query, with `REDACTED` where a secret goes.
    pub url: String,
}

/// A complete upstream response, redacted.
#[napi(object)]
pub struct InvokeResult {
    /// The upstream HTTP status, relayed as is.
    pub status: u32,
    /// The relayed headers, in order (repeats kept).
    pub headers: Vec<Header>,
    /// The body, redacted.
    pub body: Buffer,
    /// The request made.
    pub planned: Planned,
}

/// The core's response, carried back to the JS thread.
pub struct InvokeReply(pub(crate) aivault_core::InvokeResponse);

impl Reply for InvokeReply {
    type Js<'env> = InvokeResult;
    fn into_js(self, _env: &Env) -> napi::Result<InvokeResult> {
        let r = self.0;
        Ok(InvokeResult {
            status: u32::from(r.status),
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            body: Buffer::from(r.body),
            planned: Planned {
                capability: r.planned.capability,
                credential: r.planned.credential,
                method: r.planned.method,
                url: r.planned.url,
            },
        })
    }
}

/// `invoke`'s arguments as read on the JS thread: the request, the body, the JSON body.
pub(crate) type InvokeArgs = (InvokeRequest, Vec<u8>, Option<serde_json::Value>);

/// Reads `invoke`'s arguments (JS thread).
pub(crate) fn invoke_args(
    env: &Env,
    request: Unknown,
    body: Option<Unknown>,
    json: Option<Unknown>,
) -> Result<InvokeArgs, Failure> {
    let request: InvokeRequest = args::object(env, request, "request")?;
    let body = match body {
        Some(body) => args::optional_bytes(env, body, "body")?,
        None => Vec::new(),
    };
    let json = match json {
        Some(json) => args::optional_json(env, json, "json")?,
        None => None,
    };
    if json.is_some() && !body.is_empty() {
        return Err(Failure::invalid("give either body or json, not both"));
    }
    Ok((request, body, json))
}

/// The core invocation of `invoke`'s arguments (a JSON body gets `content-type:
/// application/json` unless the caller set one).
pub(crate) fn invocation((request, body, json): InvokeArgs) -> Result<Invocation, Failure> {
    let body = match &json {
        Some(value) => serde_json::to_vec(value)
            .map_err(|e| Failure::invalid(format!("json cannot be encoded: {e}")))?,
        None => body,
    };
    let mut invocation = request.into_invocation(body);
    let typed = invocation
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if json.is_some() && !typed {
        invocation
            .headers
            .push(("content-type".into(), "application/json".into()));
    }
    Ok(invocation)
}

/// Reads the arguments (JS thread) and runs the call (pool).
pub(crate) fn invoke(
    env: &Env,
    handle: &Arc<Handle>,
    request: Unknown,
    body: Option<Unknown>,
    json: Option<Unknown>,
) -> AsyncTask<Call<InvokeReply>> {
    let args = invoke_args(env, request, body, json);
    call(handle, args, |vault, args| {
        Ok(InvokeReply(vault.invoke(&invocation(args)?)?))
    })
}

/// A plain request as read on the JS thread: host, method, path, headers, body.
pub(crate) type SendArgs = (String, String, String, Vec<args::HeaderArg>, Vec<u8>);

/// Reads `send`'s arguments (JS thread).
pub(crate) fn send_args(
    env: &Env,
    [host, method, path]: [Unknown; 3],
    headers: Unknown,
    body: Option<Unknown>,
) -> Result<SendArgs, Failure> {
    let host = args::text(env, host, "host")?;
    let method = args::text(env, method, "method")?;
    let path = args::text(env, path, "path")?;
    let headers: Vec<args::HeaderArg> = args::array(env, headers, "headers")?;
    let body = match body {
        Some(body) => args::optional_bytes(env, body, "body")?,
        None => Vec::new(),
    };
    Ok((host, method, path, headers, body))
}

/// The invocation of a plain request once routed.
pub(crate) fn routed(
    route: aivault_core::Route,
    method: String,
    headers: Vec<args::HeaderArg>,
    body: Vec<u8>,
) -> Invocation {
    Invocation {
        capability: route.capability,
        method: Some(method),
        path: Some(route.path),
        headers: headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body: if body.is_empty() {
            aivault_core::RequestBody::Empty
        } else {
            aivault_core::RequestBody::Bytes(body)
        },
        ..Invocation::default()
    }
}

/// A plain request (host, method, path with query, headers, body) routed to the capability
/// that allows it and invoked, in one pool task (see `Vault::route`).
pub(crate) fn send(
    env: &Env,
    handle: &Arc<Handle>,
    target: [Unknown; 3],
    headers: Unknown,
    body: Option<Unknown>,
) -> AsyncTask<Call<InvokeReply>> {
    let args = send_args(env, target, headers, body);
    call(
        handle,
        args,
        |vault, (host, method, path, headers, body)| {
            let route = vault.route(&host, &method, &path)?;
            Ok(InvokeReply(
                vault.invoke(&routed(route, method, headers, body))?,
            ))
        },
    )
}
