//! Credentials: create, list, delete.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::NewCredential;

use crate::boundary::{aivault_status, json_arg, json_call, text};
use crate::vault::aivault_vault;
use aivault_core::requests::CredentialRequest;

/// Creates a credential from `request_json`, the options of `aivault credential create` in
/// camelCase: `{"id", "provider", "secretRefs": [...], "auth"?: {"kind", "headerName",
/// "valueTemplate", "queryParams", "pathPrefixTemplate", "authHeaders", "usernameTemplate",
/// "passwordTemplate", "grantType", "tokenEndpoint", "scopes", "tokenAuth", "awsService",
/// "awsRegion", "timestampHeader"}, "hosts"?: [...], "workspaceId"?, "groupId"?, "network"?:
/// {"allowPrivateNetwork", "insecureHttp", "caCert"}}`. `*out` receives the credential as JSON.
///
/// # Safety
/// `vault` is a live handle; `request_json` is NUL-terminated; `out` points to writable
/// storage for a pointer. Release `*out` with `aivault_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_credential_create(
    vault: *const aivault_vault,
    request_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let request: CredentialRequest = json_arg(request_json, "request_json")?;
            vault.create_credential(NewCredential::from(request))
        })
    }
}

/// Lists credentials (what is injected, how, towards which hosts; never a value) as a JSON
/// array.
///
/// # Safety
/// As [`aivault_credential_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_credential_list(
    vault: *const aivault_vault,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: the caller's contract.
    unsafe { json_call(vault, out, |vault| vault.list_credentials()) }
}

/// Deletes credential `id`; `*out` receives `{"removed", "id", "origin"?}` (`removed` false
/// when there was none).
///
/// # Safety
/// As [`aivault_credential_create`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_credential_delete(
    vault: *const aivault_vault,
    id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe { json_call(vault, out, |vault| vault.delete_credential(text(id, "id")?)) }
}
