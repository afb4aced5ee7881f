"""WebService (`webapp:index:WebService`): its inputs (args), what they resolve to
(parts), what its pods read (config), their containers (containers), the Deployment
(workload), its autoscaler and disruption budget (scaling), its alert rules (alerts), and
the Service, Ingress and network policy (exposure)."""

from .args import Autoscaling, EgressRule, Ingress, WebServiceArgs
from .component import WebService

__all__ = ["Autoscaling", "EgressRule", "Ingress", "WebService", "WebServiceArgs"]
