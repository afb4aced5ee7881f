"""INGRESS ADMISSION STAND-IN: ingress-nginx's validating admission webhook, as far as one
rule goes. It refuses an Ingress for a host and path that another Ingress, in any
namespace, already serves, with ingress-nginx's message (`host "<host>" and path "<path>"
is already defined in ingress <namespace>/<name>`; an empty host is "_", an empty path
"/"). The refusal is real: the API server calls the webhook for every Ingress created or
updated, and refuses the request. No ingress-nginx can run here (no container runs under
kwok), so this process serves the webhook over HTTPS on 127.0.0.1, under the name
ingress-nginx's chart gives it, and the API server calls it by URL.

Only on the suite's own control plane: a user's cluster keeps its own ingress controller's
admission, or none."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.e2e.control_plane import Kubectl
from tests.e2e.stand_ins import Errors

WEBHOOK = "validate.nginx.ingress.kubernetes.io"
CONFIGURATION = "e2e-ingress-nginx-admission"
# Where the start-up check proves the webhook is called before any scenario runs.
PROBE_NAMESPACES = ("default", "kube-public")
PROBE_HOST = "admission-probe.e2e.invalid"


def _served(ingress: dict) -> set[tuple[str, str]]:
    """The (host, path) pairs an Ingress serves, named as ingress-nginx names them."""
    pairs = set()
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        host = rule.get("host") or "_"
        for path in ((rule.get("http") or {}).get("paths")) or []:
            pairs.add((host, path.get("path") or "/"))
    return pairs


def overlap(ingress: dict, existing: list[dict]) -> str | None:
    """ingress-nginx's refusal of `ingress` beside the `existing` ones, or None."""
    metadata = ingress.get("metadata") or {}
    own = (metadata.get("namespace"), metadata.get("name"))
    wanted = _served(ingress)
    for other in existing:
        other_metadata = other["metadata"]
        if (other_metadata.get("namespace"), other_metadata.get("name")) == own:
            continue
        for host, path in sorted(wanted & _served(other)):
            return (
                f'host "{host}" and path "{path}" is already defined in ingress '
                f"{other_metadata['namespace']}/{other_metadata['name']}"
            )
    return None


def _probe_ingress(namespace: str) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "e2e-admission-probe", "namespace": namespace},
        "spec": {
            "rules": [
                {
                    "host": PROBE_HOST,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "none", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }


class IngressAdmission:
    """The webhook's server and its ValidatingWebhookConfiguration; `start` returns once
    the API server refuses a second Ingress for a host."""

    def __init__(self, kubectl: Kubectl, directory: Path, errors: Errors) -> None:
        self.kubectl = kubectl
        self.directory = directory
        self.errors = errors
        self.server: ThreadingHTTPServer | None = None

    def review(self, review: dict) -> dict:
        request = review["request"]
        existing = self.kubectl.items("ingresses.networking.k8s.io", "--all-namespaces")
        refusal = overlap(request["object"], existing)
        response: dict[str, Any] = {"uid": request["uid"], "allowed": refusal is None}
        if refusal is not None:
            response["status"] = {"code": 400, "reason": "BadRequest", "message": refusal}
        kind = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
        return {**kind, "response": response}

    def start(self) -> IngressAdmission:
        self.directory.mkdir(parents=True, exist_ok=True)
        certificate, key = self.directory / "webhook.crt", self.directory / "webhook.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(certificate)],
            check=True, capture_output=True,
        )  # fmt: skip
        admission = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    answer = json.dumps(admission.review(json.loads(body))).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                # The API server then refuses the request (failurePolicy Fail); the test that
                # made it fails with the stand-in's own error.
                except Exception:
                    admission.errors.broke("ingress admission stand-in", traceback.format_exc())
                    self.send_error(500)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True, name=WEBHOOK).start()
        self.kubectl.apply([self._configuration(server.server_address[1], certificate)])
        self._wait_until_called()
        return self

    def _configuration(self, port: int, certificate: Path) -> dict:
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": CONFIGURATION},
            "webhooks": [
                {
                    "name": WEBHOOK,
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{port}/networking/v1/ingresses",
                        "caBundle": base64.b64encode(certificate.read_bytes()).decode(),
                    },
                    "rules": [
                        {
                            "apiGroups": ["networking.k8s.io"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["ingresses"],
                        }
                    ],
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 10,
                }
            ],
        }

    def _wait_until_called(self, timeout: float = 60) -> None:
        """The API server reads webhook configurations as they change, not at once: wait
        until a second Ingress for the probe's host is refused (a server-side dry run)."""
        first, second = (_probe_ingress(namespace) for namespace in PROBE_NAMESPACES)
        self.kubectl.run("create", "-f", "-", input=json.dumps(first))
        try:
            deadline = time.monotonic() + timeout
            while True:
                tried = self.kubectl.run(
                    "create", "--dry-run=server", "-f", "-", input=json.dumps(second), check=False
                )
                if tried.returncode != 0 and "is already defined in ingress" in tried.stderr:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the API server does not call the ingress admission stand-in: {tried}"
                    )
                time.sleep(0.5)
        finally:
            self.kubectl.run(
                "delete", "ingress", first["metadata"]["name"], "-n", PROBE_NAMESPACES[0]
            )

    def stop(self) -> None:
        self.kubectl.run(
            "delete", "validatingwebhookconfiguration", CONFIGURATION, "--ignore-not-found",
            check=False,
        )  # fmt: skip
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
