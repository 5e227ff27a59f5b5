"""The Docker image and its scripts, tested without a Docker engine.

Lint: hadolint on docker/Dockerfile, shellcheck on every shell script of the repository.
Behaviour: the scripts run under a stand-in `docker` put first on PATH. It records its arguments
and, where a test asks, runs the command locally the way the engine would: each `-v host:ctr`
becomes a symlink under a fresh folder standing for the container's `/`, `-w` becomes the working
folder, `-e` the environment. A tiny fake project prints the argv that reaches `python -m
MyProj.model`, so quoting is checked end to end. The entrypoint runs under stand-ins for `id`,
`getent`, `groupadd`, `useradd`, `gosu`, `chown` and `mkdir`.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
TEMPLATE_DOCKER = REPO / "template" / "{{cookiecutter.project_name}}" / "docker"
TEMPLATE_SCRIPTS = ("train.bash", "to_onnx.bash", "_docker_common.bash")
UID, GID = os.getuid(), os.getgid()
ENV_NAMES = ("OTTER_IMAGE", "OTTER_GPUS", "OTTER_SHM_SIZE", "OTTER_CPUSET", "OTTER_DATA_DIR", "OTTER_DRY_RUN", "BASE_IMAGE",
             "OTTER_DOCKER", "OTTER_PIP_CONF", "OTTER_CA_BUNDLE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")

# The stand-in engine. Options it does not know make it fail like docker does (exit 125), so a
# typo in a script cannot pass unnoticed.
FAKE_DOCKER = r'''#!{python}
import json, os, signal, subprocess, sys, tempfile, time
from pathlib import Path

args = sys.argv[1:]
# docker and podman keep separate logs, so a test sees which engine ran.
suffix = ".podman" if os.path.basename(sys.argv[0]) == "podman" else ""
with open(os.environ["FAKE_DOCKER_LOG"] + suffix, "a") as log:
    log.write(json.dumps(args) + "\n")
# Named containers: NAME.rc holds the exit status once the container has ended, NAME.pid its process.
state = Path(os.environ["FAKE_DOCKER_ROOT"])
def container(name, ext):
    path = state / (name + ext)
    if not (state / (name + ".rc")).exists():
        print(f"Error: no container with name or ID {{name!r}} found", file=sys.stderr)
        sys.exit(125)
    return path
if args[:1] == ["wait"]:  # blocks until the container ends, prints its exit status
    while not container(args[1], ".rc").read_text():
        time.sleep(0.05)
    print(container(args[1], ".rc").read_text())
    sys.exit(0)
if args[:2] == ["kill", "--signal"]:
    while not container(args[3], ".pid").exists():  # created, its process not started yet
        time.sleep(0.01)
    os.kill(int(container(args[3], ".pid").read_text()), getattr(signal, "SIG" + args[2]))
    sys.exit(0)
if args[:2] == ["rm", "--force"]:
    for ext in (".rc", ".pid"):
        (state / (args[2] + ext)).unlink(missing_ok=True)
    sys.exit(0)
if args[:2] == ["image", "inspect"] and os.environ.get("FAKE_NO_IMAGE"):
    sys.exit(125)
if args[:1] == ["run"] and os.environ.get("FAKE_NO_IMAGE"):
    print("Error: the image is not known", file=sys.stderr)
    sys.exit(125)
name = args[args.index("--name") + 1] if args[:1] == ["run"] and "--name" in args else None
if args[:1] != ["run"] or not os.environ.get("FAKE_DOCKER_EXEC"):
    if name:
        (state / (name + ".rc")).write_text("0")
    sys.exit(0)

VALUED = {{"-v", "--volume", "-w", "--workdir", "-e", "--env", "--gpus", "--device", "--shm-size", "--cpuset-cpus",
          "--name"}}
FLAGS = {{"--rm", "--init", "-i", "-t", "-it", "--sig-proxy=false"}}
mounts, env, workdir = [], {{}}, "/"
i = 1
while i < len(args) and args[i].startswith("-"):
    opt = args[i]
    if opt in FLAGS:
        i += 1
        continue
    elif opt.startswith("--") and "=" in opt:
        opt, value = opt.split("=", 1)
        i += 1
    elif opt in VALUED:
        value = args[i + 1]
        i += 2
    elif opt in FLAGS:
        i += 1
        continue
    else:
        print(f"docker: unknown flag: {{opt}}", file=sys.stderr)
        sys.exit(125)
    if opt in ("-v", "--volume"):
        host, ctr = value.split(":")[:2]
        if not (os.path.isabs(host) and os.path.exists(host)):
            print(f"docker: bind source is not an existing absolute path: {{host!r}}", file=sys.stderr)
            sys.exit(125)
        mounts.append((host, ctr))
    elif opt in ("-w", "--workdir"):
        workdir = value
    elif opt in ("-e", "--env"):
        key, sep, val = value.partition("=")
        env[key] = val if sep else os.environ.get(key, "")
image, command = args[i], args[i + 1:]
root = Path(tempfile.mkdtemp(dir=os.environ["FAKE_DOCKER_ROOT"]))  # the container's /
for host, ctr in mounts:
    link = root / ctr.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(host)
cwd = root / workdir.lstrip("/")
cwd.mkdir(parents=True, exist_ok=True)
env = {{**os.environ, **env, "FAKE_CONTAINER_ROOT": str(root), "FAKE_IMAGE": image}}
if name:
    (state / (name + ".rc")).write_text("")
proc = None
if "--sig-proxy=false" not in args:  # the engine passes the signals it gets on to the container
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: proc and proc.send_signal(signum))
proc = subprocess.Popen(command or ["bash"], cwd=cwd, env=env)
if name:
    (state / (name + ".tmp")).write_text(str(proc.pid))
    os.replace(state / (name + ".tmp"), state / (name + ".pid"))
rc = proc.wait()
rc = 128 - rc if rc < 0 else rc  # killed by a signal: 128 + its number, as an engine reports it
if name:
    (state / (name + ".rc")).write_text(str(rc))
sys.exit(rc)
'''

# `python -m MyProj.model ...` inside the "container": prints what reached it. With FAKE_MAIN_WAIT
# it then waits like a training, ending 143 on SIGTERM and 130 on Ctrl-C; FAKE_MAIN_EXIT: its status.
FAKE_MAIN = """import json, os, signal, sys, time
def stop(signum, frame):
    print("stopped by", signal.Signals(signum).name, flush=True)
    sys.exit(143)
