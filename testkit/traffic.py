"""Real traffic in the lab's or Molecule's containers, and how the tests observe it.

Used by the lab's tests (tests/test_lab*.py) and the Molecule scenarios (firewall, ssh).
Only python3, which every host has, is needed on either side; traffic only goes between
the project's own containers and this controller.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIREWALL_LOG = "/var/log/ulog/firewall.log"

_TCP_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {port}))
s.listen(64)
while True:
    c, _ = s.accept()
    c.sendall(b"probe-ok\\n")
    c.close()
"""

_UDP_SERVER = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {port}))
while True:
    data, peer = s.recvfrom(512)
    with open("/run/probe-udp-{port}.log", "ab") as f:
        f.write(data + b"\\n")
"""

_TCP_CLIENT = """
import socket, sys
try:
    s = socket.create_connection(("{address}", {port}), timeout={timeout})
    print(s.recv(64).decode().strip())
except OSError as e:
    print(e)
    sys.exit(1)
"""

_TCP_OPEN = """
import socket, sys
try:
    socket.create_connection(("{address}", {port}), timeout={timeout}).close()
except OSError as e:
    print(e)
    sys.exit(1)
"""

_UDP_CLIENT = """
import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"{token}", ("{address}", {port}))
"""


def _python(code: str) -> str:
    return f"python3 -c {shlex.quote(code)}"


def listen(proto: str, port: int) -> str:
    """Start a listener as a transient systemd unit (idempotent: an existing one is kept)."""
    code = (_TCP_SERVER if proto == "tcp" else _UDP_SERVER).format(port=port)
    unit = f"probe-{proto}-{port}"
    return (
        f"systemctl is-active -q {unit} || "
        f"systemd-run --unit={unit} --collect {_python(code)} >/dev/null"
    )


def tcp_connect(address: str, port: int, timeout: float = 3) -> str:
    """Exit 0 and print the listener's greeting when a TCP connection is accepted."""
    return _python(_TCP_CLIENT.format(address=address, port=port, timeout=timeout))


def tcp_open(address: str, port: int, timeout: float = 3) -> str:
    """Exit 0 when a TCP connection is accepted (a real service that does not speak first,
    e.g. the log servers' TLS syslog)."""
    return _python(_TCP_OPEN.format(address=address, port=port, timeout=timeout))


def ssh_banner(address: str, port: int = 22, timeout: float = 3) -> str:
    """Exit 0 and print sshd's banner (SSH-2.0-...) when the connection is accepted."""
    return tcp_connect(address, port, timeout)


def udp_send(address: str, port: int, token: str) -> str:
    return _python(_UDP_CLIENT.format(address=address, port=port, token=token))


def udp_received(port: int) -> str:
    """Print what the UDP listener on ``port`` has received so far."""
    return f"cat /run/probe-udp-{port}.log 2>/dev/null || true"


def ping(address: str) -> str:
    return f"ping -n -c 1 -W 2 {address}"


def in_container(
    container: str, command: str, podman: str = "podman", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a shell command inside a container (podman exec), capturing its output."""
    return subprocess.run(
        [podman, "exec", container, "sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def logged_lines(read: Callable[[], str], *needles: str, seconds: float = 6) -> list[str]:
    """Lines of ``read()`` holding every needle (all lines when none is given), polled until
    some come or ``seconds`` pass: the kernel hands NFLOG packets to ulogd2 in batches, a log
    server files a message a moment after it was logged."""
    deadline = time.monotonic() + seconds
    while True:
        found = [line for line in read().splitlines() if all(n in line for n in needles)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def ssh_argv(key: Path, destination: str, command: str, *options: str) -> list[str]:
    """ssh from this controller to ``user@address`` with a test key: no prompt, no
    known_hosts, 5 s to connect; ``options`` go before the destination."""
    return [
        "ssh",
        "-i",
        str(key),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=5",
        *options,
        destination,
        command,
    ]


def checked(container: str, command: str, podman: str = "podman", timeout: float = 60) -> str:
    """A shell command inside a container that must succeed: its standard output (the
    assertion message names the container, the command and both outputs)."""
    result = in_container(container, command, podman=podman, timeout=timeout)
    assert result.returncode == 0, f"{container}: {command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def until(check: Callable[[], Any], seconds: float, what: str, every: float = 2) -> Any:
    """Call ``check`` until it returns something true (returned) or ``seconds`` pass (the
    test fails, saying ``what`` did not happen)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(every)
