"""Reading the deployment files the way their tools do: the Dockerfile's stages and
instructions, systemd unit files, the compose file and the container config.

Only what the tests need, but by the tools' own rules: Dockerfile comment lines are dropped
before line continuations are joined (as Docker does), and a unit file keeps every value of a
key that appears twice (systemd appends them, e.g. ``SystemCallFilter=``).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import click
import yaml

from bot.cli import cli
from tests.support import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_CONFIG = ROOT / "deploy" / "docker" / "syndbot.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "docker" / "env.example"
SYSTEMD = ROOT / "deploy" / "systemd"


# --- Dockerfile ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuations joined

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form CMD/ENTRYPOINT (or a HEALTHCHECK's after ``CMD``)."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text[text.index(" CMD ") + len(" CMD ") :]
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return [str(v) for v in value]

    def options(self) -> dict[str, str]:
        """``--name=value`` flags before the instruction's arguments (HEALTHCHECK, COPY)."""
        flags: dict[str, str] = {}
        for word in self.args.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            flags[name] = value
        return flags


@dataclass
class Stage:
    base: str  # the image after FROM
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """Every ENV of the stage, in order (``KEY=value`` pairs, shell-quoted)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.args):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV without '=' (legacy form): {instruction.args}"
                values[key] = value
        return values


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile: comment lines dropped, continuations joined."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        out.append(Instruction(keyword.upper(), " ".join(args.split())))
    assert not pending.strip(), "the Dockerfile ends inside a line continuation"
    return out


def stages(text: str | None = None) -> list[Stage]:
    """The Dockerfile's build stages, first to last (the last one is the image)."""
    result: list[Stage] = []
    for instruction in instructions(DOCKERFILE.read_text() if text is None else text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base=words[0], name=name))
        else:
            assert result, f"{instruction.keyword} before the first FROM"
            result[-1].instructions.append(instruction)
    return result


def image_command() -> list[str]:
    """What the image runs by default: ENTRYPOINT then CMD, both in exec form."""
    final = stages()[-1]
    return final.last("ENTRYPOINT").exec_form() + final.last("CMD").exec_form()


# --- systemd units ---------------------------------------------------------------------------


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values]}}; keys may repeat, comments are dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{name}: {line!r} before any [Section]"
        key, sep, value = line.partition("=")
        assert sep, f"{name}: not a Key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


# --- compose and the container config --------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def docker_config_data() -> dict[str, Any]:
    data = yaml.safe_load(DOCKER_CONFIG.read_text())
    assert isinstance(data, dict)
    return data


def config_variables(data: Any) -> set[str]:
    """The ${VAR} names a parsed config's values read without a default (``${VAR:-x}``)."""
    if isinstance(data, dict):
        return set().union(*(config_variables(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(config_variables(v) for v in data))
    if isinstance(data, str):
        return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", data))
    return set()


def env_file_names(text: str) -> set[str]:
    """Variable names in a KEY=value file, commented-out examples included."""
    return {m.group(1) for m in re.finditer(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)}


# --- the command line ------------------------------------------------------------------------


def parse_syndbot(args: list[str]) -> click.Context:
    """Parse ``syndbot ARGS`` as the real command line would, without running the command:
    an unknown command or option, or a bad value, raises click's usage error."""
    command: click.Command = cli
    name = "syndbot"
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"syndbot {' '.join(args)}: no command after {name!r}"
        sub = command.get_command(click.Context(command), rest[0])
        if sub is None:
            raise click.UsageError(f"no such command {rest[0]!r} in {name}")
        command, name, rest = sub, rest[0], rest[1:]
    return command.make_context(name, rest)
