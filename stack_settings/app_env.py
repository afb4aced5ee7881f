"""What the app itself needs: its environment (plain and secret), and the lists of
registry credentials, command, arguments and egress destinations."""

from __future__ import annotations

import ipaddress
from typing import Any

from components import EgressRule
from components.web.parts import ENV_NAME, RESERVED_ENV_PREFIX

from .reader import PROJECT, Reader, plaintext_flag, present


def env_text(value: Any) -> str | None:
    """A variable's value as text; `--path` may store numbers and booleans as such."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def read_env(reader: Reader, key: str, taken: dict[str, str]) -> dict[str, str] | None:
    """`key`'s variables, their names checked. Values are never shown in a message."""
    secret = key == "secretEnv"
    target = f"--path '{PROJECT}:{key}.NAME'"
    example = (
        reader.secret_set(target)
        if secret
        else f"pulumi config set --stack {reader.stack} {target} value"
    )
    values = reader.read_json(
        key, dict, "it must be an object of variable names and values", example
    )
    if values is None:
        return None
    if secret and values and not reader.is_secret(key):
        # Each variable removed, then set again as a secret (names are no secret; values
        # are never shown).
        names = sorted(values)
        steps = [
            f"pulumi config rm --stack {reader.stack} --path '{PROJECT}:{key}.{name}' && "
            + reader.secret_set(f"--path '{PROJECT}:{key}.{name}'", hint=name == names[-1])
            for name in names
        ]
        reader.fail(
            key,
            f"set in plaintext ({', '.join(names)})",
            "its values must be set as secrets, so they are encrypted in the stack file",
            fix=" && ".join(steps),
        )
        return None
    checked: dict[str, str] = {}
    for name, value in values.items():
        remove = f"pulumi config rm --stack {reader.stack} --path '{PROJECT}:{key}.{name}'"
        problem = None
        if not ENV_NAME.match(name):
            problem = "variable names are letters, digits and '_', not starting with a digit"
        elif name.upper().startswith(RESERVED_ENV_PREFIX):
            problem = f"names starting with {RESERVED_ENV_PREFIX} are set from the database"
        elif name in taken:
            problem = f"{PROJECT}:env sets it too, and a variable has one value"
        elif env_text(value) is None:
            problem = "a value is text, a number or a boolean"
        if problem:
            reader.errors.append(
                f"{PROJECT}:{key} holds '{name}', but {problem}; fix it with: {remove}"
            )
        else:
            checked[name] = present(env_text(value))
    return checked if len(checked) == len(values) else None


def read_list(reader: Reader, key: str, item: str, parse: Any) -> list[Any] | None:
    """An array of strings, each checked by `parse` (None: the entry is bad)."""
    flag = plaintext_flag(key)
    fix = f"pulumi config set{flag} --stack {reader.stack} --path '{PROJECT}:{key}[0]' <{item}>"
    values = reader.read_json(key, list, f"it must be a list of {item}s", fix)
    if values is None:
        return None
    parsed = [parse(value) if isinstance(value, str) else None for value in values]
    for index, (value, result) in enumerate(zip(values, parsed, strict=True)):
        if result is None:
            reader.errors.append(
                f"{PROJECT}:{key} holds '{value}' at [{index}], but each entry must be a "
                f"{item}; fix it with: pulumi config set{flag} --stack {reader.stack} --path "
                f"'{PROJECT}:{key}[{index}]' <{item}>"
            )
    return None if None in parsed else parsed


def egress_rule(text: str) -> EgressRule | None:
    """CIDR:PORT, optionally /tcp or /udp: 203.0.113.0/24:443, 2001:db8::/32:53/udp."""
    cidr, _, port_part = text.rpartition(":")
    port, _, protocol = port_part.partition("/")
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return None
    if "/" not in cidr or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    if protocol.lower() not in ("", "tcp", "udp"):
        return None
    rule = EgressRule(cidr=str(network), port=int(port))
    if protocol:
        rule["protocol"] = protocol.upper()
    return rule
