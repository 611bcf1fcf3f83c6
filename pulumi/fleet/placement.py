"""Deterministic placement of every VM on a hypervisor.

For each group, in spec order, each VM goes to the hypervisor that has room and that
holds the fewest VMs of the same group on its power feed, then in its room, then on
itself, then the least loaded, then by name. A group of two or more VMs therefore
alternates feeds and rooms (anti-affinity) as long as capacity allows; when it cannot,
the spec is refused with the group's name rather than silently losing redundancy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from fleet.spec import FleetError, FleetSpec, Hypervisor, VmGroup


@dataclass(frozen=True)
class Placement:
    vm: str
    group: VmGroup
    hypervisor: Hypervisor


@dataclass
class _Room:
    """What is still free on one hypervisor, overcommit included."""

    vcpu: float
    memory_gib: float
    disk_gib: float

    def fits(self, group: VmGroup) -> bool:
        return (
            group.vcpu <= self.vcpu
            and group.memory_gib <= self.memory_gib
            and group.disk_gib <= self.disk_gib
        )

    def take(self, group: VmGroup) -> None:
        self.vcpu -= group.vcpu
        self.memory_gib -= group.memory_gib
        self.disk_gib -= group.disk_gib


def _shortfall(spec: FleetSpec, group: VmGroup, placed: int, free: dict[str, _Room]) -> str:
    missing = group.count - placed
    need = (missing * group.vcpu, missing * group.memory_gib, missing * group.disk_gib)
    have = (
        sum(r.vcpu for r in free.values()),
        sum(r.memory_gib for r in free.values()),
        sum(r.disk_gib for r in free.values()),
    )
    short = [
        f"{need[i] - have[i]:.0f} {unit}"
        for i, unit in enumerate(("vCPU", "GiB RAM", "GiB disk"))
        if need[i] > have[i]
    ]
    detail = (
        f"short of {', '.join(short)}"
        if short
        else "free capacity is spread too thin: no hypervisor has room for one more VM"
    )
    return (
        f"group {group.key!r}: {missing} of {group.count} VMs do not fit "
        f"(each needs {group.vcpu} vCPU, {group.memory_gib} GiB RAM, {group.disk_gib} GiB "
        f"disk; overcommit cpu x{spec.cpu_overcommit}, memory x{spec.memory_overcommit}): "
        f"{detail}"
    )


def place(spec: FleetSpec) -> list[Placement]:
    free = {
        hv.name: _Room(
            hv.vcpu * spec.cpu_overcommit,
            hv.memory_gib * spec.memory_overcommit,
            float(hv.pool.capacity_gib),
        )
        for hv in spec.hypervisors
    }
    capacity = {hv.name: hv.vcpu * spec.cpu_overcommit for hv in spec.hypervisors}
    placements: list[Placement] = []
    for group in spec.groups:
        on_feed: Counter[str] = Counter()
        in_room: Counter[str] = Counter()
        on_hv: Counter[str] = Counter()
        for placed, vm in enumerate(group.vm_names()):
            candidates = [hv for hv in spec.hypervisors if free[hv.name].fits(group)]
            if not candidates:
                raise FleetError(_shortfall(spec, group, placed, free))
            hv = min(
                candidates,
                key=lambda h: (
                    on_feed[h.feed],
                    in_room[h.room],
                    on_hv[h.name],
                    1 - free[h.name].vcpu / capacity[h.name],
                    h.name,
                ),
            )
            free[hv.name].take(group)
            on_feed[hv.feed] += 1
            in_room[hv.room] += 1
            on_hv[hv.name] += 1
            placements.append(Placement(vm, group, hv))
        if spec.feed_diversity and group.count >= 2 and len(on_feed) < 2:
            feed = next(iter(on_feed))
            raise FleetError(
                f"group {group.key!r}: all {group.count} VMs would sit on power feed {feed} "
                "(anti-affinity needs at least two feeds with room)"
            )
    return placements
