"""The ready-made CI files call the real command: every netconform command line in them parses
with the command's own parser, and the artifacts they keep are the files those options write."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from netconform.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github" / "workflows" / "netconform.yml"
GITLAB = ROOT / "ci" / "gitlab-ci.yml"


def _github_scripts(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    steps = doc["jobs"]["conformance"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact"))
    artifacts = upload["with"]["path"]
    return scripts, artifacts.split()


def _gitlab_scripts(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    job = doc["netconform"]
    return list(job["script"]), list(job["artifacts"]["paths"])


def _netconform_lines(scripts: list[str]) -> list[list[str]]:
    """Each command line whose program is the netconform command, as words after the program."""
    found = []
    for script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for index, word in enumerate(words):
                in_command_position = index == 0 or words[index - 1] in {"sudo", "&&", ";", "|", "||"}
                if in_command_position and Path(word).name == "netconform":
                    found.append(words[index + 1 :])
    return found


CASES = {"github": (GITHUB, _github_scripts), "gitlab": (GITLAB, _gitlab_scripts)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ci_file_runs_the_real_command_and_keeps_what_it_writes(name: str) -> None:
    path, read = CASES[name]
    scripts, artifacts = read(yaml.safe_load(path.read_text()))
    lines = _netconform_lines(scripts)
    assert [words[0] for words in lines] == ["run"], f"{path}: expected one 'netconform run', found {lines}"
    args = build_parser().parse_args(lines[0])  # a wrong option would exit 2 here
    assert args.command == "run" and args.junitxml
    expected = {f"{args.report_dir}/report.html", f"{args.report_dir}/report.json", args.junitxml}
    assert set(artifacts) == expected
    installs = "\n".join(scripts)
    assert re.search(r'/pip"? install', installs) and "busybox-static" in installs


def test_a_wrong_option_in_a_ci_file_would_be_caught() -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", "--reports-dir", "reports"])
    assert exit_info.value.code == 2
