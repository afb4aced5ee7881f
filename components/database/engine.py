"""The seam between PostgresDatabase and its engines: which engines there are, and what
every engine hands back so the app sees the same host, password, Secret and pod selector
whichever runs the server."""

from dataclasses import dataclass

import pulumi

ENGINES = ("statefulset", "cloudnative-pg")


@dataclass(frozen=True)
class EngineOutputs:
    host: pulumi.Output[str]
    password: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    password_secret_key: str
    selector: dict[str, str]
    # The data volume's size as the cluster accepted it.
    storage_size: pulumi.Output[str]
