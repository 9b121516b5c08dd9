"""The systemd units in deploy/systemd: systemd's own checker accepts them, they run real
`syndbot` commands as a dedicated user, reload the daemon with SIGHUP, and are hardened."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops import deployfiles as df

UNITS = ("syndbot.service", "syndbot-web.service")
INSTALLED = "/opt/syndbot/bin/syndbot"


def syndbot_here() -> str:
    """The `syndbot` script of the environment running the tests (it stands in for
    /opt/syndbot/bin/syndbot, which systemd-analyze checks is executable)."""
    beside = Path(sys.executable).parent / "syndbot"
    found = str(beside) if beside.is_file() else shutil.which("syndbot")
    assert found, "the syndbot console script is not installed (pip install -e .)"
    return found


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: apt-get install systemd"
    return found


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_accepts_the_unit(name: str, tmp_path: Path) -> None:
    text = (df.SYSTEMD / name).read_text()
    assert INSTALLED in text
    copy = tmp_path / name
    copy.write_text(text.replace(INSTALLED, syndbot_here()))
    result = verify(copy)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_analyze_verify_here_reports_a_mistake(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key or a bad value is reported."""
    text = (df.SYSTEMD / "syndbot.service").read_text().replace(INSTALLED, syndbot_here())
    bad = tmp_path / "syndbot.service"
    bad.write_text(text.replace("ProtectSystem=strict", "ProtectSytem=strict"))
    assert "Unknown key 'ProtectSytem'" in verify(bad).stderr
    bad.write_text(text.replace("Restart=on-failure", "Restart=sometimes"))
    assert "Failed to parse service restart specifier" in verify(bad).stderr


@pytest.mark.parametrize(("name", "command"), [(UNITS[0], "run"), (UNITS[1], "web")])
def test_unit_runs_a_real_syndbot_command_as_its_own_user(name: str, command: str) -> None:
    service = df.unit(name)["Service"]
    exec_start = service["ExecStart"][0].split()
    assert exec_start[0] == INSTALLED
    assert df.parse_syndbot(exec_start[1:]).command.name == command
    assert service["User"] == service["Group"] == ["syndbot"]
    assert service["Environment"] == ["SYNDBOT_CONFIG=/etc/syndbot/syndbot.yaml"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]  # a config error: fix it first
    assert df.unit(name)["Install"]["WantedBy"] == ["multi-user.target"]


def test_daemon_unit_reloads_with_sighup() -> None:
    service = df.unit("syndbot.service")["Service"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    # The web UI does not reload: SIGHUP would end it, so its unit offers no reload.
    assert "ExecReload" not in df.unit("syndbot-web.service")["Service"]


@pytest.mark.parametrize("name", UNITS)
def test_unit_keeps_state_in_var_lib_and_is_hardened(name: str) -> None:
    service = df.unit(name)["Service"]
    assert service["StateDirectory"] == ["syndbot"]
    assert service["ReadWritePaths"] == ["/var/lib/syndbot"]
    assert service["WorkingDirectory"] == ["/var/lib/syndbot"]
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }
    for key, value in hardening.items():
        assert service.get(key) == [value], key
    assert service["SystemCallFilter"] == ["@system-service", "~@privileged"]


def test_systemd_analyze_security_rates_the_daemon_ok(tmp_path: Path) -> None:
    """systemd's exposure score (0 safest, 10 unprotected): "OK" is below 2."""
    copy = tmp_path / "syndbot.service"
    copy.write_text((df.SYSTEMD / "syndbot.service").read_text().replace(INSTALLED, syndbot_here()))
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    last = result.stdout.strip().splitlines()[-1]
    assert "Overall exposure level" in last
    score = float(last.split(":")[1].split()[0])
    assert score < 2.0, last
