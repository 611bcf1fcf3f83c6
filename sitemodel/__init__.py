"""The site model: tenants, shared networks and hosts, as the inventory declares them.

One source of truth for Ansible (preflight filter plugin), pytest and the Pulumi fleet.
"""

from sitemodel.model import Flow, Host, Network, SiteModel, parse_model
from sitemodel.validate import site_errors

__all__ = ["Flow", "Host", "Network", "SiteModel", "parse_model", "site_errors"]
