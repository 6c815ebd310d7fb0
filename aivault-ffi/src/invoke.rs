//! Invoking a capability: the request goes in as JSON plus body bytes; the response comes back
//! as an `aivault_response` (status, headers, body, the planned request).
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::{CString, c_char};

use aivault_core::{Error, ErrorKind, InvokeResponse};

use crate::boundary::{aivault_status, bytes, check_out, guard, json_arg, put, vault};
use crate::vault::aivault_vault;
use aivault_core::requests::InvokeRequest;

/// A complete upstream response, redacted. Opaque to C; read it with the `aivault_response_*`
/// functions and release it with [`aivault_response_free`]. Immutable, so it may be read from
/// any thread.
#[allow(non_camel_case_types)]
pub struct aivault_response {
    status: u16,
    headers_json: CString,
    planned_json: CString,
    body: Vec<u8>,
}

fn json_text(value: &impl serde::Serialize) -> Result<CString, Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))?;
    CString::new(json).map_err(|_| Error::new(ErrorKind::Internal, "JSON held a NUL byte"))
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
        unsafe { put(out, Box::into_raw(aivault_response::new(response)?), "out") }
    })
}

impl aivault_response {
    /// The C handle of a core response (local or remote).
    pub(crate) fn new(response: InvokeResponse) -> Result<Box<aivault_response>, Error> {
        let headers: Vec<serde_json::Value> = response
            .headers
            .iter()
            .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
            .collect();
        Ok(Box::new(aivault_response {
            status: response.status,
            headers_json: json_text(&headers)?,
            planned_json: json_text(&response.planned)?,
            body: response.body,
        }))
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
    unsafe { response.as_ref() }.map_or(std::ptr::null(), |r| r.headers_json.as_ptr())
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
    unsafe { response.as_ref() }.map_or(std::ptr::null(), |r| r.planned_json.as_ptr())
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
