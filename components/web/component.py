"""WebService: the stateless web application, its settings, credentials and Service."""

import pulumi

from .._shared.metadata import selector_labels
from .._shared.package import component_options, component_type
from .._shared.pods import PodDemand
from .alerts import alert_rules
from .args import WebServiceArgs
from .config import credentials, service_account, settings
from .exposure import (
    acme_solver_policy,
    ingress,
    load_balancer_address,
    network_policy,
    node_port,
    port_forward,
    service,
    url,
    warn_of_second_way_in,
)
from .parts import COMPONENT, read_parts
from .scaling import autoscaler, disruption_budget
from .workload import deployment, most_pods, pod_spec


class WebService(pulumi.ComponentResource):
    """A ServiceAccount without API token; a Deployment that rolls out without dropping
    below its desired count, spread over nodes and zones, reading plain settings from a
    ConfigMap and credentials from a Secret; a Service; optionally an autoscaler and an
    Ingress; a PodDisruptionBudget when more than one replica can run; and a
    NetworkPolicy that admits traffic to the app port and lets the app reach its
    database, DNS and the egress destinations it is given; optionally its alert rules in a
    PrometheusRule.

    The ConfigMap and Secret are auto-named, so a change of either gets a new name, which
    changes the pod template and rolls the pods onto the new values."""

    service_name: pulumi.Output[str]
    """Name of the app's Service."""
    url: pulumi.Output[str]
    """The app's URL: the Ingress URL if there is one, the in-cluster URL otherwise."""
    port_forward: pulumi.Output[str]
    """A kubectl command that makes the app reachable at http://localhost:8080."""
    load_balancer_address: pulumi.Output[str] | None
    """Host name or IP address of the load balancer, for a LoadBalancer Service."""
    node_port: pulumi.Output[int] | None
    """The port every node forwards to the app, for a NodePort Service."""

    @staticmethod
    def pod_selector(app: str, name: str) -> dict[str, str]:
        """The labels of the pods a WebService called `name` will run, known before it is
        created so that a database can admit them."""
        return selector_labels(app, name, COMPONENT)

    @staticmethod
    def pods(name: str, args: WebServiceArgs) -> list[PodDemand]:
        """The pods a WebService called `name` runs at the most, with the specs its
        Deployment declares, known before it is created so that a namespace's quota can
        hold them. Names of other objects in the specs are left empty."""
        web = read_parts(name, args, None)
        count = most_pods(web)
        return [PodDemand(count, pod_spec(web, "", "", ""), f"{count} app pods")]

    def __init__(
        self, name: str, args: WebServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            component_type("WebService"), name, None, component_options("WebService", opts)
        )
        web = read_parts(name, args, self)

        account = service_account(web)
        config = settings(web)
        secret = credentials(web)
        app = deployment(web, account, config, secret)
        autoscaler(web, app)
        disruption_budget(web)
        app_service = service(web)
        ingress(web, app_service)
        network_policy(web)
        acme_solver_policy(web)
        warn_of_second_way_in(web)
        alert_rules(web)

        self.service_name = app_service.metadata.name
        self.url = url(web)
        self.port_forward = port_forward(web)
        self.load_balancer_address = (
            load_balancer_address(app_service) if web.service_type == "LoadBalancer" else None
        )
        self.node_port = node_port(app_service) if web.service_type == "NodePort" else None
        self.register_outputs({"service_name": self.service_name, "url": self.url})
