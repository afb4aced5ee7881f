"""AppNamespace (`webapp:index:AppNamespace`): the namespace, its quota and limit range,
default-deny network policies and the dashboard ConfigMap."""

from .component import AppNamespace, AppNamespaceArgs, Quota

__all__ = ["AppNamespace", "AppNamespaceArgs", "Quota"]
