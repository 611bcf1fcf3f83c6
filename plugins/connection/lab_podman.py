"""Ansible connection into a lab container: Mitogen's podman method (lab only).

The lab's hosts are systemd containers on this machine, named ``lab-<inventory name>``
(lab/up.yml). Under the Mitogen strategy (ansible.cfg) this connection starts one
``podman exec -i <container> python3`` per host and keeps it for the whole run: every
task is a message to that interpreter, no process is started per task.

Mitogen's own ``podman`` connection declares no options, so Ansible never templates
``ansible_host`` for it and the container would be looked up as the literal text
``lab-{{ inventory_hostname }}``. This plugin is that connection with its options
declared: Ansible renders them like any other connection's.

The lab connects as root (``ansible_become: false`` in the lab inventory): Mitogen would
otherwise start sudo inside the container, whose ``noexec`` default (ANSSI BP-028 R39)
forbids the interpreter to re-execute itself. Production connects over SSH as a named
sysadmin and becomes root with sudo (inventory/production/group_vars/all/connection.yml).
"""

from __future__ import annotations

from ansible_mitogen.plugins.connection.mitogen_podman import Connection as _MitogenPodman

DOCUMENTATION = r"""
name: lab_podman
short_description: Run tasks in a local lab container through Mitogen's podman method
description:
  - One persistent Python interpreter per container, started with C(podman exec -i).
  - Needs the Mitogen strategy (ansible.cfg C(strategy = mitogen_linear)).
options:
  host:
    description: Name of the container.
    type: string
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
  remote_user:
    description: User inside the container (root when unset).
    type: string
    vars:
      - name: ansible_user
"""


class Connection(_MitogenPodman):
    """Mitogen's podman connection, its container name rendered by Ansible."""

    transport = "podman"
