"""Entry point the Pulumi CLI runs (`pulumi preview --policy-pack policy`).

Only this file builds the `PolicyPack`: its constructor starts serving the engine and never
returns, so nothing a test imports may do it. The policies live in `webapp_policies.py`.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The CLI runs this file with runpy; make the sibling module importable however it is
# started (directory or file path), without depending on `policy` being a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webapp_policies import ALL_POLICIES, PACK_NAME

PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    # Every policy sets its own level; this is the level of any policy added without one.
    enforcement_level=EnforcementLevel.MANDATORY,
    description=(
        "Rules the webapp Kubernetes stack lives by: restricted pod security, resources, "
        "probes, pinned images, approved load balancers, disruption budgets, no plaintext "
        "credentials."
    ),
)
