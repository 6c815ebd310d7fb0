//! The audit log: query and verify.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::AuditQuery;

use crate::boundary::{aivault_status, json_arg, json_call};
use crate::vault::aivault_vault;
use aivault_core::requests::AuditQueryRequest;

/// Audit events, newest first, as a JSON array; `query_json` is NULL or `{"limit"?,
/// "beforeTsMs"?, "kind"?, "secretId"?}`. Events name ids and kinds, never values.
///
/// # Safety
/// `vault` is a live handle; `query_json` is NULL or NUL-terminated; `out` points to writable
/// storage for a pointer. Release `*out` with `aivault_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_audit_query(
    vault: *const aivault_vault,
    query_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let query: AuditQueryRequest = if query_json.is_null() {
                AuditQueryRequest::default()
            } else {
                json_arg(query_json, "query_json")?
            };
            vault.audit(&AuditQuery::from(query))
        })
    }
}

/// Verifies the audit log's HMAC chain (needs the key); `*out` receives the report as JSON:
/// whether the chain holds and, if not, where it breaks.
///
/// # Safety
/// As [`aivault_audit_query`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_audit_verify(
    vault: *const aivault_vault,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: the caller's contract.
    unsafe { json_call(vault, out, |vault| vault.verify_audit()) }
}
