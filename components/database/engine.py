"""The seam between PostgresDatabase and its engines: which engines there are, what each
engine offers (the same two functions: declare its objects, and say which pods it runs),
and what every engine hands back so the app sees the same host, password, Secret and pod
selector whichever runs the server."""

from collections.abc import Callable
from dataclasses import dataclass

import pulumi

from .._shared.pods import PodDemand
from .args import PostgresDatabaseArgs
from .parts import DatabaseParts

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
    # What only the statefulset engine has: a restore Job while one is requested, and its
    # claim's storage class as the cluster resolved it.
    restore_job: pulumi.Output[str] | None = None
    data_storage_class: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class Engine:
    """One engine: `declare` creates its objects under the component; `pods` returns the
    pods it runs at the most at once, from the specs it declares, before anything exists
    (a namespace's quota is sized from them)."""

    declare: Callable[[DatabaseParts, PostgresDatabaseArgs], EngineOutputs]
    pods: Callable[[DatabaseParts, PostgresDatabaseArgs], list[PodDemand]]
