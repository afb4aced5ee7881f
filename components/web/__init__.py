"""WebService (`webapp:index:WebService`): its inputs (args), what they resolve to
(parts), the Deployment, its autoscaler and disruption budget (workload), and the
Service, Ingress and network policy (exposure)."""

from .args import Autoscaling, EgressRule, Ingress, WebServiceArgs
from .component import WebService

__all__ = ["Autoscaling", "EgressRule", "Ingress", "WebService", "WebServiceArgs"]
