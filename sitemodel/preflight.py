"""The whole site checked in one pass, before any host is contacted.

``check_site`` takes the site model as the inventory declares it and, for every host,
the few values the checks read (already rendered by Ansible: see
plugins/action/site_preflight.py). It returns every problem as one sentence naming the
culprit; the same problem on many hosts is reported once, with the hosts it concerns.

Work is done once per distinct input, not once per host: the model is parsed once, and a
firewall plan is computed once per distinct (network, sources, openings), so 3,500 hosts
that share a handful of group settings cost a handful of plans.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sitemodel import inputs as role_inputs
from sitemodel import services
from sitemodel.firewall import Index, plan
from sitemodel.model import Host, Policy, SiteModel, kind_of, parse_model
from sitemodel.validate import site_errors

# Hosts named in one aggregated message before "and N more".
NAMED_HOSTS = 5


@dataclass(frozen=True)
class HostInput:
    """What the preflight reads of one host (values rendered by Ansible)."""

    address: Any
    groups: tuple[str, ...]
    ssh_sources: Any = ()
    icmp_sources: Any = ()
    openings: Any = ()
    apt_mirror: Any = ""
    # hardening: control -> switch on/off, and the waivers (control -> reason).
    controls: Mapping[str, Any] = field(default_factory=dict)
    waivers: Any = None
    # monitoring: the room the host stands in and its BMC (address[:port]), if any.
    room: Any = None
    bmc: Any = None
    # The roles' knobs written into files the system reads as code (sitemodel.inputs).
    knobs: Mapping[str, Any] = field(default_factory=dict)
    # A value of this host that could not be rendered (the message says which).
    error: str = ""


@dataclass
class Report:
    """Problems, each with the hosts it was found on (empty for site-wide problems)."""

    site: list[str] = field(default_factory=list)
    per_host: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def host(self, name: str, problem: str) -> None:
        self.per_host[problem].append(name)

    def messages(self) -> list[str]:
        found = list(dict.fromkeys(self.site))
        for problem, hosts in self.per_host.items():
            hosts = sorted(set(hosts))
            if len(hosts) == 1:
                found.append(f"host {hosts[0]!r}: {problem}")
                continue
            named = ", ".join(hosts[:NAMED_HOSTS])
            more = f" and {len(hosts) - NAMED_HOSTS} more" if len(hosts) > NAMED_HOSTS else ""
            found.append(f"{len(hosts)} hosts ({named}{more}): {problem}")
        return found


def _key(value: Any) -> str:
    """A hashable, order-preserving key for plain inventory data."""
    return json.dumps(value, sort_keys=True, default=str)


def _list(value: Any, what: str, report: Report, host: str) -> list[Any] | None:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        report.host(host, f"{what} must be a list, got {kind_of(value)} {str(value)!r:.60}")
        return None
    return list(value)


def _firewall(
    index: Index,
    network: str,
    inputs: HostInput,
    name: str,
    report: Report,
    cache: dict[str, str | None],
) -> None:
    ssh = _list(inputs.ssh_sources, "firewall SSH sources", report, name)
    icmp = _list(inputs.icmp_sources, "firewall_icmp_sources", report, name)
    openings = _list(inputs.openings, "firewall_openings", report, name)
    if ssh is None or icmp is None or openings is None:
        return
    key = _key([network, ssh, icmp, openings])
    if key not in cache:
        try:
            plan(index, network, ssh_sources=ssh, icmp_sources=icmp, openings=openings)
            cache[key] = None
        except (ValueError, TypeError, AttributeError) as exc:
            cache[key] = f"firewall: {exc}"
    if cache[key]:
        report.host(name, str(cache[key]))


def _waivers(inputs: HostInput, name: str, report: Report) -> None:
    waivers = inputs.waivers if inputs.waivers is not None else {}
    if not isinstance(waivers, Mapping):
        report.host(
            name, f"hardening_waivers must map a control to its reason, got {waivers!r:.60}"
        )
        return
    controls = inputs.controls
    disabled = sorted(c for c, on in controls.items() if not on)
    unknown = sorted(str(c) for c in waivers if c not in controls)
    unused = sorted(str(c) for c in waivers if controls.get(c))
    unexplained = [
        c
        for c in disabled
        if not (isinstance(waivers.get(c), str) and len(waivers[c].strip()) >= 10)
    ]
    if unknown:
        report.host(
            name,
            f"hardening_waivers: unknown control(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(controls))})",
        )
    if unused:
        report.host(
            name,
            f"hardening_waivers: a waiver for control(s) still on: {', '.join(unused)} "
            "(remove it, or turn the control off)",
        )
    if unexplained:
        report.host(
            name,
            "hardening_waivers: control(s) turned off without a reason (10 characters or "
            f"more): {', '.join(unexplained)}",
        )


def _knobs(
    inputs: HostInput, name: str, report: Report, cache: dict[tuple[int, ...], list[str]]
) -> None:
    """The roles' knobs, checked once per distinct set of objects: hosts that take them
    from the same group or from the roles' defaults share the very same objects (the
    inputs keep them alive, so no identity is reused while the cache lives)."""
    values = inputs.knobs
    key = tuple(id(values.get(knob)) for knob in role_inputs.KNOBS)
    if key not in cache:
        cache[key] = role_inputs.input_errors(values)
    for problem in cache[key]:
        report.host(name, problem)


def check_model(
    tenants: Any,
    shared: Any,
    hosts: Mapping[str, tuple[Any, Sequence[str]]],
    policy: Policy | None = None,
) -> tuple[SiteModel, list[str]]:
    """The model and its hosts (``name -> (site_address, groups)``), before any host's own
    settings are read: a host's settings may refer to a model that does not hold."""
    model = parse_model(tenants, shared, hosts, policy)
    return model, site_errors(model)


def check_hosts(model: SiteModel, hosts: Mapping[str, HostInput]) -> list[str]:
    """Each host's plan (firewall, waivers, mirror, the roles' knobs), on a model without
    errors."""
    report = Report()
    index = Index(model)
    plans: dict[str, str | None] = {}
    checked: dict[tuple[int, ...], list[str]] = {}
    for name, inputs in hosts.items():
        if inputs.error:
            report.host(name, inputs.error)
            continue
        nets = model.network_of(Host(name, None, inputs.groups))
        if len(nets) == 1:
            _firewall(index, nets[0].id, inputs, name, report, plans)
        mirror = inputs.apt_mirror
        if not isinstance(mirror, str) or not mirror.strip():
            report.host(name, "site_apt_mirror is not set in the inventory")
        if inputs.controls:
            _waivers(inputs, name, report)
        for problem in services.placement_errors(name, inputs.room, inputs.bmc):
            report.host(name, problem)
        _knobs(inputs, name, report, checked)
    return report.messages()


def check_site(
    tenants: Any,
    shared: Any,
    hosts: Mapping[str, HostInput],
    policy: Policy | None = None,
) -> list[str]:
    """Every problem of the site, model first, then each host's plan."""
    model, errors = check_model(
        tenants, shared, {name: (h.address, h.groups) for name, h in hosts.items()}, policy
    )
    if errors:
        # A model that does not hold cannot give plans: its own errors say why.
        return errors
    return check_hosts(model, hosts)
