"""Kubernetes resource quantities: parse them exactly, so config can be checked and
compared (request <= limit, workload <= quota) before anything reaches the API server."""

import re
from collections.abc import Mapping
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}

# The grammar of k8s.io/apimachinery resource.Quantity (sign, number, one suffix).
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|m|k|M|G|T|P|E)?$"
)

# Units people write by habit, mapped to the Kubernetes suffix they almost always mean.
_HABITUAL_UNITS = {
    "kb": "Ki",
    "kib": "Ki",
    "ki": "Ki",
    "k": "Ki",
    "mb": "Mi",
    "mib": "Mi",
    "mi": "Mi",
    "m": "Mi",
    "gb": "Gi",
    "gib": "Gi",
    "gi": "Gi",
    "g": "Gi",
    "tb": "Ti",
    "tib": "Ti",
    "ti": "Ti",
    "t": "Ti",
}


class QuantityError(ValueError):
    pass


def parse_quantity(text: str) -> tuple[Decimal, str]:
    """Returns the value in base units and the suffix as written."""
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(text)
    suffix = match.group("suffix") or ""
    number = Decimal(match.group("number"))
    if suffix in _BINARY:
        return number * _BINARY[suffix], suffix
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * (Decimal(10) ** int(suffix[1:])), suffix
    return number * _DECIMAL[suffix], suffix


def suggest_byte_quantity(text: str) -> str | None:
    """`10GB` -> `10Gi`, `512 mb` -> `512Mi`, `512m` (millibytes!) -> `512Mi`, `-5Gi` ->
    `5Gi` (a size has no sign: the size meant, not the default)."""
    match = re.match(r"^\s*-?\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$", text)
    if match is None:
        return None
    number, unit = match.groups()
    if unit == "":
        return None
    suffix = _HABITUAL_UNITS.get(unit.lower())
    return f"{number}{suffix}" if suffix else None


def format_cpu(cores: Decimal) -> str:
    millicores = (cores * 1000).to_integral_value(rounding="ROUND_CEILING")
    if millicores % 1000 == 0:
        return str(int(millicores // 1000))
    return f"{int(millicores)}m"


def format_bytes(amount: Decimal) -> str:
    """Rounds up to whole Mi (or Gi when exact): the form people set in config."""
    mebibytes = (amount / _BINARY["Mi"]).to_integral_value(rounding="ROUND_CEILING")
    if mebibytes % 1024 == 0:
        return f"{int(mebibytes // 1024)}Gi"
    return f"{int(mebibytes)}Mi"


def is_guaranteed(resources: Mapping[str, object]) -> bool:
    """Whether a container's requests equal its limits, CPU and memory (Guaranteed QoS)."""
    return all(
        parse_quantity(str(resources[f"{kind}_request"]))[0]
        == parse_quantity(str(resources[f"{kind}_limit"]))[0]
        for kind in ("cpu", "memory")
    )
