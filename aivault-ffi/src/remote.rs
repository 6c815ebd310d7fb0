//! The remote form: the same invoke / list / describe / route through a running `aivault
//! serve`, with only its socket and a caller token (the process never opens the vault). A
//! thin translation of `aivault_core::remote::client::Remote`.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;
use std::path::PathBuf;

use aivault_core::remote::client::Remote;
use aivault_core::requests::InvokeRequest;
use aivault_core::{Error, ErrorKind};
use serde::Serialize;

use crate::boundary::{
    aivault_status, bytes, check_out, guard, json_arg, optional_text, put, put_json, text,
};
use crate::invoke::aivault_response;

/// A server and a caller token. Opaque to C. Thread-safe: functions may be called on one
/// handle from any number of threads at once (each call is its own connection).
#[allow(non_camel_case_types)]
pub struct aivault_remote {
    remote: Remote,
}

/// Makes a handle for the server at `socket` with caller token `token` (from `aivault token
/// create`); NULL takes `AIVAULT_SOCKET` / `AIVAULT_TOKEN` from the environment. Nothing is
/// contacted until the first call. `AIVAULT_INVALID_INPUT` without a socket,
/// `AIVAULT_UNAUTHORIZED` without a token. On success `*out` holds a handle to release with
/// [`aivault_remote_free`].
///
/// # Safety
/// `socket` and `token` are NULL or NUL-terminated strings; `out` points to writable storage
/// for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_connect(
    socket: *const c_char,
    token: *const c_char,
    out: *mut *mut aivault_remote,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let socket = unsafe { optional_text(socket, "socket") }?.map(PathBuf::from);
        let token = unsafe { optional_text(token, "token") }?.map(str::to_string);
        let handle = Box::new(aivault_remote {
            remote: Remote::connect(socket, token)?,
        });
        unsafe { put(out, Box::into_raw(handle), "out") }
    })
}

/// Releases a handle. `NULL` is a no-op.
///
/// # Safety
/// `remote` is NULL or a handle from [`aivault_connect`] that no other thread is using and
/// that was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_remote_free(remote: *mut aivault_remote) {
    if !remote.is_null() {
        // SAFETY: a live handle from Box::into_raw, released once.
        drop(unsafe { Box::from_raw(remote) });
    }
}

/// The remote behind a handle.
///
/// # Safety
/// `remote` is NULL or a live handle.
unsafe fn remote<'a>(remote: *const aivault_remote) -> Result<&'a Remote, Error> {
    // SAFETY: NULL or a live handle per the caller's contract; never mutated.
    unsafe { remote.as_ref() }
        .map(|r| &r.remote)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "argument 'remote' is NULL"))
}

/// Checks `out`, resolves the handle, runs `call` and returns its record as JSON.
///
/// # Safety
/// `handle` is NULL or a live handle; `out` is NULL or writable storage for a pointer.
unsafe fn remote_json<T: Serialize>(
    handle: *const aivault_remote,
    out: *mut *mut c_char,
    call: impl FnOnce(&Remote) -> Result<T, Error>,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (both blocks): the caller's contract.
        let value = call(unsafe { remote(handle) }?)?;
        unsafe { put_json(out, &value) }
    })
}

/// `aivault_invoke` through the server: the same `request_json` and body, the same
/// `aivault_response` (status, headers, body, planned request). Blocks for the whole
/// exchange. A token that is refused, or a call outside its capabilities or context, is
/// `AIVAULT_UNAUTHORIZED`; a server that cannot be reached is `AIVAULT_IO`.
///
/// # Safety
/// `remote` is a live handle; `request_json` is NUL-terminated; `body` points to `body_len`
/// readable bytes (or is NULL with 0); `out` points to writable storage for a pointer. Release
/// `*out` with `aivault_response_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_remote_invoke(
    remote: *const aivault_remote,
    request_json: *const c_char,
    body: *const u8,
    body_len: usize,
    out: *mut *mut aivault_response,
) -> aivault_status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let remote = unsafe { self::remote(remote) }?;
        let request: InvokeRequest = unsafe { json_arg(request_json, "request_json") }?;
        let body = unsafe { bytes(body, body_len, "body") }?.to_vec();
        let response = remote.invoke(&request.into_invocation(body))?;
        unsafe { put(out, Box::into_raw(aivault_response::new(response)), "out") }
    })
}

/// The token's capabilities as JSON (as `aivault_capability_list`, limited to the token).
///
/// # Safety
/// `remote` is a live handle; `out` points to writable storage for a pointer. Release `*out`
/// with `aivault_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_remote_capability_list(
    remote: *const aivault_remote,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: the caller's contract.
    unsafe { remote_json(remote, out, |r| r.list_capabilities()) }
}

/// How to call capability `id` (one the token names) as JSON; `AIVAULT_UNAUTHORIZED` for
/// one it does not.
///
/// # Safety
/// As [`aivault_remote_capability_list`]; `id` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_remote_capability_describe(
    remote: *const aivault_remote,
    id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe { remote_json(remote, out, |r| r.describe_capability(text(id, "id")?)) }
}

/// Which of the token's capabilities a plain HTTP request goes through: `*out` receives
/// `{"capability", "path"}` (as `aivault_capability_route`); `AIVAULT_CAPABILITY_NOT_FOUND`
/// when none does.
///
/// # Safety
/// As [`aivault_remote_capability_list`]; `host`, `method` and `path` are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_remote_capability_route(
    remote: *const aivault_remote,
    host: *const c_char,
    method: *const c_char,
    path: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        remote_json(remote, out, |r| {
            r.route(
                text(host, "host")?,
                text(method, "method")?,
                text(path, "path")?,
            )
        })
    }
}
