# cite-souveraine: entry points for sysadmins and CI.
#
#   make lab        set up this machine if needed, build images, start the lab fleet and
#                   run site.yml against it (the main job, with the lab as embedded default)
#   make test       every check: yamllint, ansible-lint, ruff, pytest, every Molecule scenario,
#                   then the lab end to end (make e2e); a running lab is removed first
#   make lab-down   remove the lab fleet (containers and networks)
#   make compliance the auditors on the lab: OpenSCAP (ANSSI BP-028), Lynis, ssh-audit;
#                   HTML reports in compliance/reports/, one line per host in the README
#   make scenario S=base   one role's Molecule scenario alone (while iterating)
#   make fleet-engine  build the real Pulumi engine and libvirt provider from Go modules
#                   into .cache/pulumi (cached; tools/pulumi/run drives pulumi/ with it)
#   make fleet-image   build the fleet's bootable Debian VM image (debootstrap, cached)
#   make fleet-e2e  the real chain on the lab: pulumi up of the lab stack on hv01, VMs boot,
#                   site.yml converges them, the auditors judge one, preview, destroy
#   make bench      measure converge times, Pulumi evaluation and the test suite, write
#                   bench/results.md and the README figures (BENCH_ARGS="--only lab")
#
# Everything here runs as root on Debian 12 or 13 (podman, debootstrap).

SHELL        := /bin/bash
.SHELLFLAGS  := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON       ?= python3
VENV         := .venv
# Debian packages this machine needs, every one named: tools/apt-install installs them with
# --no-install-recommends, so nothing the lab needs arrives by luck as a recommendation
# (netavark's iptables once did, and CI never saw it missing).
#   podman conmon runc            containers (runc: crun fails here, see lab/containers.conf)
#   netavark aardvark-dns         podman's networks and name resolution on them (Molecule)
#   iptables                      netavark's firewall back-end ("netavark: No such file")
#   debootstrap debian-archive-keyring   base images, checked against Debian's keys
#   python3-venv                  the project's .venv
#   iproute2                      lab/up.yml sets each lab host's route through the router;
#                                 lab/down.yml deletes bridges a failed teardown left
#   iputils-ping                  the controller's side of the ICMP tests
#   openssh-client                ssh and ssh-keygen: the lab key, SSH tests, ssh-audit's peer
#   nftables                      `nft -c` checks generated firewall rules in the unit tests
DEBIAN_PKGS  := podman conmon runc netavark aardvark-dns iptables debootstrap \
                debian-archive-keyring python3-venv iproute2 iputils-ping openssh-client \
                nftables
SUITES       := bookworm trixie
# The fleet's VM image and its end-to-end run only (make fleet-image, make fleet-e2e):
#   qemu-utils                    qemu-img turns the debootstrapped disk into a qcow2
#   fdisk                         sfdisk partitions it (ANSSI BP-028 R28 layout)
FLEET_PKGS   := qemu-utils fdisk
VM_IMAGE     := .cache/images/debian-bookworm-vm.qcow2
# Controller-side tools unpacked from Debian's packages without installing them (their
# packages would start daemons here): promtool and amtool for the monitoring rules' tests.
TOOLS        := .cache/tools
SCENARIOS    := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

# Project-scoped podman configuration (see lab/containers.conf and the README).
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export PATH            := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG  := $(CURDIR)/ansible.cfg
# The lab's "internal mirror": the Debian mirror this machine's apt uses, unless set.
ifeq ($(strip $(LAB_DEBIAN_MIRROR)),)
LAB_DEBIAN_MIRROR := $(shell python3 lab/apt_mirror.py)
endif
export LAB_DEBIAN_MIRROR
export PY_COLORS       := 0
export ANSIBLE_FORCE_COLOR := 0

.PHONY: help setup apt images lab lab-up lab-down no-lab site compliance lint unit e2e molecule scenario test bench clean fleet-engine fleet-image fleet-e2e

help:
	@awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' Makefile

# --- set-up -------------------------------------------------------------------------------
setup: apt $(VENV)/.installed

# Checked on every run (a few dpkg-query calls): packages removed since are put back.
apt:
	@tools/phase "Debian packages (apt, --no-install-recommends)" tools/apt-install $(DEBIAN_PKGS)

$(VENV)/.installed: requirements.txt pyproject.toml
	@tools/phase "Python tools into $(VENV) (pip, pinned)" sh -ec '\
	  test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV); \
	  $(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt; \
	  $(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .'
	@touch $@

images: setup
	@test -n "$(LAB_DEBIAN_MIRROR)" || { echo "no Debian mirror in /etc/apt: set LAB_DEBIAN_MIRROR"; exit 2; }
	@tools/phase "Base images $(SUITES) (debootstrap from $(LAB_DEBIAN_MIRROR), cached)" \
	  bash lab/images/build.sh $(SUITES)

# --- the lab ------------------------------------------------------------------------------
lab: images
	@$(MAKE) --no-print-directory lab-up site
	@tools/phase "Lab alert receivers (lab/receivers.yml)" ansible-playbook lab/receivers.yml
	@ansible-playbook lab/summary.yml > /dev/null
	@cat .cache/lab/summary.txt

lab-up: setup
	@tools/phase "Lab containers and networks (lab/up.yml)" ansible-playbook lab/up.yml

site: setup
	@tools/phase "Converge site.yml on the lab" ansible-playbook site.yml

