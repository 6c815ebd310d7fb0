//! Invoking a capability: the request goes in as JSON plus body bytes; the response comes back
//! as an `aivault_response` (status, headers, body, the planned request).
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use aivault_core::{InvokeResponse, Planned};

use crate::boundary::{aivault_status, bytes, check_out, guard, json_arg, put, vault};
use crate::vault::aivault_vault;
use aivault_core::requests::InvokeRequest;

/// A complete upstream response, redacted. Opaque to C; read it with the `aivault_response_*`
/// functions and release it with [`aivault_response_free`]. Immutable, so it may be read from
/// any thread.
#[allow(non_camel_case_types)]
pub struct aivault_response {
    status: u16,
    headers: Vec<(String, String)>,
    planned: Planned,
    body: Vec<u8>,
    /// The JSON texts, encoded at the first read (most callers read only status and body, and
    /// the encoding was a measurable part of a loopback call); `OnceLock` keeps a response
    /// readable from any thread.
    headers_json: OnceLock<Option<CString>>,
    planned_json: OnceLock<Option<CString>>,
}

/// `value` as JSON text; `None` only if encoding failed (strings always encode, and JSON
/// escapes U+0000, so in practice never).
fn json_text(value: &impl serde::Serialize) -> Option<CString> {
    CString::new(serde_json::to_string(value).ok()?).ok()
}

/// The pointer of a lazily encoded text (NULL if it could not be encoded).
fn text_ptr(
    cell: &OnceLock<Option<CString>>,
    encode: impl FnOnce() -> Option<CString>,
) -> *const c_char {
    cell.get_or_init(encode)
        .as_ref()
        .map_or(std::ptr::null(), |text| text.as_ptr())
}

/// Calls a capability through the broker (policy, credential injection, network guard,
/// redaction, audit) and waits for the whole response. `request_json` is `{"capability",
/// "method"?, "path"?, "headers"?: {"name": "value"} | [{"name", "value"}], "credential"?,
/// "workspaceId"?, "groupId"?, "consumer"?, "timeoutMs"?}`; the body is the `body_len` bytes at
/// `body`. Blocks for the whole exchange. An upstream status of 4xx or 5xx is a successful call
/// (`AIVAULT_OK`): read it with [`aivault_response_status`].
///
/// # Safety
/// `vault` is a live handle; `request_json` is NUL-terminated; `body` points to `body_len`
/// readable bytes (or is NULL with 0); `out` points to writable storage for a pointer. Release
/// `*out` with [`aivault_response_free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_invoke(
    vault: *const aivault_vault,
    request_json: *const c_char,
    body: *const u8,
    body_len: usize,
    out: *mut *mut aivault_response,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let request: InvokeRequest = unsafe { json_arg(request_json, "request_json") }?;
        let body = unsafe { bytes(body, body_len, "body") }?.to_vec();
        let response = vault.invoke(&request.into_invocation(body))?;
        unsafe { put(out, Box::into_raw(aivault_response::new(response)), "out") }
    })
}

impl aivault_response {
    /// The C handle of a core response (local or remote); its JSON texts are encoded at their
    /// first read.
    pub(crate) fn new(response: InvokeResponse) -> Box<aivault_response> {
        Box::new(aivault_response {
            status: response.status,
            headers: response.headers,
            planned: response.planned,
            body: response.body,
            headers_json: OnceLock::new(),
            planned_json: OnceLock::new(),
        })
    }
}

/// The upstream HTTP status (0 for a NULL response).
///
/// # Safety
/// `response` is NULL or a live response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_response_status(response: *const aivault_response) -> u16 {
    // SAFETY: NULL or a live response per the contract.
    unsafe { response.as_ref() }.map_or(0, |r| r.status)
}

/// The response headers as a JSON array of `{"name", "value"}` (auth-class, cookie and framing
/// headers dropped, values redacted). Owned by the response: valid until it is freed; NULL for
/// a NULL response.
///
/// # Safety
/// `response` is NULL or a live response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_response_headers(
    response: *const aivault_response,
) -> *const c_char {
    // SAFETY: NULL or a live response per the contract.
    unsafe { response.as_ref() }.map_or(std::ptr::null(), |r| {
        text_ptr(&r.headers_json, || {
            let headers: Vec<serde_json::Value> = r
                .headers
                .iter()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect();
            json_text(&headers)
        })
    })
}

/// The request the broker made, as JSON `{"capability", "credential", "method", "url"}` (the
/// URL shows `REDACTED` where a secret goes). Owned by the response; NULL for a NULL response.
///
/// # Safety
/// `response` is NULL or a live response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_response_planned(
    response: *const aivault_response,
) -> *const c_char {
    // SAFETY: NULL or a live response per the contract.
    unsafe { response.as_ref() }.map_or(std::ptr::null(), |r| {
        text_ptr(&r.planned_json, || json_text(&r.planned))
    })
}

/// The response body (redacted) and, through `len`, its length. Owned by the response: valid
/// until it is freed. A NULL response gives NULL and length 0.
///
/// # Safety
/// `response` is NULL or a live response; `len` is NULL or points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_response_body(
    response: *const aivault_response,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: NULL or a live response per the contract.
    let (ptr, n) = unsafe { response.as_ref() }
        .map_or((std::ptr::null(), 0), |r| (r.body.as_ptr(), r.body.len()));
    // SAFETY: NULL or writable per the contract; a NULL `len` is simply not written.
    let _ = unsafe { put(len, n, "len") };
    ptr
}

/// Releases a response. `NULL` is a no-op.
///
/// # Safety
/// `response` is NULL or a response from [`aivault_invoke`] or
/// [`crate::remote::aivault_remote_invoke`] not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_response_free(response: *mut aivault_response) {
    if !response.is_null() {
        // SAFETY: from Box::into_raw, released once.
        drop(unsafe { Box::from_raw(response) });
    }
}
