"""Mitogen's linear strategy (PyPI ``mitogen``), with its CPU pinning turned off.

Mitogen keeps one Python interpreter per target host for the whole run and sends it the
modules once, instead of starting Python and shipping a module archive for every task;
over SSH it also needs one connection and one ``sudo`` per host. On the lab's re-converge
it took the controller's time from 481 s to 95 s (README, "Figures").

Two settings of Mitogen are changed before its strategy is loaded, nothing else:

- Its CPU affinity policy pins the controller and every worker process to one core on
  machines with two or three cores, keeping the other for its multiplexer: on this
  project's two-core machines that halved the throughput. It is replaced by Mitogen's own
  no-op ``Policy``.
- Tasks on the controller itself (``connection: local``, ``delegate_to: localhost``) keep
  Ansible's own local connection: Mitogen's runs no ``async`` job (Molecule's create and
  destroy playbooks wait on them for ever). Mitogen supports such mixed plays: an action
  whose connection is not Mitogen's runs as Ansible runs it.

ansible-core 2.19 warns that strategy plugins outside ansible.builtin are deprecated.
Should a release drop them, set ``strategy = linear`` in ansible.cfg (and the lab's
``ansible_connection`` to ``containers.podman.podman``): every play works the same,
only slower.
"""

from __future__ import annotations

import ansible_mitogen.affinity
import ansible_mitogen.strategy

ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()
ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
    name for name in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS if name != "local"
)

from ansible_mitogen.plugins.strategy.mitogen_linear import (  # noqa: E402
    StrategyModule as StrategyModule,
)

__all__ = ["StrategyModule"]