if os.environ.get("FAKE_MAIN_WAIT"):
    signal.signal(signal.SIGTERM, stop)
print(json.dumps({
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "root": os.environ["FAKE_CONTAINER_ROOT"],
    "image": os.environ["FAKE_IMAGE"],
    "env": {k: os.environ.get(k) for k in ("USER_ID", "GROUP_ID", "OTTER_DEBUG")},
}), flush=True)
if os.environ.get("FAKE_MAIN_WAIT"):
    try:
        time.sleep(30)
    except KeyboardInterrupt:
        print("stopped by SIGINT", flush=True)
        sys.exit(130)
sys.exit(int(os.environ.get("FAKE_MAIN_EXIT", "0")))
"""

# Stand-ins for the entrypoint's user-management commands; one script, dispatched on its name.
FAKE_SYSTEM = r'''#!{python}
import json, os, sys
from pathlib import Path

tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
etc = Path(os.environ["FAKE_ETC"])
with open(os.environ["FAKE_SYSTEM_LOG"], "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")

def rows(db):
    return [line.split(":") for line in (etc / db).read_text().splitlines() if line]

def options(argv):
    opts, rest, i = {{}}, [], 0
    while i < len(argv):
        if argv[i] in ("--uid", "--gid", "--home-dir", "--shell"):
            opts[argv[i]] = argv[i + 1]
            i += 2
        elif argv[i].startswith("-"):
            opts[argv[i]] = True
            i += 1
        else:
            rest.append(argv[i])
            i += 1
    return opts, rest

if tool == "id":
    if args == ["-u"]:
        print(os.environ.get("FAKE_EUID", "0"))
        sys.exit(0)
    os.execv({real_id!r}, ["id", *args])
elif tool == "getent":
    db, key = args
    for row in rows(db):
        if key in (row[0], row[2]):
            print(":".join(row))
            sys.exit(0)
    sys.exit(2)
elif tool == "groupadd":
    opts, (name,) = options(args)
    if any(r[2] == opts["--gid"] for r in rows("group")):
        sys.exit(4)  # like groupadd: GID not unique
    if any(r[0] == name for r in rows("group")):
        sys.exit(9)  # like groupadd: name in use
    with open(etc / "group", "a") as f:
        f.write(f"{{name}}:x:{{opts['--gid']}}:\n")
elif tool == "useradd":
    opts, (name,) = options(args)
    if any(r[2] == opts["--uid"] for r in rows("passwd")):
        sys.exit(4)  # like useradd: UID not unique
    if any(r[0] == name for r in rows("passwd")):
        sys.exit(9)  # like useradd: name in use
    with open(etc / "passwd", "a") as f:
        f.write(f"{{name}}:x:{{opts['--uid']}}:{{opts['--gid']}}::{{opts['--home-dir']}}:/bin/bash\n")
elif tool == "gosu":
    os.environ["FAKE_GOSU_AS"] = args[0]
    os.execvp(args[1], args[1:])
# chown, mkdir: recorded only; the test machine's folders stay as they are.
'''

PRINT_ARGS = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'home': os.environ.get('HOME'), 'as': os.environ.get('FAKE_GOSU_AS')}))"
AWKWARD_ARGS = ["a.b=1 2", "x='y' \"z\"", "$(touch pwned)", "`touch pwned2`", "", "tab\there", "line\nbreak", "*", "--debug", "c=-1"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


class Sandbox:
    """A tmp folder with stand-in tools first on PATH and a fake project `MyProj` to run."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "docker.log"
        (tmp / "container").mkdir()
        real_nproc = shutil.which("nproc") or "/usr/bin/nproc"
        _write(self.bin / "docker", FAKE_DOCKER.format(python=sys.executable))
        # The same stand-in answers as podman; `id -u` can pretend to be a user (rootless podman).
        _write(self.bin / "podman", FAKE_DOCKER.format(python=sys.executable))
        real_id = shutil.which("id") or "/usr/bin/id"
        _write(self.bin / "id", f'#!/bin/sh\n[ -n "$FAKE_UID" ] && [ "$1" = -u ] && exec echo "$FAKE_UID"\nexec "{real_id}" "$@"\n')
        _write(self.bin / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        # Fails unless told otherwise, so a GPU on the test machine cannot change the results.
        _write(self.bin / "nvidia-smi", '#!/bin/sh\nexit "${FAKE_NVIDIA_SMI_RC:-1}"\n')
        _write(self.bin / "nproc", f'#!/bin/sh\n[ -n "$FAKE_NPROC" ] && exec echo "$FAKE_NPROC"\nexec "{real_nproc}" "$@"\n')
        # The folder a user works in, with a space in its path on purpose.
        self.work = tmp / "my work"
        self.project = self.work / "MyProj"
        self.make_project(self.project)
        self.env: Dict[str, str] = {
            k: v for k, v in os.environ.items() if k not in ENV_NAMES and k not in ("OTTER_DEBUG", "TZ", "USER_ID", "GROUP_ID")
        }
        self.env.update(
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            FAKE_DOCKER_LOG=str(self.log),
            FAKE_DOCKER_ROOT=str(tmp / "container"),
            FAKE_NPROC="",
            FAKE_UID="",
        )

    def make_project(self, project: Path) -> None:
        (project / "model").mkdir(parents=True)
        (project / "docker").mkdir()
        (project / "__init__.py").write_text("")
        (project / "model" / "__init__.py").write_text("")
        (project / "model" / "__main__.py").write_text(FAKE_MAIN)
        for name in TEMPLATE_SCRIPTS:
            shutil.copy2(TEMPLATE_DOCKER / name, project / "docker" / name)

    def run(self, script: Path | str, *args: str, cwd: Optional[Path] = None, stdin=subprocess.DEVNULL,
            execute: bool = False, **env: str) -> subprocess.CompletedProcess:
        full_env = {**self.env, **env}
        if execute:
            full_env["FAKE_DOCKER_EXEC"] = "1"
        return subprocess.run(["bash", str(script), *args], cwd=cwd or self.work, env=full_env, stdin=stdin,
                              capture_output=True, text=True, timeout=60)

    def calls(self, engine: str = "docker") -> List[List[str]]:
        log = self.log if engine == "docker" else self.log.with_name(self.log.name + "." + engine)
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def only_call(self, engine: str = "docker") -> List[str]:
        """The one engine command a script ran; for a Podman run, followed by its wait and removal."""
        calls = self.calls(engine)
        other = self.calls("podman" if engine == "docker" else "docker")
        assert calls and not other, (calls, other)
        main, rest = calls[0], calls[1:]
        if engine == "podman" and main[0] == "run":
            [name] = option_values(main, "--name")
            assert "--rm" not in main and "--sig-proxy=false" in main
            assert rest == [["wait", name], ["rm", "--force", name]], rest
        else:
            assert rest == [], rest
        return main


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def option_values(argv: Sequence[str], option: str) -> List[str]:
    """Values of `option VALUE` in docker's argv, up to the image (the first non-option word)."""
    return [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == option]


def tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found: install the dev extras (pip install -e '.[dev]' brings {name}-py)")
    return path


def shell_scripts() -> List[Path]:
    skip = {".git", ".venv", "venv", "build", "dist", "site", "node_modules", "__pycache__", ".pytest_cache"}
    found = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder, name)
            if path.suffix in (".sh", ".bash"):
                found.append(path)
            elif not path.suffix and path.parent.name in ("bin", ".ci", "scripts"):
                with open(path, "rb") as f:
                    if re.match(rb"#!.*\b(ba)?sh\b", f.readline()):
                        found.append(path)
    return found


# ---------------------------------------------------------------- lint


def test_hadolint_reports_nothing_on_the_dockerfile():
    result = subprocess.run([tool("hadolint"), str(DOCKER / "Dockerfile")], capture_output=True, text=True, cwd=REPO)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_shellcheck_reports_nothing_on_any_script():
    scripts = shell_scripts()
    expected = {DOCKER / n for n in ("build.bash", "run.bash", "entrypoint.sh")} | {TEMPLATE_DOCKER / n for n in TEMPLATE_SCRIPTS}
    assert expected <= set(scripts)
    result = subprocess.run([tool("shellcheck"), "--external-sources", *map(str, scripts)],
                            capture_output=True, text=True, cwd=REPO)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", TEMPLATE_SCRIPTS)
def test_template_scripts_need_no_rendering(name):
    # cookiecutter copies them as they are; Jinja markers would break rendering if that ever changed.
    text = (TEMPLATE_DOCKER / name).read_text()
    assert not re.search(r"\{\{|\{%|\{#", text)
    assert os.access(TEMPLATE_DOCKER / name, os.X_OK) or name.startswith("_")


def test_dockerfile_and_build_script_agree_on_the_base_image(sb):
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", (DOCKER / "Dockerfile").read_text(), re.M).group(1)
    assert default == "nvcr.io/nvidia/pytorch:24.12-py3"
    assert sb.run(DOCKER / "build.bash").returncode == 0
    assert f"BASE_IMAGE={default}" in sb.only_call()


def test_dockerignore_keeps_runs_venvs_caches_and_git_out():
    lines = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", "**/runs", "**/.venv", "**/venv", "**/__pycache__", "build", "**/*.egg-info"} <= lines
    # What the wheel and the image are made from must stay in.
    needed = ("otter", "template", "docker", "pyproject.toml", "README.md", "docker/entrypoint.sh", "**/tests", "tests/")
    assert not lines & set(needed)


def test_docs_describe_every_setting():
    text = (REPO / "docs" / "docker.md").read_text()
    for name in (*ENV_NAMES, "USER_ID", "GROUP_ID", "TORCH_INDEX_URL", "python:3.11-slim", "16g", "otter_base_image",
                 "test-image.bash", "--format docker", "--userns", "nvidia.com/gpu", "CONTAINERS_CONF", "mmdebstrap",
                 "/etc/otter/torch.txt"):
        assert name in text, name


# ---------------------------------------------------------------- template scripts: the docker command


@pytest.mark.parametrize("command", ["train", "to_onnx"])
def test_project_script_runs_the_image_with_the_project_mounted(sb, command):
    result = sb.run(f"MyProj/docker/{command}.bash", "default", "optimizer.options.lr=0.01")
    assert result.returncode == 0, result.stderr
    argv = sb.only_call()
    image = argv.index("otter_base_image")
    options, inside = argv[:image], argv[image + 1:]
    assert options[0] == "run" and "--rm" in options and "--init" in options
    assert option_values(options, "-v") == [f"{sb.project}:/code/MyProj"]
    assert option_values(options, "-w") == ["/code"]
    assert option_values(options, "-e") == [f"USER_ID={UID}", f"GROUP_ID={GID}"]
    assert option_values(options, "--shm-size") == ["16g"]
    assert "--gpus" not in options  # the stand-in nvidia-smi fails
    assert "-it" not in options  # stdin is not a terminal
    assert inside == ["python", "-m", "MyProj.model", command, "default", "optimizer.options.lr=0.01"]


@pytest.mark.parametrize("command", ["train", "to_onnx"])
def test_arguments_reach_the_project_intact(sb, command):
    elsewhere = sb.tmp / "elsewhere"
    elsewhere.mkdir()
    script = sb.project / "docker" / f"{command}.bash"
    result = sb.run(script, "my_cfg-1.2", *AWKWARD_ARGS, cwd=elsewhere, execute=True)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["argv"] == [command, "my_cfg-1.2", *AWKWARD_ARGS]
    assert seen["cwd"] == str(Path(seen["root"]) / "code")
    assert seen["env"] == {"USER_ID": str(UID), "GROUP_ID": str(GID), "OTTER_DEBUG": None}
    assert not list(elsewhere.iterdir()) and not list(sb.work.glob("pwned*"))


