"""Parsers of single config values and the fixed values suggested for bad ones. A parser
raises ValueError for a bad value, or a BadValueError where it can say more precisely what is
wrong than the key's usual description."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import urlsplit

from components._shared.quantity import QuantityError, format_bytes, parse_quantity

from .reader import PROJECT, BadValueError

RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Derived names (`<app>-db-headless`, StatefulSet pods and their revision-hash labels)
# must stay within Kubernetes' 63-character limits.
MAX_APP_NAME = 30
# More CPUs than this for one container is a plain number meant as millicores.
MAX_CONTAINER_CPUS = 64

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HTTP_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_IMAGE_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_IMAGE_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::\d+)?$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")

IMAGE_ALLOWED = (
    "it must be a container image with a pinned version, a tag other than 'latest' "
    "or a digest (for example nginx:1.27)"
)
IDENTIFIER_ALLOWED = (
    "it must be a PostgreSQL identifier: lowercase letters, digits and '_', starting "
    "with a letter or '_', at most 63 characters, not starting with 'pg_'"
)
BOOLEAN_ALLOWED = "it must be true or false"
OPTIONAL_NAME_ALLOWED = (
    "it must be empty or a Kubernetes object name (lowercase letters, digits, '-' and '.')"
)
CPU_ALLOWED = "it must be a positive Kubernetes CPU quantity such as 250m, 0.5 or 2"
BYTES_ALLOWED = (
    "it must be a positive Kubernetes quantity of bytes with a suffix such as Mi, Gi or Ti"
)
NAMESPACE_ALLOWED = (
    "it must be a DNS label (lowercase letters, digits and '-', at most 63 characters, "
    "starting and ending with a letter or digit) that is not a system namespace"
)


def dns_label(max_length: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > max_length or not DNS_LABEL.match(raw):
            raise ValueError(raw)
        return raw

    return parse


def namespace(raw: str) -> str:
    dns_label(63)(raw)
    if raw in RESERVED_NAMESPACES or raw.startswith("kube-"):
        raise BadValueError(
            "it must be a namespace of the app's own, not a system namespace ("
            + ", ".join(RESERVED_NAMESPACES)
            + " or any other kube-*)",
            suggest_namespace(raw),
        )
    return raw


def suggest_namespace(raw: str) -> str | None:
    """None for a system namespace: the fix is then the declared default, a namespace of
    the app's own, not a variation of the system one."""
    label = suggest_dns_label(raw)
    if label in RESERVED_NAMESPACES or (label or "").startswith("kube-"):
        return None
    return label


def app_name(raw: str) -> str:
    # Service names derive from it, and before Kubernetes 1.37 they must start with a
    # letter (RFC 1035), unlike other object names.
    if not raw[:1].isalpha():
        raise ValueError(raw)
    return dns_label(MAX_APP_NAME)(raw)


def suggest_dns_label(raw: str) -> str | None:
    label = re.sub(r"[^a-z0-9-]+", "-", raw.strip().lower()).strip("-")
    return label[:63].rstrip("-") or None


def suggest_dns_subdomain(raw: str) -> str | None:
    name = re.sub(r"[^a-z0-9.-]+", "-", raw.strip().lower()).strip("-.")
    return name[:253] or None


def boolean(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError(raw)
    return raw == "true"


def suggest_boolean(raw: str) -> str | None:
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "on", "1", "y"):
        return "true"
    if lowered in ("false", "no", "off", "0", "n"):
        return "false"
    return None


def optional_name(raw: str) -> str:
    if raw and not (len(raw) <= 253 and DNS_SUBDOMAIN.match(raw)):
        raise ValueError(raw)
    return raw


def whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip()) if re.fullmatch(r"\s*[+-]?\d+\s*", raw) else None
        if value is None or not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def suggest_whole_number(low: int, high: int) -> Callable[[str], str | None]:
    def suggest(raw: str) -> str | None:
        try:
            number = round(float(raw))
        except ValueError:
            return None
        return str(min(max(number, low), high))

    return suggest


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(raw)
        return raw

    return parse


