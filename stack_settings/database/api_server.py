"""webapp:apiServerCidrs: the API server's addresses, which the cloudnative-pg instances
may reach (their operator's API calls), as the key takes them."""

from __future__ import annotations

import ipaddress
import re
import shlex

from ..reader import PROJECT, BadValueError, Reader


def _host_route(part: str) -> str:
    """An address written with a network's prefix (10.0.0.10/24) as the address alone."""
    address = ipaddress.ip_interface(part).ip
    return f"{address}/{address.max_prefixlen}"


def _cidr_list(raw: str) -> tuple[str, ...]:
    """Comma-separated CIDRs; a bare address is a /32 (or /128). An address with host
    bits set under its prefix is refused, not widened to its network: the API server's
    address with its subnet's mask would open the API ports to the whole subnet."""
    cidrs = []
    parts = [piece.strip() for piece in raw.split(",")]
    for part in (part for part in parts if part):
        try:
            cidrs.append(str(ipaddress.ip_network(part)))
        except ValueError:
            network = ipaddress.ip_network(part, strict=False)  # not a CIDR at all: raises
            fixed = ",".join(_host_route(p) if p == part else p for p in parts if p)
            raise BadValueError(
                f"{part} has host bits set, so it is no network: it must be the address "
                f"alone as {_host_route(part)}, or its network as {network}, and the value "
                "comma-separated CIDRs such as 10.0.0.10/32,10.0.0.11/32",
                fixed,
            ) from None
    return tuple(cidrs)


def _any_address(cidrs: tuple[str, ...]) -> bool:
    return any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs)


# An address as `kubectl get endpoints` lists it, with the port: 10.0.0.10:6443, [fd00::1]:6443.
_WITH_PORT = re.compile(r"^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):\d{1,5}$")


def _suggest_cidr_list(raw: str) -> str | None:
    """The same addresses written as the key takes them (commas, no ports), when every
    part is an address once its separator or port is fixed."""
    fixed = []
    for part in (part for part in re.split(r"[,;\s]+", raw) if part):
        with_port = _WITH_PORT.match(part)
        address = (with_port.group(1) or with_port.group(2)) if with_port else part
        try:
            fixed.append(str(ipaddress.ip_network(address)))
        except ValueError:
            try:
                fixed.append(_host_route(address))
            except ValueError:
                return None
    return ",".join(fixed) or None


def read_api_server_cidrs(reader: Reader) -> tuple[str, ...] | None:
    """webapp:apiServerCidrs. A bad value's fix is never the empty value, which opens the
    API ports to any address: it is the same addresses written right, or the command that
    reads the API server's addresses from the cluster (the `kubernetes` Service's
    endpoints, which is what the instances' traffic reaches after translation)."""
    key = "apiServerCidrs"
    raw = reader.raw(key) or ""
    context = reader.raw("kubeContext") or ""
    kubectl = "kubectl" + (f" --context {shlex.quote(context)}" if context else "")
    from_cluster = (
        f'pulumi config set --stack {reader.stack} {PROJECT}:{key} "$({kubectl} get '
        "endpointslice -n default -l kubernetes.io/service-name=kubernetes -o "
        "jsonpath='{range .items[*].endpoints[*]}{.addresses[0]},{end}')\""
    )
    try:
        cidrs = _cidr_list(raw)
    except BadValueError as problem:
        reader.fail(key, raw, str(problem.allowed), problem.suggestion)
        return None
    except ValueError:
        pass
    else:
        if not _any_address(cidrs):
            return cidrs
        # Refused, not warned of: the listed addresses are also admitted to the instances'
        # status port, so any address is wider than the empty value, which already gives
        # any address on the API ports (and only those).
        reader.fail(
            key,
            raw,
            "that is any address: the database pods could reach every host on the API "
            "ports 443 and 6443, and every host their status port 8000; it must be the API "
            "server's addresses (empty is any address on the API ports only)",
            fix=from_cluster,
        )
        return None
    allowed = (
        "it must be the API server's addresses as comma-separated CIDRs such as "
        "10.0.0.10/32,10.0.0.11/32 (a bare address is a /32), or empty for any address on "
        "the API ports (docs/networking.md: API server egress)"
    )
    suggestion = _suggest_cidr_list(raw)
    if suggestion:
        reader.fail(key, raw, allowed, suggestion)
        return None
    reader.fail(key, raw, allowed, fix=from_cluster)
    return None
