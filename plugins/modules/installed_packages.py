#!/usr/bin/python3
"""Ansible fact module: the names of the Debian packages installed on the host.

ansible.cfg runs it with the setup module when a play gathers facts (``facts_modules``).
Roles then install only what is missing (``packages_missing`` filter) instead of opening
apt's cache in every role, which costs about a second of CPU per host and task.

Why not ``ansible.builtin.package_facts``: its records (version, architecture, origin,
source of every package) are four times the size of all other facts, and Ansible
deep-copies a host's facts into the variables of every task: measured on the lab, 30 ms
of the controller's CPU per task and host. A list of names is enough to decide.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: installed_packages
short_description: Names of the installed Debian packages, as a fact
description:
  - Sets the fact C(installed_packages), the sorted names of the packages dpkg reports
    as installed (status C(install ok installed)), without architecture qualifiers.
  - Gathered with the other facts (ansible.cfg C(facts_modules)); runs in check mode.
options: {}
"""

RETURN = r"""
ansible_facts:
  description: C(installed_packages), a sorted list of package names.
  returned: always
  type: dict
"""

QUERY = ["dpkg-query", "--show", "--showformat", "${db:Status-Status} ${Package}\\n"]


def parse(output: str) -> list[str]:
    """Package names whose dpkg status is 'installed' in ``dpkg-query`` output."""
    names = set()
    for line in output.splitlines():
        status, _, name = line.partition(" ")
        if status == "installed" and name:
            names.add(name.split(":", 1)[0])
    return sorted(names)


def main() -> None:
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    rc, out, err = module.run_command(QUERY)
    if rc != 0:
        module.fail_json(msg=f"dpkg-query failed: {err.strip()}", rc=rc)
    module.exit_json(changed=False, ansible_facts={"installed_packages": parse(out)})


if __name__ == "__main__":
    main()
