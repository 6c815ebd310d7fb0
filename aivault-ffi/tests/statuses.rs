//! The C functions called from Rust as C would call them: statuses and messages for each kind
//! of failure, NULL and non-UTF-8 arguments, JSON records that never hold a value, and one
//! handle shared by 8 threads.
#![allow(unsafe_code)] // Calling the C ABI is unsafe by nature.

use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};

use aivault_ffi::boundary::{aivault_last_error, aivault_status, aivault_string_free};
use aivault_ffi::capabilities::{aivault_capability_route, aivault_capability_set_policy};
use aivault_ffi::credentials::aivault_credential_delete;
use aivault_ffi::invoke::aivault_invoke;
use aivault_ffi::secrets::{
    aivault_secret_create, aivault_secret_delete, aivault_secret_list, aivault_secret_rotate,
};
use aivault_ffi::vault::{aivault_vault, aivault_vault_free, aivault_vault_open};

struct Handle(*mut aivault_vault);
// SAFETY: the handle is documented thread-safe; this test relies on that promise.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

fn open(dir: &std::path::Path) -> Handle {
    let dir = CString::new(dir.to_str().expect("utf8")).expect("no NUL");
    let mut vault = null_mut();
    // SAFETY: valid string and out pointer.
    assert_eq!(
        unsafe { aivault_vault_open(dir.as_ptr(), &mut vault) },
        aivault_status::AIVAULT_OK
    );
    Handle(vault)
}