def test_cfg_name_flag_form_is_accepted(sb):
    result = sb.run("MyProj/docker/train.bash", "--cfg_name", "default", "a=1", execute=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == ["train", "default", "a=1"]


@pytest.mark.parametrize("cfg", ["cfg; touch x", "$(touch x)", "../config/x", "a b", "", "x\ny", "-rf", "naïve", "*"])
@pytest.mark.parametrize("command", ["train", "to_onnx"])
def test_bad_cfg_name_is_refused_before_docker(sb, cfg, command):
    result = sb.run(f"MyProj/docker/{command}.bash", cfg, execute=True)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "cfg name" in result.stderr
    assert sb.calls() == [] and not (sb.work / "x").exists()


def test_usage(sb):
    missing = sb.run("MyProj/docker/train.bash")
    assert missing.returncode == 2 and "Usage: bash MyProj/docker/train.bash <cfg_name>" in missing.stderr
    helped = sb.run("MyProj/docker/to_onnx.bash", "--help")
    assert helped.returncode == 0 and "python -m MyProj.model to_onnx" in helped.stdout
    assert sb.calls() == []


def test_project_folder_must_be_importable(sb):
    bad = sb.work / "My-Proj"
    sb.make_project(bad)
    result = sb.run("My-Proj/docker/train.bash", "default")
    assert result.returncode == 2 and "not a Python identifier" in result.stderr and sb.calls() == []


@pytest.mark.parametrize(
    "smi_rc, gpus, expected",
    [
        ("1", None, []),
        ("0", None, ["all"]),
        ("0", "none", []),
        ("1", "device=0", ["device=0"]),
        ("0", '"device=0,1"', ['"device=0,1"']),
    ],
)
def test_gpus_only_where_present_or_asked(sb, smi_rc, gpus, expected):
    env = {"FAKE_NVIDIA_SMI_RC": smi_rc, **({"OTTER_GPUS": gpus} if gpus is not None else {})}
    assert sb.run("MyProj/docker/train.bash", "default", **env).returncode == 0
    assert option_values(sb.only_call(), "--gpus") == expected


@pytest.mark.parametrize("gpus", ["--privileged", "all;id", "a b", "-1"])
def test_docker_bad_gpus_are_refused(sb, gpus):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_GPUS=gpus)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "OTTER_GPUS" in result.stderr
    assert sb.calls() == []


def system_path_without(tmp: Path, *names: str) -> str:
    """The system's /usr/bin and /bin as one folder of links, leaving ``names`` out (this machine may have them)."""
    folder = tmp / "sysbin"
    folder.mkdir(exist_ok=True)
    for source in (Path("/bin"), Path("/usr/bin")):
        for tool in source.iterdir():
            link = folder / tool.name
            if tool.name not in names and not link.exists():
                link.symlink_to(tool)
    return str(folder)


def test_no_gpu_flag_without_nvidia_smi(sb, tmp_path):
    (sb.bin / "nvidia-smi").unlink()
    path = f"{sb.bin}{os.pathsep}{system_path_without(tmp_path, 'nvidia-smi')}"
    assert shutil.which("nvidia-smi", path=path) is None
    assert sb.run("MyProj/docker/train.bash", "default", PATH=path).returncode == 0
    assert "--gpus" not in sb.only_call()


def test_default_cpuset_is_every_core_of_this_machine(sb):
    ncpu = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    assert sb.run("MyProj/docker/train.bash", "default").returncode == 0
    assert option_values(sb.only_call(), "--cpuset-cpus") == [f"0-{ncpu - 1}"]


@pytest.mark.parametrize("cpuset, ok", [
    ("", True), ("0-3", True), ("1,3", True), ("0-1,3", True), ("2", True),
    ("4", False), ("0-4", False), ("0,9", False), ("3-1", False), ("a", False), ("0-", False), ("0-3;id", False),
])
def test_cpuset_within_the_machine(sb, cpuset, ok):
    result = sb.run("MyProj/docker/train.bash", "default", FAKE_NPROC="4", OTTER_CPUSET=cpuset)
    if ok:
        assert result.returncode == 0, result.stderr
        assert option_values(sb.only_call(), "--cpuset-cpus") == [cpuset or "0-3"]
    else:
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "OTTER_CPUSET" in result.stderr
        assert sb.calls() == []


def test_image_and_shared_memory_from_the_environment(sb):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_IMAGE="registry.example/otter:1", OTTER_SHM_SIZE="64g",
                    OTTER_DEBUG="1")
    assert result.returncode == 0, result.stderr
    argv = sb.only_call()
    assert argv[argv.index("-w") + 2] == "registry.example/otter:1"
    assert option_values(argv, "--shm-size") == ["64g"]
    assert "OTTER_DEBUG=1" in option_values(argv, "-e")
    bad = sb.run("MyProj/docker/train.bash", "default", OTTER_SHM_SIZE="lots")
    assert bad.returncode == 2 and "OTTER_SHM_SIZE" in bad.stderr and len(sb.calls()) == 1


def test_data_folder_is_mounted_at_the_same_path(sb):
    data = sb.tmp / "datasets"
    data.mkdir()
    (data / "sample.txt").write_text("hello")
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DATA_DIR=str(data), execute=True)
    assert result.returncode == 0, result.stderr
    assert f"{data}:{data}" in option_values(sb.calls()[0], "-v")
    root = Path(json.loads(result.stdout)["root"])
    assert (root / str(data).lstrip("/") / "sample.txt").read_text() == "hello"
    # A relative path is made absolute (docker would take a bare name for a named volume).
    relative = sb.run(sb.project / "docker" / "train.bash", "default", cwd=sb.tmp, OTTER_DATA_DIR="datasets")
    assert relative.returncode == 0 and f"{data}:{data}" in option_values(sb.calls()[1], "-v")


