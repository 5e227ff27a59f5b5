"""Put the chosen task's files in place: copy _tasks/<task>/ over the project, then drop _tasks/."""

import shutil
import stat
from pathlib import Path

TASK = "{{ cookiecutter.task }}"


def main() -> None:
    project = Path.cwd()
    tasks = project / "_tasks"
    source = tasks / TASK
    for path in sorted(source.rglob("*")):
        target = project / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    shutil.rmtree(tasks)
    for script in (project / "docker").glob("*.bash"):
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


if __name__ == "__main__":
    main()