def suggest_choice(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    def suggest(raw: str) -> str | None:
        by_lower = {choice.lower(): choice for choice in choices}
        close = difflib.get_close_matches(raw.lower(), list(by_lower), n=1, cutoff=0.5)
        if close:
            return by_lower[close[0]]
        # An abbreviation: its letters in order in exactly one choice (cnpg, cloudnative-pg).
        letters = [c for c in raw.lower() if c.isalnum()]
        abbreviated = [choice for lower, choice in by_lower.items() if _in_order(letters, lower)]
        return abbreviated[0] if len(letters) >= 2 and len(abbreviated) == 1 else None

    return suggest


def _in_order(letters: list[str], word: str) -> bool:
    remaining = iter(word)
    return all(letter in remaining for letter in letters)


def pinned_image(raw: str) -> str:
    """A container image reference with a pinned version: a tag other than `latest`, or a
    digest. An unpinned image lets two pods of one Deployment run different builds."""
    if raw != raw.strip():
        stripped = raw.strip()
        try:
            pinned_image(stripped)
        except BadValueError as problem:
            stripped = problem.suggestion or stripped
        except ValueError:
            pass
        raise BadValueError(
            "it has spaces around it, which an image reference cannot have", stripped
        )
    reference, _, digest = raw.partition("@")
    if digest and not _IMAGE_DIGEST.match(digest):
        raise ValueError(raw)
    name, tag = reference, ""
    if ":" in reference.rsplit("/", 1)[-1]:
        name, tag = reference.rsplit(":", 1)
        if not _IMAGE_TAG.match(tag):
            raise ValueError(raw)
    parts = name.split("/")
    registry = ""
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts[0] + "/"
        if not _IMAGE_REGISTRY.match(parts[0]):
            raise ValueError(raw)
        parts = parts[1:]
    valid_in_lowercase = all(_IMAGE_PATH_COMPONENT.match(part.lower()) for part in parts)
    if parts and valid_in_lowercase and any(part != part.lower() for part in parts):
        raise BadValueError(
            "its repository name has capital letters, which image references do not "
            "allow (only the registry host and the tag may have them)",
            registry + "/".join(parts).lower() + raw[len(name) :],
        )
    if not parts or not all(_IMAGE_PATH_COMPONENT.match(part) for part in parts):
        raise ValueError(raw)
    if not digest and tag in ("", "latest"):
        raise ValueError(raw)
    return raw


def suggest_image(raw: str) -> str | None:
    stripped = raw.strip()
    if not stripped:
        return None
    base = stripped.rsplit(":", 1)[0] if stripped.endswith(":latest") else stripped
    return f"{base}:<version>" if base else None


def http_path(raw: str) -> str:
    if not _HTTP_PATH.match(raw):
        raise ValueError(raw)
    return raw


def pg_identifier(raw: str) -> str:
    if not _PG_IDENTIFIER.match(raw) or raw.startswith("pg_"):
        raise ValueError(raw)
    return raw


def suggest_pg_identifier(raw: str) -> str | None:
    identifier = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    if not identifier:
        return None
    if identifier[0].isdigit() or identifier.startswith("pg_"):
        identifier = f"app_{identifier}"
    return identifier[:63]


def quantity(kind: str) -> Callable[[str], Decimal]:
    """`kind` is "cpu" (cores, millicores), "container-cpu" (the same, at most
    MAX_CONTAINER_CPUS), "memory" or "storage" (bytes, with a unit)."""

    def parse(raw: str) -> Decimal:
        try:
            amount, suffix = parse_quantity(raw)
        except QuantityError as error:
            raise ValueError(raw) from error
        if amount <= 0:
            raise ValueError(raw)
        if kind in ("cpu", "container-cpu"):
            if suffix not in ("", "m"):
                raise ValueError(raw)
            if kind == "container-cpu" and amount > MAX_CONTAINER_CPUS:
                raise BadValueError(
                    f"that is {format_number(amount)} CPUs, more than a container gets (at "
                    f"most {MAX_CONTAINER_CPUS}): a plain number counts whole CPUs, and "
                    "millicores take an m",
                    f"{raw}m" if suffix == "" else None,
                )
            return amount
        if suffix == "":
            raise BadValueError(
                "it needs a unit: a plain number counts bytes, and Kubernetes quantities of "
                "bytes take a suffix such as Mi, Gi or Ti",
                _with_unit(amount, kind),
            )
        if suffix == "m" or amount != amount.to_integral_value():
            raise ValueError(raw)
        return amount

    return parse


def format_number(amount: Decimal) -> str:
    return str(amount.normalize()) if amount != amount.to_integral_value() else str(int(amount))


def _with_unit(amount: Decimal, kind: str) -> str:
    """What a plain number most likely meant: a byte count if it is a large one, else Gi
    for volumes and small memory sizes, Mi for larger memory sizes."""
    if amount >= 2**20:
        return format_bytes(amount)
    number = format_number(amount)
    return f"{number}Gi" if kind == "storage" or amount <= 64 else f"{number}Mi"


def ingress_host(raw: str) -> str:
    if raw == "":
        return raw
    try:
        ipaddress.ip_address(raw.strip("[]"))
    except ValueError:
        pass
    else:
        raise BadValueError(
            "it must be a DNS host name: Kubernetes refuses an IP address as an Ingress "
            "host (leave it empty and reach the app by its Service's address instead)",
            "",
        )
    if "://" in raw or "/" in raw or ":" in raw.rsplit("]", 1)[-1]:
        host = urlsplit(raw if "://" in raw else f"//{raw}").hostname or ""
        raise BadValueError(
            "it must be a host name alone, without a scheme, port or path, such as app.example.com",
            host or None,
        )
    if raw.startswith("*.") and DNS_SUBDOMAIN.match(f"app.{raw[2:]}"):
        # The suggestion without the asterisk would be another host, the parent domain.
        raise BadValueError(
            "it must be one host name, not a wildcard: the app's Ingress and its "
            "certificate serve one host, such as app.example.com",
            f"app.{raw[2:]}",
        )
    if not DNS_SUBDOMAIN.match(raw):
        raise ValueError(raw)
    return raw


def render_directory(raw: str) -> str:
    # Rendering into the project directory itself would mix manifests with the program.
    if raw != raw.strip() or raw.strip() in (".", "./"):
        raise ValueError(raw)
    return raw


def max_surge(raw: str) -> str:
    if not re.fullmatch(r"[1-9]\d*|[1-9]\d?%|100%", raw):
        raise ValueError(raw)
    return raw


def suggest_max_surge(raw: str) -> str | None:
    number = re.sub(r"[^0-9]", "", raw)
    if not number or int(number) == 0:
        return None
    return f"{min(int(number), 100)}%" if "%" in raw or "." in raw else str(int(number))


def key_name(key: str) -> str:
    return f"{PROJECT}:{key}"
