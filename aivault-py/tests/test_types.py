"""Arguments of the wrong type raise a clear TypeError (or an aivault InvalidInputError for a
well-typed but invalid value) and never crash the interpreter; a message never echoes the value
it refused."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import aivault
from conftest import Upstream, make_service


def type_error(call: Callable[[], Any], *words: str) -> str:
    with pytest.raises(TypeError) as info:
        call()
    # pyo3 names the argument in a note ("while processing 'name'"), shown in tracebacks.
    message = " ".join([str(info.value), *getattr(info.value, "__notes__", [])])
    for word in words:
        assert word in message, message
    return message


def test_wrong_types(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    v: Any = vault
    type_error(lambda: v.secrets.create(name=1, value="x"), "name")
    msg = type_error(lambda: v.secrets.create(name="N", value=12345678901234), "value", "int")
    assert "12345678901234" not in msg
    type_error(lambda: v.secrets.create(name="N", value=["x"]), "value")
    type_error(lambda: v.secrets.create(name="N", value="x", aliases="abc"), "aliases")
    type_error(lambda: v.secrets.import_(["A", "x"]), "entries")
    msg = type_error(lambda: v.secrets.import_({"A": 3.5}), "entries")
    assert "3.5" not in msg
    type_error(lambda: v.secrets.list(scope=1))
    type_error(lambda: v.invoke(None))
    type_error(lambda: v.invoke("a/b", body=123), "body")
    type_error(lambda: v.invoke("a/b", headers="x-a: b"), "headers")
    type_error(lambda: v.invoke("a/b", headers={"x": 1}), "headers")
    type_error(lambda: v.invoke("a/b", json=object()), "json")
    type_error(lambda: v.invoke("a/b", timeout="soon"))
    type_error(lambda: v.credentials.create(id="c", provider="p", secret_refs="vault:secret:x"))
    type_error(lambda: v.credentials.create(id="c", provider="p", secret_refs=[], auth="header"),
               "auth")
    type_error(lambda: v.capabilities.set_policy("x", rate_limit_per_minute="ten"))
    type_error(lambda: v.capabilities.route("h", "GET", 5))
    type_error(lambda: v.audit.query(limit="5"))
    type_error(lambda: aivault.Vault(42))
    type_error(lambda: v.invoke("a/b", unknown=1), "unknown")


def test_invalid_values(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary)
    with pytest.raises(aivault.InvalidInputError):
        vault.invoke("acme/api", body=b"x", json={"a": 1})
    with pytest.raises(aivault.InvalidInputError):
        vault.invoke("acme/api", timeout=-1)
    with pytest.raises(ValueError):
        vault.invoke("acme/api", json=float("nan"))
    with pytest.raises(OverflowError):
        vault.audit.query(limit=-1)
    with pytest.raises(aivault.InvalidInputError, match="unknown field"):
        vault.credentials.create(id="c", provider="p", secret_refs=[],
                                 network={"allow_everything": True})
    with pytest.raises(aivault.InvalidInputError):
        vault.secrets.create(name="", value=canary)
    with pytest.raises(aivault.PolicyViolationError):
        vault.invoke("acme/api", path="/v1/../../etc")
