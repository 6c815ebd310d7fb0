//! Capabilities: list, describe, create, delete, policies and bindings.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` entry points taking C pointers.

use std::ffi::c_char;

use aivault_core::{NewCapability, PolicyUpdate};

use crate::boundary::{
    aivault_status, check_out, guard, json_arg, optional_text, put_json, text, vault,
};
use crate::requests::{BindingFilterRequest, BindingRequest, CapabilityRequest, PolicyRequest};
use crate::vault::aivault_vault;

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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let listing = vault.list_capabilities()?;
        unsafe { put_json(out, &listing) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let description = vault.describe_capability(unsafe { text(id, "id") }?)?;
        unsafe { put_json(out, &description) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let request: CapabilityRequest = unsafe { json_arg(request_json, "request_json") }?;
        let view = vault.create_capability(NewCapability::from(request))?;
        unsafe { put_json(out, &view) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let deletion = vault.delete_capability(unsafe { text(id, "id") }?)?;
        unsafe { put_json(out, &deletion) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let request: PolicyRequest = unsafe { json_arg(policy_json, "policy_json") }?;
        let policy = vault.set_policy(unsafe { text(id, "id") }?, PolicyUpdate::from(request))?;
        unsafe { put_json(out, &policy) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let request: BindingRequest = unsafe { json_arg(binding_json, "binding_json") }?;
        let outcome = vault.bind(request.into_new()?)?;
        unsafe { put_json(out, &outcome) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let request: BindingRequest = unsafe { json_arg(binding_json, "binding_json") }?;
        let scope = request.scope()?;
        let outcome = vault.unbind(&request.capability, &scope, request.consumer.as_deref())?;
        unsafe { put_json(out, &outcome) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let filter: BindingFilterRequest =
            match unsafe { optional_text(filter_json, "filter_json") }? {
                Some(_) => unsafe { json_arg(filter_json, "filter_json") }?,
                None => BindingFilterRequest::default(),
            };
        let bindings = vault.bindings(&filter.into_filter()?)?;
        unsafe { put_json(out, &bindings) }
    })
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
    guard(|| {
        check_out(out, "out")?;
        // SAFETY (all blocks): the caller's contract.
        let vault = unsafe { self::vault(vault) }?;
        let route = vault.route(
            unsafe { text(host, "host") }?,
            unsafe { text(method, "method") }?,
            unsafe { text(path, "path") }?,
        )?;
        unsafe { put_json(out, &route) }
    })
}
