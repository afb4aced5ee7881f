"""Values as they go into Secrets: base64 data marked secret, and the database URL."""

import base64
from collections.abc import Mapping
from urllib.parse import quote

import pulumi


def secret_data(values: Mapping[str, pulumi.Input[str]]) -> dict[str, pulumi.Output[str]]:
    """A Secret's `data`, base64-encoded and marked secret. `stringData` is avoided: the
    API server folds it into `data`, and under server-side apply that shows up as a
    difference on every `pulumi up`."""
    return {
        key: pulumi.Output.secret(
            pulumi.Output.from_input(value).apply(
                lambda text: base64.b64encode(text.encode()).decode()
            )
        )
        for key, value in values.items()
    }


def connection_url(user: str, password: str, host: str, port: int, database: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )
