"""docker/entrypoint.sh, branch by branch, in a fake root (DESIGN §8).

The script is run by bash as it is, except that its two absolute paths,
``/opt/nvidia/nvidia_entrypoint.sh`` and ``/code``, are moved under a temporary
folder; the user tools it calls (``id``, ``getent``, ``groupadd``, ``useradd``,
``mkdir``, ``chown``, ``gosu``) are stand-ins that log their arguments and act on
a fake ``/etc``. User and group ids are distinct and non-zero, so a swap of the
two is seen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parent.parent
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
NVIDIA = "/opt/nvidia/nvidia_entrypoint.sh"
UID, GID = "1234", "4321"

# What the final command saw.
SHOW = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'as': os.environ.get('FAKE_AS'), 'tz': os.environ.get('TZ'), 'nvidia': os.environ.get('NVIDIA_CHAINED'), 'home': os.environ.get('HOME')}))"

# One stand-in for every user tool, dispatched on the name it is called by.
TOOLS = r'''#!{python}
import json, os, sys
from pathlib import Path

tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
etc = Path(os.environ["FAKE_ETC"])
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
if tool == "id":
    print(os.environ.get("FAKE_EUID", "0"))
elif tool == "getent":
    db, key = args
    for line in (etc / db).read_text().splitlines():
        row = line.split(":")
        if key in (row[0], row[2]):
            print(line)
            sys.exit(0)
    sys.exit(2)
elif tool == "groupadd":
    with open(etc / "group", "a") as f:
        f.write(f"{{args[-1]}}:x:{{args[args.index('--gid') + 1]}}:\n")
elif tool == "useradd":
    with open(etc / "passwd", "a") as f:
        f.write(f"{{args[-1]}}:x:{{args[args.index('--uid') + 1]}}:{{args[args.index('--gid') + 1]}}::{{args[args.index('--home-dir') + 1]}}:/bin/bash\n")
elif tool == "gosu":
    os.environ["FAKE_AS"] = args[0]
    os.execvp(args[1], args[1:])
'''

# NVIDIA's entrypoint does its checks and then runs the command it was given.
FAKE_NVIDIA = '#!/bin/sh\nexport NVIDIA_CHAINED=yes\nexec "$@"\n'


class FakeRoot:
    def __init__(self, tmp: Path):
        self.root = tmp / "root"
        self.etc = self.root / "etc"
        self.etc.mkdir(parents=True)
        (self.etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
        (self.etc / "group").write_text("root:x:0:\n")
        self.log = tmp / "tools.log"
        self.bin = tmp / "bin"
        self.bin.mkdir()
        tools = self.bin / "fake-tool"
        tools.write_text(TOOLS.format(python=sys.executable))
        tools.chmod(0o755)
        for name in ("id", "getent", "groupadd", "useradd", "mkdir", "chown", "gosu"):
            (self.bin / name).symlink_to(tools)
        self.script = tmp / "entrypoint.sh"
        self.script.write_text(self.rooted(ENTRYPOINT.read_text()))

    def rooted(self, text: str) -> str:
        """The script with its absolute paths under the fake root; each must be found, or the test means nothing."""
        text, n_nvidia = re.subn(re.escape(NVIDIA), str(self.root) + NVIDIA, text)
        text, n_code = re.subn(r"(?<![\w/.$-])/code\b", str(self.root) + "/code", text)
        assert n_nvidia >= 1 and n_code >= 1, "entrypoint.sh no longer names /opt/nvidia/nvidia_entrypoint.sh and /code"
        return text

    def add_nvidia(self, executable: bool = True) -> None:
        path = self.root / NVIDIA.lstrip("/")
        path.parent.mkdir(parents=True)
        path.write_text(FAKE_NVIDIA)
        path.chmod(0o755 if executable else 0o644)

    def run(self, *command: str, **env: str) -> dict:
        full = {k: v for k, v in os.environ.items() if k not in ("USER_ID", "GROUP_ID", "TZ", "NVIDIA_CHAINED", "FAKE_AS")}
        full.update(PATH=f"{self.bin}{os.pathsep}{full.get('PATH', '/usr/bin:/bin')}", FAKE_ETC=str(self.etc), FAKE_LOG=str(self.log), **env)
        out = subprocess.run(["bash", str(self.script), *(command or (sys.executable, "-c", SHOW))], env=full, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def calls(self, tool: str) -> List[List[str]]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [c[1:] for c in map(json.loads, lines) if c[0] == tool]


@pytest.fixture
def fake(tmp_path) -> FakeRoot:
    return FakeRoot(tmp_path)


def test_runs_as_the_given_user_and_group_not_swapped(fake):
    seen = fake.run(USER_ID=UID, GROUP_ID=GID)
    assert seen["as"] == f"{UID}:{GID}"
    assert fake.calls("groupadd") == [["--gid", GID, "otter"]]
    [useradd] = fake.calls("useradd")
    assert useradd[useradd.index("--uid") + 1] == UID and useradd[useradd.index("--gid") + 1] == GID


def test_fixes_the_ownership_of_code(fake):
    (fake.root / "code").mkdir()
    fake.run(USER_ID=UID, GROUP_ID=GID)
    assert [f"{UID}:{GID}", str(fake.root / "code")] in fake.calls("chown")


def test_without_code_folder_nothing_is_chowned_there(fake):
    fake.run(USER_ID=UID, GROUP_ID=GID)
    assert not any(str(fake.root / "code") in call for call in fake.calls("chown"))


def test_without_ids_nothing_changes_owner_or_user(fake):
    (fake.root / "code").mkdir()
    seen = fake.run()
    assert seen["as"] is None
    assert fake.calls("chown") == [] and fake.calls("gosu") == []


@pytest.mark.parametrize("ids", [{}, {"USER_ID": UID, "GROUP_ID": GID}], ids=["as-is", "as-user"])
def test_chains_nvidias_entrypoint_when_the_image_has_one(fake, ids):
    fake.add_nvidia()
    seen = fake.run(sys.executable, "-c", SHOW, "a b", "--x=1", **ids)
    assert seen["nvidia"] == "yes" and seen["argv"] == ["a b", "--x=1"]
    if ids:
        # NVIDIA's checks run as the user too, after the switch.
        assert fake.calls("gosu")[0][:3] == [f"{UID}:{GID}", "env", f"HOME={seen['home']}"]
        assert fake.calls("gosu")[0][3] == str(fake.root) + NVIDIA


def test_does_not_chain_without_nvidias_entrypoint(fake):
    seen = fake.run(sys.executable, "-c", SHOW, "x")
    assert seen["nvidia"] is None and seen["argv"] == ["x"]


def test_no_command_starts_a_shell_through_nvidias_entrypoint(fake):
    fake.add_nvidia()
    out = subprocess.run(
        ["bash", str(fake.script)],
        input='echo "chained=$NVIDIA_CHAINED shell=$0"\n',
        env={**os.environ, "PATH": f"{fake.bin}{os.pathsep}{os.environ['PATH']}", "FAKE_ETC": str(fake.etc), "FAKE_LOG": str(fake.log)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "chained=yes shell=bash"


@pytest.mark.parametrize("ids", [{}, {"USER_ID": UID, "GROUP_ID": GID}], ids=["as-is", "as-user"])
def test_tz_reaches_the_command(fake, ids):
    fake.add_nvidia()
    assert fake.run(TZ="Asia/Taipei", **ids)["tz"] == "Asia/Taipei"
