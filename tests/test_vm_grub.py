"""The kernel command line a VM boots with: the image's GRUB settings and role hardening's
drop-in, composed as grub-mkconfig composes them (/etc/default/grub, then every
/etc/default/grub.d/*.cfg in the order of their names, each sourced by the shell)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "hardening"
DEBIAN_DEFAULT = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'


def _role_dropin() -> tuple[str, str]:
    """(file name, text) of the role's GRUB drop-in, from its task and template."""
    tasks = yaml.safe_load((ROLE / "tasks" / "kernel_cmdline.yml").read_text())
    (task,) = [
        t for t in tasks if t.get("ansible.builtin.template", {}).get("src") == "grub.cfg.j2"
    ]
    dest = Path(task["ansible.builtin.template"]["dest"])
    assert dest.parent == Path("/etc/default/grub.d")
    assert dest.suffix == ".cfg"
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    text = jinja2.Template((ROLE / "templates" / "grub.cfg.j2").read_text()).render(
        ansible_managed="Managed by Ansible", **defaults
    )
    return dest.name, text


def _cmdline(tmp_path: Path, dropins: dict[str, str]) -> list[str]:
    etc = tmp_path / "default"
    (etc / "grub.d").mkdir(parents=True)
    (etc / "grub").write_text(DEBIAN_DEFAULT)
    for name, text in dropins.items():
        (etc / "grub.d" / name).write_text(text)
    script = (
        '. "$1/grub"; for x in "$1"/grub.d/*.cfg; do [ -e "$x" ] && . "$x"; done; '
        'printf %s "$GRUB_CMDLINE_LINUX"'
    )
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(etc)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    return result.stdout.split()


def _hardening_options() -> list[str]:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["hardening_kernel_cmdline"]


def test_the_vms_kernel_gets_the_hardening_options_and_the_serial_console(tmp_path: Path) -> None:
    role_name, role_text = _role_dropin()
    image = (ROOT / "lab" / "images" / "vm-grub.cfg").read_text()
    recipe = (ROOT / "lab" / "images" / "vm-image.sh").read_text()
    assert '"$here/vm-grub.cfg" "$root/etc/default/grub.d/90-cite-souveraine.cfg"' in recipe
    words = _cmdline(tmp_path, {"90-cite-souveraine.cfg": image, role_name: role_text})
    assert "console=ttyS0,115200n8" in words
    assert [o for o in _hardening_options() if o not in words] == []
    assert "slab_nomerge=yes" in words  # the form OpenSCAP's check reads


@pytest.mark.parametrize("other", ["50-cloudimg-settings.cfg", "90-vendor.cfg", "99-local.cfg"])
def test_a_drop_in_that_sets_the_command_line_outright_does_not_drop_the_options(
    tmp_path: Path, other: str
) -> None:
    """Another package's or image's drop-in may set GRUB_CMDLINE_LINUX without adding to it:
    the role's drop-in is read after it (the 50- name lost to the image's 90- one)."""
    role_name, role_text = _role_dropin()
    assert re.fullmatch(r"zz-[a-z-]+\.cfg", role_name), role_name
    words = _cmdline(tmp_path, {other: 'GRUB_CMDLINE_LINUX="console=tty0"\n', role_name: role_text})
    assert words[0] == "console=tty0"
    assert [o for o in _hardening_options() if o not in words] == []
