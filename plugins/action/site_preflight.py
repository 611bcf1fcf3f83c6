"""Ansible action: the whole site checked in one pass on the controller (run it once).

playbooks/preflight.yml calls it once (``run_once``) instead of running one task per host:
at 3,500 hosts a per-host task costs about 100 s even when it only asserts. This plugin
reads each host's variables as the inventory declares them (``hostvars.raw_get``: no
template is evaluated unless a value is one), renders only the values that are templates,
and hands everything to ``sitemodel.preflight.check_site``, which does the checks in
Python. It contacts no host.

Tenant data (``site_tenants``, ``site_shared_networks``) is read as data and never
rendered: a template expression in it is refused (it would run on the controller), and
so is data whose YAML aliases expand beyond ``MAX_NODES`` nodes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from sitemodel.inputs import KNOBS, MODEL_DEFAULTS, ROLES
from sitemodel.model import parse_policy
from sitemodel.preflight import HostInput, check_hosts, check_model

DOCUMENTATION = r"""
action: site_preflight
short_description: Check the site model and every host's plan in one pass (controller only)
description:
  - Fails with one message per problem, each naming its culprit, before any host is touched.
options:
  secrets:
    description:
      - Check that Ansible Vault holds every tenant's backup passphrase.
      - The CA's passphrase is role pki's check, which playbooks/preflight.yml imports.
      - Without it (lab/up.yml, before the lab's vault and keys exist), a role knob that
        reads them cannot be rendered yet and is left to the run that has them.
    type: bool
    default: true
  roles:
    description: Roles whose defaults and vars the checked values fall back on.
    type: list
    elements: str
    default: the roles of sitemodel.inputs.ROLES
"""

# Expanded size above which tenant data is refused (aliases that multiply: "billion laughs").
MAX_NODES = 200_000
TEMPLATE_MARKERS = ("{{", "{%", "{#")
MISSING = object()


class TenantDataError(ValueError):
    """Tenant data that must not be evaluated or walked further."""


def tenant_data_problems(value: Any, where: str) -> list[str]:
    """Template expressions in tenant data, or data that expands too far."""
    sizes: dict[int, int] = {}
    found: list[str] = []

    def size(node: Any, path: str, depth: int) -> int:
        if depth > 50:
            raise TenantDataError(f"{path}: nested more than 50 levels deep")
        if isinstance(node, str):
            if any(marker in node for marker in TEMPLATE_MARKERS):
                found.append(
                    f"{path}: {node!r:.80} is a template expression; tenant data is data "
                    "and is never evaluated (write the value itself)"
                )
            return 1
        if not isinstance(node, Mapping | list | tuple):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that contains itself counts once
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        total = 1
        for key, child in items:
            step = f".{key}" if isinstance(key, str) else f"[{key}]"
            total += size(child, f"{path}{step}", depth + 1)
            if total > MAX_NODES:
                raise TenantDataError(
                    f"{where} expands to more than {MAX_NODES} values (YAML aliases that "
                    "multiply?): refused"
                )
        sizes[id(node)] = total
        return total

    try:
        size(value, where, 0)
    except TenantDataError as exc:
        return [str(exc)]
    return found


def _has_template(value: Any, depth: int = 0) -> bool:
    """Whether inventory data holds a template (plain containers only: never hostvars)."""
    if isinstance(value, str):
        return any(marker in value for marker in TEMPLATE_MARKERS)
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_has_template(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(v, depth + 1) for v in value)
    return False


class ActionModule(ActionBase):
    """One call, every host: see the module docstring."""

    _requires_connection = False
    _supports_check_mode = True

    def _role_files(self, role: str, task_vars: Mapping[str, Any]) -> tuple[dict, dict]:
        search = [Path(task_vars.get("playbook_dir", ".")) / "roles"]
        search += [Path(task_vars.get("playbook_dir", ".")).parent / "roles"]
        search += [Path(p) for p in C.DEFAULT_ROLES_PATH]
        for base in search:
            if (base / role / "defaults" / "main.yml").is_file():
                loaded = []
                for part in ("defaults", "vars"):
                    path = base / role / part / "main.yml"
                    data = (
                        self._loader.load_from_file(str(path), trusted_as_template=True)
                        if path.is_file()
                        else None
                    )
                    loaded.append(dict(data or {}))
                return loaded[0], loaded[1]
        raise AnsibleError(f"site_preflight: role {role!r} not found on the roles path")

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        start = time.monotonic()
        roles = self._task.args.get("roles", list(ROLES))
        defaults: dict[str, Any] = {}
        role_vars: dict[str, Any] = {}
        for role in roles:
            role_defaults, role_own = self._role_files(role, task_vars)
            defaults.update(role_defaults)
            role_vars.update(role_own)
        errors = self._inventory_errors(task_vars)
        tenants = task_vars.get("site_tenants", MISSING)
        shared = task_vars.get("site_shared_networks", MISSING)
        site_policy = task_vars.get("site_policy")
        errors.extend(tenant_data_problems(site_policy, "site_policy"))
        for name, value in (("site_tenants", tenants), ("site_shared_networks", shared)):
            if value is MISSING:
                errors.append(
                    f"{name} is not defined: the inventory's site model belongs in "
                    f"{self._site_file(task_vars)}"
                )
            else:
                errors.extend(tenant_data_problems(value, name))
        if not errors:
            # The site sysadmins' group is privileged: no tenant may use it.
            admins = self._templar.template(task_vars.get("base_admin_group", "sysadmins"))
            policy = parse_policy(site_policy, errors, reserved=[str(admins)])
            renderer = _Renderer(self)
            addresses = self._addresses(task_vars, renderer)
            model, model_errors = check_model(tenants, shared, addresses, policy)
            errors.extend(model_errors)
            if not errors:
                secrets = _truthy(self._task.args.get("secrets", True))
                hosts = self._host_inputs(task_vars, defaults, role_vars, renderer, secrets)
                errors.extend(check_hosts(model, hosts))
        # Missing secrets are said even beside other problems: a missing vault is the
        # cause of many (values that read it cannot be rendered).
        if isinstance(tenants, list) and _truthy(self._task.args.get("secrets", True)):
            errors.extend(self._secret_errors(task_vars, tenants))
        result["hosts"] = len(task_vars.get("groups", {}).get("all", []))
        result["seconds"] = round(time.monotonic() - start, 2)
        result["changed"] = False
        if errors:
            result["failed"] = True
            result["msg"] = ["The site is invalid (nothing was changed on any host):", *errors]
        else:
            result["msg"] = f"site checked: {result['hosts']} hosts in {result['seconds']} s"
        return result

    @staticmethod
    def _secret_errors(task_vars: Mapping[str, Any], tenants: Any) -> list[str]:
        """Vault entries that must exist; their values are never put in a message."""
        errors = []
        groups = task_vars.get("groups", {})
        with_hosts = sorted(
            str(t.get("id"))
            for t in tenants
            if isinstance(t, Mapping) and t.get("id") is not None and groups.get(str(t["id"]))
        )
        passphrases = task_vars.get("vault_backup_passphrases") or {}
        if not isinstance(passphrases, Mapping):
            passphrases = {}
        missing = [t for t in with_hosts if not str(passphrases.get(t) or "")]
        if missing:
            errors.append(
                f"no backup passphrase in Ansible Vault for tenant(s) {', '.join(missing)}: add "
                "vault_backup_passphrases.<tenant> to the inventory's group_vars/all/vault.yml "
                "(ansible-vault edit; the lab's is made by `make lab-up`)"
            )
        return errors

    @staticmethod
    def _site_file(task_vars: Mapping[str, Any]) -> str:
        sources = task_vars.get("ansible_inventory_sources") or ["inventory/<env>"]
        return f"{sources[0]}/group_vars/all/tenants.yml"

    @staticmethod
    def _inventory_errors(task_vars: Mapping[str, Any]) -> list[str]:
        sources = list(task_vars.get("ansible_inventory_sources") or [])
        if len(sources) > 1:
            return [
                f"one inventory at a time: {', '.join(map(str, sources))} were given together "
                "(their hosts, addresses and vaults would mix); run each with its own -i"
            ]
        return []

    @staticmethod
    def _memberships(task_vars: Mapping[str, Any]) -> dict[str, list[str]]:
        groups: Mapping[str, Sequence[str]] = task_vars.get("groups", {})
        memberships: dict[str, list[str]] = {host: [] for host in groups.get("all", [])}
        for group, members in groups.items():
            for host in members:
                memberships.setdefault(host, []).append(group)
        return memberships

    def _addresses(
        self, task_vars: Mapping[str, Any], renderer: _Renderer
    ) -> dict[str, tuple[Any, list[str]]]:
        """Every host's site address and groups: what the model checks hosts against."""
        hostvars = task_vars["hostvars"]
        found = {}
        for host, groups in self._memberships(task_vars).items():
            variables = {**hostvars.raw_get(host), "hostvars": hostvars}
            try:
                address = renderer.render(variables.get("site_address"), variables)
            except AnsibleError as exc:
                address = f"(site_address could not be rendered: {exc.message})"
            found[host] = (address, groups)
        return found

    def _host_inputs(
        self,
        task_vars: Mapping[str, Any],
        defaults: Mapping[str, Any],
        role_vars: Mapping[str, Any],
        renderer: _Renderer,
        secrets: bool = True,
    ) -> dict[str, HostInput]:
        groups: Mapping[str, Sequence[str]] = task_vars.get("groups", {})
        hostvars = task_vars["hostvars"]
        memberships = self._memberships(task_vars)
        controls_spec = role_vars.get("_hardening_controls") or {}
        wanted = (
            "site_address",
            "firewall_ssh_sources",
            "firewall_ssh_extra_sources",
            "firewall_icmp_sources",
            "firewall_openings",
            "site_apt_mirror",
            "hardening_waivers",
            "site_room",
            "site_bmc",
        )
        inputs: dict[str, HostInput] = {}
        for host in groups.get("all", []):
            # The host's variables as declared (role defaults under them); hostvars itself
            # is left out of raw_get.
            variables = {**defaults, **hostvars.raw_get(host), "hostvars": hostvars}
            try:
                values = {name: renderer.render(variables.get(name), variables) for name in wanted}
                knobs = self._knobs(variables, defaults, renderer, secrets)
                controls = renderer.render(controls_spec, {**variables, **role_vars})
            except AnsibleError as exc:
                inputs[host] = HostInput(
                    address=None,
                    groups=tuple(memberships.get(host, [])),
                    error=f"a setting could not be rendered: {exc.message}",
                )
                continue
            inputs[host] = HostInput(
                address=values["site_address"],
                groups=tuple(memberships.get(host, [])),
                ssh_sources=_concat(
                    values["firewall_ssh_sources"], values["firewall_ssh_extra_sources"]
                ),
                icmp_sources=values["firewall_icmp_sources"],
                openings=values["firewall_openings"],
                apt_mirror=values["site_apt_mirror"],
                controls={k: _truthy(v) for k, v in controls.items()},
                waivers=values["hardening_waivers"],
                room=values["site_room"],
                bmc=values["site_bmc"],
                knobs=knobs,
            )
        return inputs

    @staticmethod
    def _knobs(
        variables: Mapping[str, Any],
        defaults: Mapping[str, Any],
        renderer: _Renderer,
        secrets: bool,
    ) -> dict[str, Any]:
        """The host's knobs of sitemodel.inputs, rendered. Without the secrets (lab/up.yml,
        before the lab's vault and keys are made), a knob that reads them cannot be
        rendered yet: it is left to site.yml's own preflight, which has them."""
        knobs = {}
        for name in KNOBS:
            if name not in variables or (
                name in MODEL_DEFAULTS and variables[name] is defaults.get(name)
            ):
                continue
            try:
                knobs[name] = renderer.render(variables[name], variables)
            except AnsibleError:
                if secrets:
                    raise
        return knobs


class _Renderer:
    """Values of many hosts, each template rendered once per distinct input.

    A value that is data is returned as it is. A template is rendered with the host's
    variables, and the result is kept for every other host whose raw values of the names
    the template reads (transitively, through other templates) are the very same objects:
    the bastions' addresses that every host's SSH sources default to are computed once,
    a template reading ``inventory_hostname`` once per host. The raw variables of every
    host stay referenced while the renderer lives, so no object identity is reused.
    """

    def __init__(self, action: ActionModule) -> None:
        from ansible._internal._templating._engine import TemplateEngine

        self._engine = TemplateEngine(loader=action._loader)
        self._names: dict[int, frozenset[str]] = {}
        self._templated: dict[int, bool] = {}
        self._results: dict[tuple[int, ...], Any] = {}
        self._alive: list[Mapping[str, Any]] = []

    def _direct_names(self, value: Any) -> frozenset[str]:
        """Variables a template reads, memoised by the value's identity."""
        found = self._names.get(id(value))
        if found is None:
            from jinja2 import meta

            names: set[str] = set()
            for text in _strings(value):
                if any(marker in text for marker in TEMPLATE_MARKERS):
                    try:
                        ast = self._engine.environment.parse(text)
                        names |= meta.find_undeclared_variables(ast)
                    except Exception:
                        names.add("inventory_hostname")
            found = frozenset(names)
            self._names[id(value)] = found
        return found

    def _closure(self, value: Any, variables: Mapping[str, Any]) -> list[str]:
        seen: set[str] = set()
        todo = list(self._direct_names(value))
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            inner = variables.get(name)
            if self._has_template(inner):
                todo.extend(self._direct_names(inner))
        return sorted(seen)

    def _has_template(self, value: Any) -> bool:
        """``_has_template``, memoised by identity (``groups`` alone has every host)."""
        if isinstance(value, str):
            return _has_template(value)
        found = self._templated.get(id(value))
        if found is None:
            found = self._templated[id(value)] = _has_template(value)
        return found

    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        if not self._has_template(value):
            return value
        self._alive.append(variables)
        key = (id(value), *(id(variables.get(n, MISSING)) for n in self._closure(value, variables)))
        if key not in self._results:
            self._engine.available_variables = variables
            self._results[key] = self._engine.template(value)
        return self._results[key]


def _strings(value: Any, depth: int = 0) -> list[str]:
    if isinstance(value, str):
        return [value]
    if depth > 20:
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v, depth + 1)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v, depth + 1)]
    return []


def _concat(first: Any, second: Any) -> Any:
    """Two source lists as one; anything that is not a list is passed on to be refused."""
    if isinstance(first, list | tuple) and isinstance(second, list | tuple):
        return [*first, *second]
    return first if not isinstance(first, list | tuple) else second


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
