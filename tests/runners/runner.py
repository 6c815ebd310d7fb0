"""The Python conformance runner (protocol: tests/README.md).

    python tests/runners/runner.py SCENARIOS_FILE VAULT_ROOT

Runs every scenario's steps through the `aivault` Python package against a fresh vault at
VAULT_ROOT/<i> and prints one JSON line per step: {"scenario", "step", "result": {"ok": VALUE}
| {"error": KIND}}. It never judges. Arguments arrive in camelCase and are passed as the
binding's snake_case keyword arguments; records are printed as the CLI's JSON (SecretMeta via
`to_dict()`, the other records are already dicts). A TypeError, ValueError or OverflowError
raised by the binding for an argument of the wrong type is `invalid_input`, the kind the C and
Rust surfaces give for the same malformed input. Exits non-zero only when the runner itself
breaks (unreadable file, unknown operation).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

import aivault

VAR = re.compile(r"\$\{([^}]*)\}")


def substitute(value: Any, saved: dict[str, str]) -> Any:
    """Replaces every `${name}` saved earlier in the strings (and keys) of `value`."""
    if isinstance(value, str):
        return VAR.sub(lambda m: saved.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    if isinstance(value, dict):
        return {substitute(k, saved): substitute(v, saved) for k, v in value.items()}
    return value


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def kwargs(args: dict[str, Any]) -> dict[str, Any]:
    return {snake(k): v for k, v in args.items()}


def plain(value: Any) -> Any:
    """A binding's result as the CLI's JSON."""
    if isinstance(value, aivault.SecretMeta):
        return value.to_dict()
    if isinstance(value, aivault.Response):
        return {"status": value.status, "headers": value.headers, "body": value.text}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def invoke(vault: aivault.Vault, args: dict[str, Any]) -> Any:
    options = kwargs(args)
    if "timeout_ms" in options:
        timeout_ms = options.pop("timeout_ms")
        options["timeout"] = timeout_ms / 1000 if isinstance(timeout_ms, (int, float)) else timeout_ms
    return vault.invoke(**options)


def set_policy(vault: aivault.Vault, args: dict[str, Any]) -> Any:
    options = dict(args)
    policy = options.pop("policy", None)
    if not isinstance(policy, dict):
        raise TypeError("policy must be an object")
    return vault.capabilities.set_policy(**kwargs(options), **kwargs(policy))


OPS: dict[str, Callable[[aivault.Vault, dict[str, Any]], Any]] = {
    "status": lambda v, a: v.status(**kwargs(a)),
    "secrets.create": lambda v, a: v.secrets.create(**kwargs(a)),
    "secrets.list": lambda v, a: v.secrets.list(**kwargs(a)),
    "secrets.update": lambda v, a: v.secrets.update(**kwargs(a)),
    "secrets.rotate": lambda v, a: v.secrets.rotate(**kwargs(a)),
    "secrets.delete": lambda v, a: v.secrets.delete(**kwargs(a)),
    "secrets.attachGroup": lambda v, a: v.secrets.attach_group(**kwargs(a)),
    "secrets.detachGroup": lambda v, a: v.secrets.detach_group(**kwargs(a)),
    "secrets.import": lambda v, a: v.secrets.import_(**kwargs(a)),
    "credentials.create": lambda v, a: v.credentials.create(**kwargs(a)),
    "credentials.list": lambda v, a: v.credentials.list(**kwargs(a)),
    "credentials.delete": lambda v, a: v.credentials.delete(**kwargs(a)),
    "capabilities.list": lambda v, a: v.capabilities.list(**kwargs(a)),
    "capabilities.describe": lambda v, a: v.capabilities.describe(**kwargs(a)),
    "capabilities.create": lambda v, a: v.capabilities.create(**kwargs(a)),
    "capabilities.delete": lambda v, a: v.capabilities.delete(**kwargs(a)),
    "capabilities.setPolicy": set_policy,
    "capabilities.bind": lambda v, a: v.capabilities.bind(**kwargs(a)),
    "capabilities.unbind": lambda v, a: v.capabilities.unbind(**kwargs(a)),
    "capabilities.bindings": lambda v, a: v.capabilities.bindings(**kwargs(a)),
    "capabilities.route": lambda v, a: v.capabilities.route(**kwargs(a)),
    "invoke": invoke,
    "audit.query": lambda v, a: v.audit.query(**kwargs(a)),
    "audit.verify": lambda v, a: v.audit.verify(**kwargs(a)),
}


def run(scenarios_file: Path, root: Path) -> None:
    scenarios = json.loads(scenarios_file.read_text(encoding="utf-8"))
    for i, scenario in enumerate(scenarios):
        vault = aivault.Vault(root / str(i))
        saved: dict[str, str] = {}
        for n, step in enumerate(scenario["steps"]):
            op = OPS.get(step["op"])
            if op is None:
                raise SystemExit(f"runner broke: unknown op '{step['op']}'")
            args = substitute(step.get("args") or {}, saved)
            try:
                value = plain(op(vault, args))
                result: dict[str, Any] = {"ok": value}
                for name, field in (step.get("save") or {}).items():
                    if isinstance(value, dict) and field in value:
                        got = value[field]
                        saved[name] = got if isinstance(got, str) else json.dumps(got)
            except aivault.AivaultError as err:
                result = {"error": err.kind}
            except (TypeError, ValueError, OverflowError):
                result = {"error": "invalid_input"}
            line = {"scenario": scenario["name"], "step": n, "result": result}
            print(json.dumps(line, separators=(",", ":")), flush=True)


def main() -> None:
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} SCENARIOS_FILE VAULT_ROOT", file=sys.stderr)
        raise SystemExit(2)
    run(Path(sys.argv[1]), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
