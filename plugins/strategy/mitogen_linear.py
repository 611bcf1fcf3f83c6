"""Mitogen's linear strategy (PyPI ``mitogen``), with its CPU pinning turned off.

Mitogen keeps one Python interpreter per target host for the whole run and sends it the
modules once, instead of starting Python and shipping a module archive for every task;
over SSH it also needs one connection and one ``sudo`` per host. On the lab's re-converge
it took the controller's time from 481 s to 95 s (README, "Figures").

Two settings of Mitogen are changed before its strategy is loaded:

- Its CPU affinity policy pins the controller and every worker process to one core on
  machines with two or three cores, keeping the other for its multiplexer: on this
  project's two-core machines that halved the throughput. It is replaced by Mitogen's own
  no-op ``Policy``.
- Tasks on the controller itself (``connection: local``, ``delegate_to: localhost``) keep
  Ansible's own local connection: Mitogen's runs no ``async`` job (Molecule's create and
  destroy playbooks wait on them for ever). Mitogen supports such mixed plays: an action
  whose connection is not Mitogen's runs as Ansible runs it.

Ansible still forks one worker process per task and host (about 2,400 in a ``--check``
of the lab), and what a worker learns dies with it. Two costs of those workers are moved to
the controller's own process, once per run (``py-spy`` on a ``--check`` of the lab showed
them; docs/figures.md):

- Mitogen's planner lists every installed collection (and reads each one's
  ``meta/runtime.yml``) for every task that calls a collection's module, to learn their
  paths: 13 % of the workers' CPU. The list is made once here, before any worker is
  forked, and every worker inherits it.
- Python's collector, in a worker, walks every object the worker inherited, which copies
  their pages (copy on write). The controller's objects are frozen (``gc.freeze``) while
  a worker is forked, so the worker's collector skips them; the controller unfreezes
  them at once and keeps collecting its own garbage.

ansible-core 2.19 warns that strategy plugins outside ansible.builtin are deprecated.
Should a release drop them, set ``strategy = linear`` in ansible.cfg (and the lab's
``ansible_connection`` to ``containers.podman.podman``): every play works the same,
only slower.
"""

from __future__ import annotations

import gc
from typing import Any

import ansible.collections.list
import ansible_mitogen.affinity
import ansible_mitogen.planner
import ansible_mitogen.strategy
from ansible.executor.process.worker import WorkerProcess

ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()
ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
    name for name in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS if name != "local"
)

# The installed collections' paths, listed once by the controller (see above).
COLLECTION_PATHS = tuple(
    path.decode("utf-8") for path in ansible.collections.list.list_collection_dirs()
)


def _load_collections(invocation: Any) -> None:
    invocation._extra_sys_paths.update(COLLECTION_PATHS)


ansible_mitogen.planner._load_collections = _load_collections

_fork_worker = getattr(WorkerProcess.start, "__wrapped__", WorkerProcess.start)


def _start_frozen(self: WorkerProcess) -> None:
    """Fork a worker with the controller's objects frozen (see above)."""
    gc.freeze()
    try:
        _fork_worker(self)
    finally:
        gc.unfreeze()


_start_frozen.__wrapped__ = _fork_worker  # type: ignore[attr-defined]
WorkerProcess.start = _start_frozen  # type: ignore[method-assign]

from ansible_mitogen.plugins.strategy.mitogen_linear import (  # noqa: E402
    StrategyModule as StrategyModule,
)

__all__ = ["StrategyModule"]