fn last_error() -> String {
    // SAFETY: a valid thread-local string.
    unsafe { CStr::from_ptr(aivault_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes a returned JSON string and frees it.
fn take(text: *mut c_char) -> String {
    // SAFETY: a string an aivault function returned, freed once.
    let owned = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    unsafe { aivault_string_free(text) };
    owned
}

fn create(vault: &Handle, name: &str, value: &str) -> (aivault_status, String) {
    let name = CString::new(name).expect("no NUL");
    let mut out = null_mut();
    // SAFETY: valid pointers.
    let status = unsafe {
        aivault_secret_create(
            vault.0,
            name.as_ptr(),
            value.as_ptr(),
            value.len(),
            null(),
            null(),
            null(),
            null(),
            &mut out,
        )
    };
    let json = if out.is_null() {
        String::new()
    } else {
        take(out)
    };
    (status, json)
}

#[test]
fn each_failure_has_its_status_and_message_and_values_never_come_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let vault = open(&tmp.path().join("vault"));
    let value = format!("sk-ffi-canary-{}", std::process::id());

    let (status, json) = create(&vault, "OPENAI_API_KEY", &value);
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    assert!(json.contains("\"pinnedProvider\":\"openai\""), "{json}");
    assert!(!json.contains(&value));
    assert_eq!(last_error(), "", "success clears the message");

    let (status, _) = create(&vault, "OPENAI_API_KEY", &value);
    assert_eq!(status, aivault_status::AIVAULT_ALREADY_EXISTS);
    assert!(
        last_error().starts_with("already_exists: "),
        "{}",
        last_error()
    );
    assert!(!last_error().contains(&value));

    let (status, _) = create(&vault, "", "v");
    assert_eq!(status, aivault_status::AIVAULT_INVALID_INPUT);

    // Rotating an unknown id: not_found.
    let id = CString::new("00000000-0000-7000-8000-000000000000").expect("id");
    let mut out = null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { aivault_secret_rotate(vault.0, id.as_ptr(), b"x".as_ptr(), 1, &mut out) };
    assert_eq!(
        status,
        aivault_status::AIVAULT_NOT_FOUND,
        "{}",
        last_error()
    );
    assert!(out.is_null(), "nothing is returned on failure");

    // A policy of 0 calls a minute: the call is refused with rate_limited.
    let capability = CString::new("openai/models").expect("id");
    let policy = CString::new(r#"{"rateLimitPerMinute":0}"#).expect("json");
    // SAFETY: valid pointers.
    let status = unsafe {
        aivault_capability_set_policy(vault.0, capability.as_ptr(), policy.as_ptr(), &mut out)
    };
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    take(out);
    let request = CString::new(r#"{"capability":"openai/models"}"#).expect("json");
    let mut response = null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { aivault_invoke(vault.0, request.as_ptr(), null(), 0, &mut response) };
    assert_eq!(
        status,
        aivault_status::AIVAULT_RATE_LIMITED,
        "{}",
        last_error()
    );

    // Unknown JSON fields, an unknown capability, a bad path.
    for (json, expected) in [
        (
            r#"{"capability":"openai/models","url":"https://evil.test"}"#,
            aivault_status::AIVAULT_INVALID_INPUT,
        ),
        (
            r#"{"capability":"nope/nope"}"#,
            aivault_status::AIVAULT_CAPABILITY_NOT_FOUND,
        ),
        ("not json", aivault_status::AIVAULT_INVALID_INPUT),
    ] {
        let request = CString::new(json).expect("json");
        // SAFETY: valid pointers.
        let status = unsafe { aivault_invoke(vault.0, request.as_ptr(), null(), 0, &mut response) };
        assert_eq!(status, expected, "{json}: {}", last_error());
    }

    // Routing a plain request to its capability.
    let (host, method, path) = (
        CString::new("api.openai.com").expect("host"),
        CString::new("GET").expect("method"),
        CString::new("/v1/models?limit=1").expect("path"),
    );
    // SAFETY: valid pointers.
    let status = unsafe {
        aivault_capability_route(
            vault.0,
            host.as_ptr(),
            method.as_ptr(),
            path.as_ptr(),
            &mut out,
        )
    };
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    assert_eq!(
        take(out),
        r#"{"capability":"openai/models","path":"/v1/models?limit=1"}"#
    );

    // Deleting a credential that does not exist reports removed: false.
    let id = CString::new("nobody").expect("id");
    // SAFETY: valid pointers.
    let status = unsafe { aivault_credential_delete(vault.0, id.as_ptr(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    assert_eq!(take(out), r#"{"removed":false,"id":"nobody"}"#);

    // NULL and invalid UTF-8 arguments.
    // SAFETY: NULL pointers are part of the contract's checked cases.
    let status = unsafe { aivault_secret_list(null(), null(), null(), null(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_INVALID_INPUT);
    assert_eq!(last_error(), "invalid_input: argument 'vault' is NULL");
    let bad = [0xffu8, 0xfe, 0];
    // SAFETY: a NUL-terminated byte string.
    let status =
        unsafe { aivault_secret_list(vault.0, bad.as_ptr().cast(), null(), null(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_INVALID_INPUT);
    assert_eq!(
        last_error(),
        "invalid_input: argument 'scope' is not valid UTF-8"
    );

    // SAFETY: valid pointers.
    let status = unsafe { aivault_secret_list(vault.0, null(), null(), null(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    let listed = take(out);
    assert!(
        listed.contains("OPENAI_API_KEY") && !listed.contains(&value),
        "{listed}"
    );

    // Deleting reports the secret and what went with it (its auto-provisioned credential).
    let id: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let id = CString::new(id[0]["secretId"].as_str().expect("secretId")).expect("id");
    // SAFETY: valid pointers.
    let status = unsafe { aivault_secret_delete(vault.0, id.as_ptr(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
    let deleted: serde_json::Value = serde_json::from_str(&take(out)).expect("json");
    assert_eq!(deleted["secret"]["name"], "OPENAI_API_KEY");
    assert_eq!(deleted["removedCredentials"], serde_json::json!(["openai"]));
    assert_eq!(deleted["removedBindings"], 0);
    assert!(!deleted.to_string().contains(&value));
    // SAFETY: a live handle, freed once.
    unsafe { aivault_vault_free(vault.0) };
}

#[test]
fn one_handle_serves_eight_threads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let vault = open(&tmp.path().join("vault"));
    std::thread::scope(|scope| {
        for t in 0..8 {
            let vault = &vault;
            scope.spawn(move || {
                for i in 0..5 {
                    let (status, _) = create(vault, &format!("S_{t}_{i}"), "value");
                    assert_eq!(status, aivault_status::AIVAULT_OK, "{}", last_error());
                }
            });
        }
    });
    let mut out = null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { aivault_secret_list(vault.0, null(), null(), null(), &mut out) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    let listed: serde_json::Value = serde_json::from_str(&take(out)).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(40));
    // SAFETY: a live handle, freed once.
    unsafe { aivault_vault_free(vault.0) };
}
