//! The debug-build routing hook (`AIVAULT_DEV_RESOLVE`) never reaches a vault opened through
//! the C ABI. Its own test binary: it sets a variable, which must happen before any other
//! thread reads the environment.
#![allow(unsafe_code)] // Calling the C ABI is unsafe by nature.

use std::ffi::CString;
use std::ptr::{null, null_mut};

use aivault_ffi::boundary::aivault_status;
use aivault_ffi::invoke::{aivault_invoke, aivault_response_free};
use aivault_ffi::secrets::aivault_secret_create;
use aivault_ffi::vault::{aivault_vault_free, aivault_vault_open};

/// The debug-build routing hook never reaches a vault opened through the C ABI: with
/// `AIVAULT_DEV_RESOLVE` pointing api.openai.com at a loopback server, the call still goes to the
/// real resolver's answer, which the network guard then judges: no connection ever reaches the
/// loopback server.
#[test]
fn test_routing_hooks_are_not_reachable() {
    let upstream = aivault_testkit::Upstream::http(aivault_testkit::echo_handler());
    // SAFETY: the variable is set before any thread of this test reads the environment.
    unsafe {
        std::env::set_var(
            "AIVAULT_DEV_RESOLVE",
            format!("api.openai.com=127.0.0.1:{}", upstream.port()),
        );
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = CString::new(tmp.path().join("vault").to_str().expect("utf8")).expect("no NUL");
    let mut vault = null_mut();
    // SAFETY: valid string and out pointer.
    let status = unsafe { aivault_vault_open(dir.as_ptr(), &mut vault) };
    assert_eq!(status, aivault_status::AIVAULT_OK);
    let name = CString::new("OPENAI_API_KEY").expect("name");
    let value = b"sk-routing-canary-0001";
    let mut out = null_mut();
    // SAFETY: valid pointers.
    let status = unsafe {
        aivault_secret_create(
            vault,
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
    assert_eq!(status, aivault_status::AIVAULT_OK);
    // SAFETY: a returned string, freed once.
    unsafe { aivault_ffi::boundary::aivault_string_free(out) };
    let request = CString::new(r#"{"capability":"openai/models","timeoutMs":2000}"#).expect("json");
    let mut response = null_mut();
    // SAFETY: valid pointers.
    let _ = unsafe { aivault_invoke(vault, request.as_ptr(), null(), 0, &mut response) };
    if !response.is_null() {
        // SAFETY: a live response, freed once.
        unsafe { aivault_response_free(response) };
    }
    assert_eq!(upstream.connections(), 0, "the test route was followed");
    // SAFETY: a live handle, freed once.
    unsafe { aivault_vault_free(vault) };
}
