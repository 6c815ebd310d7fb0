//! Capabilities: list, describe, create, delete, policies and bindings.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::{NewCapability, PolicyUpdate};

use crate::boundary::{aivault_status, json_arg, json_call, text};
use crate::vault::aivault_vault;
use aivault_core::requests::{
    BindingFilterRequest, BindingRequest, CapabilityRequest, PolicyRequest,
};

/// Lists capabilities as JSON: `{"capabilities": [ready...], "registryCapabilities":
/// [available...], "policies": [...]}`.
///
/// # Safety
/// `vault` is a live handle; string arguments are NUL-terminated (or NULL where allowed);
/// `out` points to writable storage for a pointer. Release `*out` with `aivault_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_list(
    vault: *const aivault_vault,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY: the caller's contract.
    unsafe { json_call(vault, out, |vault| vault.list_capabilities()) }
}

/// How to call capability `id` (methods, paths, hosts, auth, policy, and what to set up when no
/// credential enables it yet), as JSON.
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_describe(
    vault: *const aivault_vault,
    id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            vault.describe_capability(text(id, "id")?)
        })
    }
}

/// Creates an operator capability from `request_json`: `{"id", "provider"? | "credential"?,
/// "methods": [...], "paths": [...], "hosts"?: [...]}`.
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_create(
    vault: *const aivault_vault,
    request_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let request: CapabilityRequest = json_arg(request_json, "request_json")?;
            vault.create_capability(NewCapability::from(request))
        })
    }
}

/// Deletes operator capability `id` with its policy and bindings.
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_delete(
    vault: *const aivault_vault,
    id: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe { json_call(vault, out, |vault| vault.delete_capability(text(id, "id")?)) }
}

/// Sets fields of capability `id`'s policy from `policy_json`: `{"rateLimitPerMinute"?,
/// "maxRequestBodyBytes"?, "maxResponseBodyBytes"?, "responseBlock"?: [...]}` (absent fields
/// keep their value).
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_set_policy(
    vault: *const aivault_vault,
    id: *const c_char,
    policy_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let request: PolicyRequest = json_arg(policy_json, "policy_json")?;
            vault.set_policy(text(id, "id")?, PolicyUpdate::from(request))
        })
    }
}

/// Binds a capability to a secret for a scope (and consumer): `binding_json` is
/// `{"capability", "secretRef", "scope"?, "workspaceId"?, "groupId"?, "consumer"?}`.
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_bind(
    vault: *const aivault_vault,
    binding_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let request: BindingRequest = json_arg(binding_json, "binding_json")?;
            vault.bind(request.into_new()?)
        })
    }
}

/// Removes the binding `binding_json` names (`{"capability", "scope"?, "workspaceId"?,
/// "groupId"?, "consumer"?}`); `*out` says whether one was removed.
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_unbind(
    vault: *const aivault_vault,
    binding_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let request: BindingRequest = json_arg(binding_json, "binding_json")?;
            vault.unbind(
                &request.capability,
                &request.scope()?,
                request.consumer.as_deref(),
            )
        })
    }
}

/// Lists bindings as a JSON array, filtered by `filter_json` (NULL, or `{"capability"?,
/// "scope"?, "workspaceId"?, "groupId"?, "consumer"?}`).
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_bindings(
    vault: *const aivault_vault,
    filter_json: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            let filter: BindingFilterRequest = if filter_json.is_null() {
                BindingFilterRequest::default()
            } else {
                json_arg(filter_json, "filter_json")?
            };
            vault.bindings(&filter.into_filter()?)
        })
    }
}

/// Which capability a plain HTTP request goes through (what a drop-in SDK transport asks
/// before invoking): `*out` receives `{"capability", "path"}`, the most specific capability
/// whose hosts, methods and paths admit `method` to `host` at `path` (with query), and the
/// path to invoke it with (its upstream prefix removed). `AIVAULT_CAPABILITY_NOT_FOUND` when
/// none does.
///
/// # Safety
/// As [`aivault_capability_list`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aivault_capability_route(
    vault: *const aivault_vault,
    host: *const c_char,
    method: *const c_char,
    path: *const c_char,
    out: *mut *mut c_char,
) -> aivault_status {
    // SAFETY (all blocks): the caller's contract.
    unsafe {
        json_call(vault, out, |vault| {
            vault.route(
                text(host, "host")?,
                text(method, "method")?,
                text(path, "path")?,
            )
        })
    }
}
