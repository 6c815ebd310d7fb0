"""Every error kind a binding can reach is raised as its own class, with `.kind` the stable
name (DESIGN §7), and its message never holds the value. `internal` (a bug) cannot be provoked
from outside; its class exists and carries its kind."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Callable

import pytest

import aivault
from conftest import Upstream, make_service

ALL = {
    "invalid_input": aivault.InvalidInputError,
    "not_found": aivault.NotFoundError,
    "already_exists": aivault.AlreadyExistsError,
    "vault_locked": aivault.VaultLockedError,
    "decrypt_failed": aivault.DecryptFailedError,
    "policy_violation": aivault.PolicyViolationError,
    "capability_not_found": aivault.CapabilityNotFoundError,
    "credential_not_found": aivault.CredentialNotFoundError,
    "credential_ambiguous": aivault.CredentialAmbiguousError,
    "rate_limited": aivault.RateLimitedError,
    "upstream_error": aivault.UpstreamError,
    "io": aivault.IoError,
    "internal": aivault.InternalError,
    "integrity_failed": aivault.IntegrityFailedError,
    "unauthorized": aivault.UnauthorizedError,
}


def test_one_class_per_kind() -> None:
    assert len(set(ALL.values())) == len(ALL)
    # Every kind the core has (this build's list) has its own class here.
    assert sorted(aivault._aivault.ERROR_KINDS) == sorted(ALL)
    for kind, cls in ALL.items():
        assert issubclass(cls, aivault.AivaultError)
        assert cls.kind == kind
        assert cls.__module__ == "aivault._aivault"


def raises(kind: str, call: Callable[[], object], canary: str = "") -> None:
    with pytest.raises(aivault.AivaultError) as info:
        call()
    assert type(info.value) is ALL[kind], f"{kind}: got {type(info.value).__name__}: {info.value}"
    assert info.value.kind == kind
    assert str(info.value)
    if canary:
        assert canary not in str(info.value) and canary not in repr(info.value)


def test_input_lookup_and_broker_kinds(vault: aivault.Vault, upstream: Upstream,
                                       canary: str) -> None:
    meta = make_service(vault, upstream, canary)
    raises("invalid_input", lambda: vault.secrets.create(name="X", value=canary, scope="nope"),
           canary)
    raises("invalid_input", lambda: vault.credentials.create(
        id="c2", provider="acme", secret_refs=[meta.secret_ref], auth={"bogus_field": 1}))
    raises("not_found", lambda: vault.secrets.rotate("01a23795-a5db-7c27-b3a7-770a4f88441d",
                                                     canary), canary)
    raises("already_exists", lambda: vault.secrets.create(name="ACME_TOKEN", value=canary),
           canary)
    raises("capability_not_found", lambda: vault.invoke("acme/none"))
    raises("capability_not_found", lambda: vault.capabilities.route(upstream.host, "GET", "/v2"))
    raises("policy_violation", lambda: vault.invoke("acme/api", path="/v2/outside"))
    raises("policy_violation", lambda: vault.invoke(
        "acme/api", path="/v1/x", headers={"authorization": f"Bearer {canary}"}), canary)
    # A registry capability whose provider has no secret here.
    raises("credential_not_found", lambda: vault.invoke("openai/chat-completions"))
    vault.capabilities.set_policy("acme/api", rate_limit_per_minute=1)
    vault.invoke("acme/api", path="/v1/a")
    raises("rate_limited", lambda: vault.invoke("acme/api", path="/v1/a"))


def test_credential_ambiguous(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    meta = make_service(vault, upstream, canary)
    vault.credentials.create(
        id="acme-2", provider="acme", secret_refs=[meta.secret_ref], auth={"kind": "header"},
        hosts=[upstream.host], network={"allow_private_network": True, "insecure_http": True})
    vault.capabilities.create(id="acme/by-provider", provider="acme", methods=["GET"],
                              paths=["/v1"])
    raises("credential_ambiguous", lambda: vault.invoke("acme/by-provider", path="/v1/a"))
    assert vault.invoke("acme/by-provider", path="/v1/a", credential="acme-2").status == 200


def test_upstream_error(vault: aivault.Vault, tmp_path: Path, canary: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Closed:
        host = f"127.0.0.1:{port}"

    make_service(vault, Closed(), canary)  # type: ignore[arg-type]
    raises("upstream_error", lambda: vault.invoke("acme/api", path="/v1/a", timeout=5), canary)


def test_key_file_kinds(tmp_path: Path, canary: str) -> None:
    path = tmp_path / "v"
    aivault.Vault(path).secrets.create(name="A", value=canary)
    key = path / "kek.key"

    key.chmod(0o644)  # a key file others could have written is never adopted
    raises("integrity_failed", lambda: aivault.Vault(path).secrets.create(name="B", value="v"))
    key.chmod(0o600)

    saved = tmp_path / "saved.key"
    shutil.move(key, saved)  # no key: locked
    raises("vault_locked", lambda: aivault.Vault(path).secrets.create(name="B", value="v"))

    other = tmp_path / "other"
    aivault.Vault(other)  # another vault's key
    shutil.copy2(other / "kek.key", key)
    os.chmod(key, 0o600)
    raises("decrypt_failed", lambda: aivault.Vault(path).secrets.create(name="B", value="v"))


def test_io(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    raises("io", lambda: aivault.Vault(not_a_dir))