@pytest.mark.parametrize("data", ["/no/such/folder", "with:colon"])
def test_bad_data_folder_is_refused(sb, data):
    if ":" in data:
        (sb.work / data).mkdir()
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DATA_DIR=data)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and sb.calls() == []


def test_interactive_flags_only_on_a_terminal(sb):
    leader, follower = pty.openpty()
    try:
        result = sb.run("MyProj/docker/train.bash", "default", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert result.returncode == 0, result.stderr
    argv = sb.only_call()
    assert "-it" in argv[: argv.index("otter_base_image")]


@pytest.mark.parametrize("script", ["MyProj/docker/train.bash", str(DOCKER / "run.bash")])
def test_dry_run_prints_the_command_it_would_run(sb, script):
    args = ["default", *AWKWARD_ARGS] if "train" in script else ["python", *AWKWARD_ARGS]
    (sb.bin / "docker").unlink()  # not needed for a dry run
    result = sb.run(script, *args, OTTER_DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    # Read back by bash, the printed line is the same argv, word for word.
    words = subprocess.run(["bash", "-c", 'eval "words=($1)"; printf "%s\\0" "${words[@]}"', "_", line],
                           capture_output=True, text=True, check=True).stdout.split("\0")[:-1]
    assert words[:2] == ["docker", "run"] and words[-len(args):] == args
    assert option_values(words, "-e")[:2] == [f"USER_ID={UID}", f"GROUP_ID={GID}"]


def test_missing_docker_is_one_line(sb, tmp_path):
    (sb.bin / "docker").unlink()
    path = f"{sb.bin}{os.pathsep}{system_path_without(tmp_path, 'docker')}"
    assert shutil.which("docker", path=path) is None
    result = sb.run("MyProj/docker/train.bash", "default", PATH=path)
    assert result.returncode == 2 and result.stderr.startswith("train.bash: docker not found")


# ---------------------------------------------------------------- docker/run.bash and docker/build.bash


def test_run_opens_a_shell_with_the_current_folder_mounted(sb):
    result = sb.run(DOCKER / "run.bash", OTTER_GPUS="all")
    assert result.returncode == 0, result.stderr
    argv = sb.only_call()
    assert option_values(argv, "-v") == [f"{sb.work}:/code/my work"]
    assert option_values(argv, "-w") == ["/code/my work"]
    assert option_values(argv, "-e") == [f"USER_ID={UID}", f"GROUP_ID={GID}"]
    assert option_values(argv, "--gpus") == ["all"] and option_values(argv, "--shm-size") == ["16g"]
    assert "-i" in argv and argv[-2:] == ["otter_base_image", "bash"]


def test_run_passes_a_command_through(sb):
    code = "import json, os, sys; print(json.dumps([os.getcwd(), sys.argv[1:]]))"
    result = sb.run(DOCKER / "run.bash", "python", "-c", code, *AWKWARD_ARGS, execute=True)
    assert result.returncode == 0, result.stderr
    cwd, args = json.loads(result.stdout)
    # The working folder is the mount of the folder run.bash was started from.
    assert Path(cwd) == sb.work.resolve() and args == AWKWARD_ARGS


def test_run_refuses_bad_settings_too(sb):
    result = sb.run(DOCKER / "run.bash", FAKE_NPROC="2", OTTER_CPUSET="0-7")
    assert result.returncode == 2 and result.stderr.startswith("run.bash: OTTER_CPUSET=0-7") and sb.calls() == []


@pytest.mark.parametrize(
    "args, env, image, base, extra",
    [
        ((), {}, "otter_base_image", "nvcr.io/nvidia/pytorch:24.12-py3", []),
        (("otter_cpu", "python:3.11-slim"), {}, "otter_cpu", "python:3.11-slim", []),
        (("otter_cpu", "python:3.11-slim", "--no-cache", "--build-arg", "TZ=Asia/Taipei"), {},
         "otter_cpu", "python:3.11-slim", ["--no-cache", "--build-arg", "TZ=Asia/Taipei"]),
        (("--pull",), {"OTTER_IMAGE": "mine", "BASE_IMAGE": "python:3.12-slim"}, "mine", "python:3.12-slim", ["--pull"]),
        (("named",), {"OTTER_IMAGE": "ignored"}, "named", "nvcr.io/nvidia/pytorch:24.12-py3", []),
    ],
)
def test_build_takes_image_and_base_from_arguments_or_environment(sb, args, env, image, base, extra):
    result = sb.run(DOCKER / "build.bash", *args, cwd=sb.tmp, **env)
    assert result.returncode == 0, result.stderr
    assert sb.only_call() == ["build", "-f", str(DOCKER / "Dockerfile"), "--build-arg", f"BASE_IMAGE={base}",
                              "-t", image, *extra, str(REPO)]


# ---------------------------------------------------------------- docker/entrypoint.sh


class System:
    """A fake /etc/passwd and /etc/group, with stand-in user tools first on PATH."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "sysbin"
        self.bin.mkdir()
        self.etc = tmp / "etc"
        self.etc.mkdir()
        self.log = tmp / "system.log"
        self.ubuntu_home = tmp / "home" / "ubuntu"
        self.ubuntu_home.mkdir(parents=True)
        (self.etc / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            f"ubuntu:x:1000:1000::{self.ubuntu_home}:/bin/bash\n"
        )
        (self.etc / "group").write_text("root:x:0:\nusers:x:100:\nubuntu:x:1000:\nnogroup:x:65534:\n")
        script = _write(self.bin / "fake-system", FAKE_SYSTEM.format(python=sys.executable, real_id=shutil.which("id") or "/usr/bin/id"))
        for name in ("id", "getent", "groupadd", "useradd", "gosu", "chown", "mkdir"):
            (self.bin / name).symlink_to(script)

    def run(self, *command: str, **env: str) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if k not in ("USER_ID", "GROUP_ID")}
        full_env.update(PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                        FAKE_ETC=str(self.etc), FAKE_SYSTEM_LOG=str(self.log), **env)
        return subprocess.run(["bash", str(DOCKER / "entrypoint.sh"), *command], env=full_env,
                              capture_output=True, text=True, timeout=60)

    def calls(self, *tools: str) -> List[List[str]]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in calls if c[0] in tools]


@pytest.fixture
def system(tmp_path: Path) -> System:
    return System(tmp_path)


def printed(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_entrypoint_without_ids_runs_the_command_as_is(system):
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, *AWKWARD_ARGS))
    assert out["argv"] == AWKWARD_ARGS and out["as"] is None
    assert system.calls("gosu", "useradd", "groupadd") == []


def test_entrypoint_creates_the_user_and_group_and_drops_to_them(system):
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, *AWKWARD_ARGS, USER_ID="1234", GROUP_ID="4321"))
    assert out == {"argv": AWKWARD_ARGS, "home": "/home/otter", "as": "1234:4321"}
    assert system.calls("groupadd") == [["groupadd", "--gid", "4321", "otter"]]
    [useradd] = system.calls("useradd")
    assert useradd[useradd.index("--uid") + 1] == "1234" and useradd[useradd.index("--gid") + 1] == "4321"
    assert useradd[-1] == "otter" and "--create-home" in useradd
    assert system.calls("gosu") == [["gosu", "1234:4321", "env", "HOME=/home/otter", sys.executable, "-c", PRINT_ARGS, *AWKWARD_ARGS]]


@pytest.mark.parametrize("uid, gid", [("1000", "0"), ("1000", "1000"), ("0", "0")])
def test_entrypoint_reuses_ids_the_image_already_has(system, uid, gid):
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, "x", USER_ID=uid, GROUP_ID=gid))
    assert out["as"] == f"{uid}:{gid}" and out["argv"] == ["x"]
    assert out["home"] == (str(system.ubuntu_home) if uid == "1000" else "/root")
    assert system.calls("useradd", "groupadd") == []


def test_entrypoint_new_user_in_an_existing_group(system):
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, USER_ID="1500", GROUP_ID="100"))
    assert out["as"] == "1500:100" and system.calls("groupadd") == []
    [useradd] = system.calls("useradd")
    assert useradd[useradd.index("--gid") + 1] == "100"


def test_entrypoint_avoids_a_name_the_image_already_uses(system):
    with open(system.etc / "passwd", "a") as f:
        f.write("otter:x:999:999::/home/otter:/bin/bash\n")
    with open(system.etc / "group", "a") as f:
        f.write("otter:x:999:\n")
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, USER_ID="1234", GROUP_ID="1234"))
    assert out["home"] == "/home/otter_1234"
    assert system.calls("groupadd") == [["groupadd", "--gid", "1234", "otter_1234"]]
    assert system.calls("useradd")[0][-1] == "otter_1234"


def test_entrypoint_gives_a_homeless_user_a_home(system):
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, USER_ID="65534", GROUP_ID="65534"))
    assert out == {"argv": [], "home": "/home/otter_65534", "as": "65534:65534"}
    assert ["mkdir", "-p", "/home/otter_65534"] in system.calls("mkdir")
    assert ["chown", "65534:65534", "/home/otter_65534"] in system.calls("chown")


@pytest.mark.parametrize("env", [{"USER_ID": "1000"}, {"GROUP_ID": "1000"}, {"USER_ID": "me", "GROUP_ID": "1000"}])
def test_entrypoint_refuses_half_or_bad_ids(system, env):
    result = system.run("true", **env)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert system.calls("gosu", "useradd", "groupadd") == []


def test_entrypoint_started_as_a_user_runs_as_is(system):
    out = printed(system.run(sys.executable, "-c", PRINT_ARGS, "y", USER_ID="1234", GROUP_ID="1234", FAKE_EUID="1000"))
    assert out["as"] is None and out["argv"] == ["y"]
    assert system.calls("gosu", "useradd", "groupadd") == []


# ---------------------------------------------------------------- the engine: OTTER_DOCKER=podman


@pytest.mark.parametrize("command", ["train", "to_onnx"])
def test_podman_as_root_runs_like_docker(sb, command):
    result = sb.run(f"MyProj/docker/{command}.bash", "default", "a=1", OTTER_DOCKER="podman", FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    argv = sb.only_call("podman")
    image = argv.index("otter_base_image")
    assert argv[0] == "run" and "--init" in argv[:image]
    assert option_values(argv[:image], "-e") == ["USER_ID=0", f"GROUP_ID={GID}"]
    assert argv[image + 1:] == ["python", "-m", "MyProj.model", command, "default", "a=1"]


def test_rootless_podman_runs_as_the_containers_root(sb):
    # The container's root is the calling user; switching to the user's id inside would map it to a
    # subordinate id on the host, and the run's files would not be the user's.
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER="podman", FAKE_UID="1234", execute=True)
    assert result.returncode == 0, result.stderr
    argv = sb.only_call("podman")
    assert not [v for v in option_values(argv, "-e") if v.startswith(("USER_ID=", "GROUP_ID="))]
    assert json.loads(result.stdout)["env"] == {"USER_ID": None, "GROUP_ID": None, "OTTER_DEBUG": None}


def test_engine_can_be_a_path(sb):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER=str(sb.bin / "podman"), OTTER_DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{sb.bin / 'podman'} run ")


@pytest.mark.parametrize(
    "gpus, devices",
    [
        ("all", ["nvidia.com/gpu=all"]),
        ("device=0", ["nvidia.com/gpu=0"]),
        ('"device=0,2"', ["nvidia.com/gpu=0", "nvidia.com/gpu=2"]),
        ("2", ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]),
        ("none", []),
    ],
)
def test_podman_gpus_are_cdi_devices(sb, gpus, devices):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER="podman", OTTER_GPUS=gpus)
    assert result.returncode == 0, result.stderr
    argv = sb.only_call("podman")
    assert option_values(argv, "--device") == devices and "--gpus" not in argv


def test_podman_gpus_when_nvidia_smi_works(sb):
    assert sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER="podman", FAKE_NVIDIA_SMI_RC="0").returncode == 0
    assert option_values(sb.only_call("podman"), "--device") == ["nvidia.com/gpu=all"]


@pytest.mark.parametrize("gpus", ["0", "lots", "device=0;id", "device=", "1000"])
def test_podman_bad_gpus_are_refused(sb, gpus):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER="podman", OTTER_GPUS=gpus)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "OTTER_GPUS" in result.stderr
    assert sb.calls("podman") == []


@pytest.mark.parametrize("engine, message", [("nerdctl", "neither docker nor podman"), ("", None)])
def test_unknown_engine_is_refused(sb, engine, message):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER=engine)
    if message is None:  # empty: the default, docker
        assert result.returncode == 0 and len(sb.calls()) == 1
    else:
        assert result.returncode == 2 and message in result.stderr and sb.calls() == sb.calls("podman") == []


def test_missing_podman_is_one_line(sb, tmp_path):
    (sb.bin / "podman").unlink()
    path = f"{sb.bin}{os.pathsep}{system_path_without(tmp_path, 'podman')}"
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER="podman", PATH=path)
    assert result.returncode == 2 and result.stderr.startswith("train.bash: podman not found on PATH")
    assert len(result.stderr.splitlines()) == 1


def test_run_with_podman(sb):
    result = sb.run(DOCKER / "run.bash", "python", "-c", "print(1)", OTTER_DOCKER="podman", FAKE_UID="0")
    assert result.returncode == 0, result.stderr
    argv = sb.only_call("podman")
    assert argv[-4:] == ["otter_base_image", "python", "-c", "print(1)"]


def start_waiting_run(sb: Sandbox, **env: str) -> subprocess.Popen:
    """train.bash with a project that waits like a training; returns once the "container" runs it."""
    proc = subprocess.Popen(["bash", "MyProj/docker/train.bash", "default"], cwd=sb.work, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**sb.env, "FAKE_DOCKER_EXEC": "1", "FAKE_MAIN_WAIT": "1", **env})
    first = proc.stdout.readline()  # the project prints its argv first, then waits
    assert json.loads(first)["argv"] == ["train", "default"], first + proc.stderr.read()
    return proc


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("uid", ["0", "1234"])
def test_podman_run_passes_a_signal_on_and_exits_with_the_containers_status(sb, signum, status, uid):
    # Rootless Podman 4 ends `podman run` with 0 on SIGTERM before the container stops; the script
    # sends the signal to the container itself and takes the status from `podman wait`.
    proc = start_waiting_run(sb, OTTER_DOCKER="podman", FAKE_UID=uid)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert out.strip() == f"stopped by {signum.name}"
    run, *rest = sb.calls("podman")
    [name] = option_values(run, "--name")
    assert rest == [["kill", "--signal", signum.name[3:], name], ["wait", name], ["rm", "--force", name]]
    assert not list((sb.tmp / "container").glob(name + ".*"))  # removed


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_the_containers_exit_status_is_the_scripts(sb, engine):
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER=engine, FAKE_MAIN_EXIT="2", execute=True)
    assert result.returncode == 2, result.stderr
    sb.only_call(engine)


def test_docker_is_replaced_by_the_engine_so_signals_reach_it(sb):
    # `exec`: the script's process becomes `docker run`, which passes signals on by itself.
    proc = start_waiting_run(sb, OTTER_DOCKER="docker")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and out.strip() == "stopped by SIGTERM", err
    assert [call[0] for call in sb.calls()] == ["run"]


def test_podman_run_that_creates_no_container_keeps_the_engines_status(sb):
    # The run fails before a container exists (here: no such image): the engine's own 125.
    result = sb.run("MyProj/docker/train.bash", "default", OTTER_DOCKER="podman", FAKE_NO_IMAGE="1", execute=True)
    assert result.returncode == 125 and "image is not known" in result.stderr
    run, wait, rm = sb.calls("podman")
    assert wait[0] == "wait" and rm[:2] == ["rm", "--force"]


@pytest.mark.parametrize("script, name", [("MyProj/docker/train.bash", "OTTER_IMAGE"), (str(DOCKER / "run.bash"), "OTTER_IMAGE"),
                                          (str(DOCKER / "build.bash"), "OTTER_IMAGE"), (str(DOCKER / "build.bash"), "BASE_IMAGE")])
@pytest.mark.parametrize("image", ["--privileged", "a b", "x;id", "naïve", "img\nname", "/abs"])
def test_bad_image_name_is_refused_before_the_engine(sb, script, name, image):
    args = ["default"] if "train" in script else []
    result = sb.run(script, *args, cwd=sb.work, **{name: image})
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and name in result.stderr
    assert sb.calls() == [] and sb.calls("podman") == []


# ---------------------------------------------------------------- builds: podman, proxies


def test_build_with_podman_keeps_the_docker_format(sb):
    # Podman's default OCI format drops SHELL, and with it pipefail in every RUN step.
    result = sb.run(DOCKER / "build.bash", "img", "base:1", OTTER_DOCKER="podman", cwd=sb.tmp)
    assert result.returncode == 0, result.stderr
    assert sb.only_call("podman") == ["build", "-f", str(DOCKER / "Dockerfile"), "--build-arg", "BASE_IMAGE=base:1",
                                      "-t", "img", "--format", "docker", str(REPO)]


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_build_passes_pip_settings_and_ca_as_secrets(sb, engine):
    conf = sb.tmp / "my pip.conf"
    conf.write_text("[global]\nindex-url = https://user:token@pypi.example/simple\n")
    ca = sb.tmp / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    result = sb.run(DOCKER / "build.bash", "img", "base:1", "--no-cache", cwd=sb.work, OTTER_DOCKER=engine,
                    OTTER_PIP_CONF="../my pip.conf", OTTER_CA_BUNDLE=str(ca),
                    PIP_INDEX_URL="https://pypi.example/simple", PIP_EXTRA_INDEX_URL="https://more.example/simple")
    assert result.returncode == 0, result.stderr
    argv = sb.only_call(engine)
    # Secrets by absolute path; the index URLs as build args (the Dockerfile declares them).
    assert option_values(argv, "--secret") == [f"id=pip.conf,src={conf}", f"id=ca.crt,src={ca}"]
    assert option_values(argv, "--build-arg") == ["BASE_IMAGE=base:1", "PIP_INDEX_URL=https://pypi.example/simple",
                                                  "PIP_EXTRA_INDEX_URL=https://more.example/simple"]
    assert argv[-2:] == ["--no-cache", str(REPO)]
    # The secret's content is never on the command line.
    assert not any("token" in a for a in argv)


@pytest.mark.parametrize("name, value", [("OTTER_PIP_CONF", "/no/such/pip.conf"), ("OTTER_CA_BUNDLE", "/tmp"),
                                         ("OTTER_CA_BUNDLE", "with,comma.pem")])
def test_build_refuses_a_bad_secret_file(sb, name, value):
    if "," in value:
        (sb.tmp / value).write_text("x")
    result = sb.run(DOCKER / "build.bash", cwd=sb.tmp, **{name: value})
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and name in result.stderr
    assert sb.calls() == []


def dockerfile_stages() -> List[List[str]]:
    """The Dockerfile's instructions (continuation lines joined), one list per stage."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    stages: List[List[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages[1:]


def test_every_pip_step_gets_the_secrets_and_index_args():
    stages = dockerfile_stages()
    pip_steps = 0
    for stage in stages:
        runs = [i for i in stage if i.startswith("RUN ") and re.search(r"pip (install|wheel)", i)]
        if not runs:
            continue
        declared = {i.split()[1].split("=")[0] for i in stage if i.startswith("ARG ")}
        assert {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE"} <= declared, stage[0]
        assert 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]' in stage, stage[0]
        for run in runs:
            pip_steps += 1
            assert "--mount=type=secret,id=pip.conf" in run and "--mount=type=secret,id=ca.crt" in run, run
            assert "--no-cache-dir" in run, run
    assert pip_steps >= 3  # the wheel, torch, otter
    text = (DOCKER / "Dockerfile").read_text()
    # Nothing of the secrets lands in a layer: no COPY/ADD of them, no ENV naming them.
    assert not re.search(r"^(COPY|ADD|ENV)\b.*(secrets|pip\.conf|ca\.crt)", text, re.M)
    # Plain Debian/Ubuntu bases have python3 only: the first stage never calls a bare `python`
    # before the virtual environment exists.
    first_run = next(i for i in stages[0] if i.startswith("RUN "))
    before_venv = first_run.split("-m venv")[0]
    assert not re.search(r"(?<![\w-])python(?![\w.-])", before_venv), before_venv


def test_test_image_skips_with_a_reason_without_an_engine(sb, tmp_path):
    for name in ("docker", "podman"):
        (sb.bin / name).unlink()
    path = f"{sb.bin}{os.pathsep}{system_path_without(tmp_path, 'docker', 'podman', 'apt-get')}"
    result = sb.run(DOCKER / "test-image.bash", PATH=path, OTTER_TEST_DIR=str(sb.tmp / "state"))
    assert result.returncode == 77, result.stdout + result.stderr
    assert "skipped: neither docker nor podman is installed" in result.stdout


def test_test_image_help_and_bad_argument(sb):
    helped = sb.run(DOCKER / "test-image.bash", "--help")
    assert helped.returncode == 0 and "OTTER_TEST_DIR" in helped.stdout
    assert "--install" in helped.stdout and "--if-cached" in helped.stdout
    bad = sb.run(DOCKER / "test-image.bash", "--if-cached", "--instal")
    assert bad.returncode == 2 and "unknown argument" in bad.stderr
    for name in ("OTTER_TEST_IMAGE", "BASE_IMAGE"):
        refused = sb.run(DOCKER / "test-image.bash", **{name: "--privileged"})
        assert refused.returncode == 2 and "not an image name" in refused.stderr
    refused = sb.run(DOCKER / "test-image.bash", OTTER_TEST_DEBIAN="trixie; id")
    assert refused.returncode == 2 and "not a Debian release name" in refused.stderr


def test_test_image_if_cached_installs_nothing_where_no_engine_is(sb, tmp_path):
    # What .ci/run asks: a cold run (install, base image, torch) does not fit its budget.
    for name in ("docker", "podman"):
        (sb.bin / name).unlink()
    _write(sb.bin / "apt-get", f'#!/bin/sh\necho "$@" >> "{sb.tmp}/apt.log"\n')
    path = f"{sb.bin}{os.pathsep}{system_path_without(tmp_path, 'docker', 'podman', 'apt-get')}"
    result = sb.run(DOCKER / "test-image.bash", "--install", "--if-cached", PATH=path, FAKE_UID="0",
                    OTTER_TEST_DIR=str(sb.tmp / "state"))
    assert result.returncode == 77, result.stdout + result.stderr
    assert "skipped: no container engine, so nothing cached" in result.stdout
    assert not (sb.tmp / "apt.log").exists()


def test_test_image_if_cached_skips_without_an_earlier_image(sb):
    state = sb.tmp / "state"
    result = sb.run(DOCKER / "test-image.bash", "--if-cached", OTTER_DOCKER="podman", FAKE_NO_IMAGE="1",
                    OTTER_TEST_DIR=str(state), CONTAINERS_CONF=str(sb.tmp / "containers.conf"))
    assert result.returncode == 77, result.stdout + result.stderr
    assert "skipped: --if-cached: podman has no localhost/otter-test-base:bookworm and otter-test-image" in result.stdout
    assert [c[:2] for c in sb.calls("podman") if c[0] not in ("info", "--version")] == [["image", "inspect"]]