# The auditors on the running lab (make lab first): OpenSCAP ANSSI-BP-028, Lynis, ssh-audit.
# HTML reports under compliance/reports/<host>/, one line per host printed and in the README.
compliance: setup
	@ansible-playbook playbooks/compliance.yml -e compliance_doc=$(CURDIR)/docs/compliance-latest.md \
	  > .cache/compliance.log || { tail -40 .cache/compliance.log; exit 1; }
	@cat compliance/reports/summary.txt

lab-down: setup
	@ansible-playbook lab/down.yml

# --- tests --------------------------------------------------------------------------------
lint: setup
	yamllint --strict .
	ansible-lint --profile production
	ruff check .
	ruff format --check .

$(TOOLS)/prometheus/usr/bin/promtool $(TOOLS)/prometheus-alertmanager/usr/bin/amtool:
	@tools/phase "$(notdir $@) from Debian's $(word 3,$(subst /, ,$@)) package (unpacked, not installed)" \
	  tools/deb-extract $(word 3,$(subst /, ,$@)) $(TOOLS)/$(word 3,$(subst /, ,$@))

# The unit tests UNIT_JOBS at a time (pytest-xdist): each one works in its own tmp_path.
UNIT_JOBS ?= $(shell nproc)
unit: setup $(TOOLS)/prometheus/usr/bin/promtool $(TOOLS)/prometheus-alertmanager/usr/bin/amtool
	pytest -n $(UNIT_JOBS) -m "not lab and not fleet" tests

# The lab end to end: from no lab at all (a lab left running by an interrupted run, or by
# another clone on this machine, is removed first: the containers' names are the
# machine's, not the clone's), bring it up and converge (make lab), run the lab tests
# (tests/test_lab*.py: --check, SSH, isolation, backups, logging, alerts), tear it down.
# The lab tests in two passes: the read-only ones LAB_JOBS at a time (pytest-xdist, one
# group per file, the --check a group of its own and first, files in their order: it
# keeps one core busy while the others wait on timers, scrapes and logs), then those that
# change the lab (marker lab_alters: a host stopped, a tenant added, the replica
# promoted), one at a time.
LAB_JOBS ?= 2
e2e: images no-lab
	@$(MAKE) --no-print-directory lab
	pytest -m "lab and not lab_alters" -n $(LAB_JOBS) --dist loadgroup --no-loadscope-reorder \
	  --durations=8 tests
	pytest -m "lab and lab_alters" --durations=8 tests
	@$(MAKE) --no-print-directory lab-down

# No lab left by an earlier run: make e2e keeps a failed lab for inspection, and the
# containers' names are the machine's, not the clone's. Before the scenarios too: every
# container's systemd takes inotify instances from root's one budget on this machine
# (fs.inotify.max_user_instances, 128 on Debian), and a left lab's 15 containers beside
# the backup and logging scenarios' 8 exhausted it: systemd in the new containers failed
# "Too many open files" and the converges hung (2026-12-02).
no-lab: setup
	@tools/phase "No lab left from an earlier run (lab/down.yml)" ansible-playbook lab/down.yml

# Scenarios run MOLECULE_JOBS at a time (each has its own containers and network): on two
# cores, one converges while another waits on apt, sshd, a backup or a timer. Two at a
# time left the machine 70-88 % busy and took 814-836 s, the least two jobs can do
# (the seven scenarios add up to 1,668 s); three at a time took 731 s, 95 % busy (CI,
# 2026-12-02, docs/figures.md). Each scenario's own time grows (backup 462 s -> 647 s).
MOLECULE_JOBS ?= 3
molecule: images no-lab
	@tools/phase "Molecule scenarios: $(SCENARIOS) ($(MOLECULE_JOBS) at a time)" \
	  tools/molecule-all $(MOLECULE_JOBS) $(SCENARIOS)

scenario: images
	@test -n "$(S)" || { echo "usage: make scenario S=<one of: $(SCENARIOS)>"; exit 2; }
	molecule test -s $(S)

test: lint unit molecule e2e
	@echo "make test: all checks passed"

# The Pulumi CLI 3.274.0 (pkg/v3 3.272.0 is refused by the Go proxy: 403) and
# pulumi-libvirt 0.5.4, pinned in tools/pulumi/{cli,libvirt}/go.mod; GOPATH in .cache/go.
fleet-engine: setup
	@tools/phase "Pulumi engine and libvirt provider from Go modules (.cache/pulumi)" \
	  tools/pulumi/build

# The fleet's VM image (lab/images/vm-image.sh): rebuilt only when its recipe changes.
fleet-image: setup
	@tools/phase "Fleet tools (apt, --no-install-recommends)" tools/apt-install $(FLEET_PKGS)
	@tools/phase "VM image $(VM_IMAGE) (debootstrap from $(LAB_DEBIAN_MIRROR) into a BP-028 disk, cached)" \
	  bash lab/images/vm-image.sh bookworm $(VM_IMAGE)

# The real chain on the lab (tests/test_fleet_lab.py): the engine and image above, the
# lab's hypervisor hv01; pulumi up / boot / site.yml / auditors / refresh / preview /
# destroy; its figures in docs/fleet-e2e.md. Not part of `make test` (the engine's cold
# build and software-emulated VMs are too slow for every run).
fleet-e2e: fleet-engine fleet-image lab
	pytest -m fleet --durations=8 tests
	@$(MAKE) --no-print-directory lab-down

bench: images
	@$(VENV)/bin/python -m bench $(BENCH_ARGS)

clean: lab-down
	rm -rf .cache $(VENV)
