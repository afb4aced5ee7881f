"""The metrics keys: the exporter, its image, the namespace that scrapes it and whether a
ServiceMonitor does."""

from __future__ import annotations

from components import Metrics

from ..reader import INVALID, PROJECT, Feature, Reader, present
from ..values import (
    BOOLEAN_ALLOWED,
    IMAGE_ALLOWED,
    boolean,
    dns_label,
    pinned_image,
    suggest_boolean,
    suggest_dns_label,
    suggest_image,
)


def read_metrics(reader: Reader) -> Feature[Metrics]:
    enabled = reader.read("metricsEnabled", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    service_monitor = reader.read("serviceMonitor", boolean, BOOLEAN_ALLOWED, suggest_boolean)
    namespace = reader.read(
        "metricsNamespace",
        dns_label(63),
        "it must be the namespace Prometheus scrapes from, a DNS label",
        suggest_dns_label,
    )
    image = reader.read("exporterImage", pinned_image, IMAGE_ALLOWED, suggest_image)
    if service_monitor and enabled is False:
        reader.fail(
            "serviceMonitor",
            "true",
            f"a ServiceMonitor scrapes the exporter, which runs only while "
            f"{PROJECT}:metricsEnabled is true",
            "false",
        )
        return INVALID
    if None in (enabled, service_monitor, namespace, image):
        return INVALID
    if not enabled:
        return Feature(None)
    return Feature(
        Metrics(
            exporter_image=present(image),
            scraper_namespace=present(namespace),
            service_monitor=bool(service_monitor),
        )
    )
