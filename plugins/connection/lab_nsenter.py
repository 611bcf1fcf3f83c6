"""Ansible connection into a lab container through nsenter (lab only).

The lab's hosts are systemd containers on this machine. containers.podman's connection
spawns several `podman` processes per task (mount, exec, exec, exec) and cannot pipeline;
on a two-core machine a converge of the lab spent most of its time there. This plugin
enters the container's namespaces directly with util-linux's `nsenter`, the way
`podman exec` does underneath, and supports pipelining: one short-lived process per task.

The container's init PID comes from the pid file lab/up.yml asks podman to write
(`.cache/lab/pids/<container>.pid`), or from `podman inspect` if that file is missing or
stale. Production never uses this: it reaches hosts over SSH through the bastion.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from shlex import quote

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import BUFSIZE, ConnectionBase
from ansible.utils.display import Display

DOCUMENTATION = r"""
name: lab_nsenter
short_description: Run tasks inside a local lab container through nsenter
description:
  - Enters the mount, UTS, IPC, network, PID, cgroup and user namespaces and the root of
    a running local container (lab only; needs root on the controller).
options:
  remote_addr:
    description: Name of the container.
    type: string
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
  pid_dir:
    description: Directory of the pid files written by podman (--pidfile).
    type: string
    default: ""
    vars:
      - name: ansible_lab_pid_dir
  podman_executable:
    description: podman used to find the PID when there is no valid pid file.
    type: string
    default: podman
    vars:
      - name: ansible_podman_executable
extends_documentation_fragment:
  - connection_pipelining
"""

display = Display()
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Connection(ConnectionBase):
    """Commands and files into a lab container, through its namespaces."""

    transport = "lab_nsenter"
    has_pipelining = True
    has_tty = False
    default_user = "root"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pid = ""

    def _container(self) -> str:
        return str(self.get_option("remote_addr"))

    def _pid_from_file(self) -> str:
        pid_dir = self.get_option("pid_dir")
        if not pid_dir:
            return ""
        pid_file = Path(pid_dir) / f"{self._container()}.pid"
        try:
            pid = pid_file.read_text(encoding="ascii").strip()
        except OSError:
            return ""
        return pid if pid.isdigit() and Path(f"/proc/{pid}/ns/mnt").exists() else ""

    def _pid_from_podman(self) -> str:
        podman = self.get_option("podman_executable")
        result = subprocess.run(
            [podman, "inspect", "--format", "{{.State.Pid}}", self._container()],
            capture_output=True,
            text=True,
            check=False,
        )
        pid = result.stdout.strip()
        if result.returncode != 0 or not pid.isdigit() or pid == "0":
            raise AnsibleConnectionFailure(
                f"lab container {self._container()} is not running (make lab-up starts it): "
                f"{result.stderr.strip()}"
            )
        return pid

    def _connect(self) -> Connection:
        if os.geteuid() != 0:
            raise AnsibleError("the lab_nsenter connection needs root on the controller")
        if not self._connected:
            self._pid = self._pid_from_file() or self._pid_from_podman()
            display.vvv(f"NSENTER PID {self._pid}", host=self._container())
            self._connected = True
        return self

    def _popen(self, cmd: str, stdin: object = subprocess.PIPE) -> subprocess.Popen[bytes]:
        self._connect()
        argv = ["nsenter", "-t", self._pid, "-a", "-r", "-w", "/bin/sh", "-c", cmd]
        display.vvv(f"EXEC {argv}", host=self._container())
        env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root"}
        return subprocess.Popen(
            argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        process = self._popen(cmd)
        stdout, stderr = process.communicate(in_data)
        return process.returncode, stdout, stderr

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self._container())
        try:
            with open(in_path, "rb") as source:
                process = self._popen(f"cat > {quote(out_path)}", stdin=source)
                _, stderr = process.communicate()
        except OSError as error:
            raise AnsibleError(f"cannot read {in_path}: {error}") from error
        if process.returncode != 0:
            raise AnsibleError(f"failed to write {out_path}: {stderr.decode(errors='replace')}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self._container())
        process = self._popen(f"cat {quote(in_path)}")
        assert process.stdout is not None
        with open(out_path, "wb") as target:
            while chunk := process.stdout.read(BUFSIZE):
                target.write(chunk)
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise AnsibleError(f"failed to read {in_path}: {stderr.decode(errors='replace')}")

    def close(self) -> None:
        super().close()
        self._connected = False
