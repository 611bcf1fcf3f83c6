"""The second wall (sitemodel/render.py): values checked or quoted where a configuration
file is written, with hostile values that did not come through the site model."""

from __future__ import annotations

import shlex

import pytest

from sitemodel.render import borg_forced_command, log_path, nft_string, unix_groups

PROGRAM = "/usr/local/libexec/cite-borg-serve"


@pytest.mark.parametrize("value", ["ville: https", "cs-deny tenant=aphp", "site: metrics-9100"])
def test_plain_nft_strings_pass(value: str) -> None:
    assert nft_string(value) == value


@pytest.mark.parametrize(
    "value", ['x" accept', "a\\b", "line\nbreak", 'x"; flush ruleset; "', "", "é" * 3, "x" * 200]
)
def test_nft_strings_that_would_change_the_rules_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cannot be written into nftables rules"):
        nft_string(value)


def test_allow_groups_are_unix_group_names_only() -> None:
    assert unix_groups(["sysadmins", "adm_ville", "sysadmins"]) == ["sysadmins", "adm_ville"]
    for hostile in ["adm_ville root", "x\nAllowUsers root", "Root", "-x", "a" * 40]:
        with pytest.raises(ValueError, match="is not a Unix group name"):
            unix_groups(["sysadmins", hostile])


def test_log_paths_are_two_plain_components() -> None:
    assert log_path("ville", "ville-web01") == "ville/ville-web01"
    assert log_path("", "ville-web01") == "_unknown/ville-web01"
    for network, host in [("ville", "../../etc"), ("../x", "h"), ("ville", "a/b"), ("ville", "A")]:
        with pytest.raises(ValueError, match="log path"):
            log_path(network, host)


def test_the_backup_forced_command_quotes_its_arguments() -> None:
    command = borg_forced_command(PROGRAM, "/srv/borg/ville/ville-web01", "20G")
    assert shlex.split(command) == [PROGRAM, "/srv/borg/ville/ville-web01", "20G"]


@pytest.mark.parametrize(
    ("repository", "quota"),
    [
        ("/srv/borg/ville/x;reboot", "20G"),
        ("/srv/borg/ville/$(touch /tmp/x)", "20G"),
        ("/srv/borg/ville/../aphp/aphp-dpi01", "20G"),
        ('/srv/borg/ville/a" b', "20G"),
        ("relative/path", "20G"),
        ("/srv/borg/ville/web01", "20G; reboot"),
        ("/srv/borg/ville/web01", "-1G"),
    ],
)
def test_a_hostile_repository_or_quota_never_reaches_the_forced_command(
    repository: str, quota: str
) -> None:
    with pytest.raises(ValueError, match="backup forced command"):
        borg_forced_command(PROGRAM, repository, quota)
