"""Put the chosen task's files in place: copy _tasks/<task>/ over the base, then drop _tasks/.

The contract a task folder must meet is written once, in ``_tasks/TASKS.md``
(the ``contract`` block); :func:`task_problems` reads it. A task that does not
meet it, or an overlay file that would overwrite a base file, stops the
generation (cookiecutter then removes the half-made project). Byte-code caches
copied from an installed template are removed.
"""

import ast
import re
import shutil
import stat
import sys
from pathlib import Path
from typing import Dict, List

TASK = "{{ cookiecutter.task }}"
CONTRACT = "TASKS.md"
CACHES = ("__pycache__", ".pytest_cache")


def contract(tasks_dir: Path) -> Dict[str, List[str]]:
    """Path (relative to a task folder, ``<task>`` unfilled) -> names it must define."""
    text = (tasks_dir / CONTRACT).read_text(encoding="utf-8")
    block = re.search(r"```contract\n(.*?)```", text, re.S)
    if block is None:
        raise ValueError(f"{tasks_dir / CONTRACT} has no contract block")
    required = {}
    for line in block.group(1).splitlines():
        path, _, names = line.strip().partition(":")
        if path:
            required[path] = names.split()
    return required


def _top_level_names(path: Path) -> set:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _files(folder: Path) -> List[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and not set(p.parts) & set(CACHES))


def task_problems(tasks_dir: Path, task: str, base_dir: Path) -> List[str]:
    """What ``_tasks/<task>/`` lacks to meet the contract, or overwrites in the base (empty: fine)."""
    folder = tasks_dir / task
    if not folder.is_dir():
        return [f"task {task!r} has no folder _tasks/{task}/"]
    problems = []
    for path, names in contract(tasks_dir).items():
        target = folder / path.replace("<task>", task)
        if path.endswith("/"):
            if not list(target.glob("test_*.py")):
                problems.append(f"_tasks/{task}/{path} holds no test_*.py")
            continue
        if not target.is_file():
            problems.append(f"_tasks/{task}/{path} is missing")
            continue
        missing = [n.replace("<task>", task) for n in names if n.replace("<task>", task) not in _top_level_names(target)]
        if missing:
            problems.append(f"_tasks/{task}/{path} does not define {', '.join(missing)}")
    for rel in _files(folder):
        if (base_dir / rel).exists() and rel.parts[0] != "_tasks":
            problems.append(f"_tasks/{task}/{rel} would overwrite the base's {rel}")
    return problems


def available_tasks(tasks_dir: Path, base_dir: Path) -> List[str]:
    """The tasks whose folder exists and meets the contract."""
    return sorted(p.name for p in tasks_dir.iterdir() if p.is_dir() and p.name not in CACHES and not task_problems(tasks_dir, p.name, base_dir))


def remove_caches(project: Path) -> None:
    for cache in [p for p in project.rglob("*") if p.is_dir() and p.name in CACHES]:
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in project.rglob("*.py[co]"):
        compiled.unlink()


def main() -> int:
    project = Path.cwd()
    tasks = project / "_tasks"
    problems = task_problems(tasks, TASK, project)
    if problems:
        ready = ", ".join(available_tasks(tasks, project)) or "none"
        print(f"ERROR: task {TASK!r} is not available: {problems[0]}; available: {ready}", file=sys.stderr)
        return 1
    source = tasks / TASK
    for rel in _files(source):
        target = project / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    shutil.rmtree(tasks)
    remove_caches(project)
    for script in (project / "docker").glob("*.bash"):
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
