"""`otter check` is fast when nothing changed, and never less strict (issue: make check fast).

A config that passed, checked again unchanged (same packages, same otter code,
same machine), is answered from the cache without importing torch or Lightning;
anything that changed is checked in full. Timing is measured by the benchmarks,
never asserted here: these tests assert what is imported and what is answered.
"""

import os
import subprocess
import sys

from tinyproj import TINY_CONFIG

PROBE = (
    "import sys\n"
    "from otter.cli import main\n"
    "code = main(['check', sys.argv[1], *sys.argv[2:]])\n"
    "print('IMPORTED', 'torch' in sys.modules, 'lightning' in sys.modules, 'pydantic' in sys.modules)\n"
    "sys.exit(code)\n"
)


def check(path, *overrides, cache, **env):
    full_env = {**os.environ, "OTTER_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-c", PROBE, str(path), *overrides], capture_output=True, text=True, env=full_env, timeout=600)


def test_an_unchanged_config_is_answered_without_torch_and_a_changed_one_in_full(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    cache = tmp_path / "cache"

    cold = check(path, cache=cache)
    assert cold.returncode == 0, cold.stderr
    assert "IMPORTED True True True" in cold.stdout

    warm = check(path, cache=cache)
    assert warm.returncode == 0, warm.stderr
    assert "IMPORTED False False False" in warm.stdout
    assert warm.stdout == cold.stdout.replace("IMPORTED True True True", "IMPORTED False False False")
    assert warm.stderr == cold.stderr

    # One value changed, which the Trainer refuses: checked in full, refused.
    changed = check(path, "trainer.max_epochs=-5", cache=cache)
    assert changed.returncode == 2
    assert changed.stderr.startswith(f"{path}: trainer.max_epochs: Trainer refuses this")
    # Refusals are never remembered: the same again is refused again, in full.
    again = check(path, "trainer.max_epochs=-5", cache=cache)
    assert again.returncode == 2 and again.stderr == changed.stderr and "IMPORTED True True" in again.stdout


def test_no_cache_switch_checks_in_full(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    out = check(path, cache=tmp_path / "cache", OTTER_NO_CACHE="1")
    assert out.returncode == 0 and "IMPORTED True True True" in out.stdout
    assert not (tmp_path / "cache").exists()


def test_the_key_covers_packages_code_machine_and_registrations(tmp_path, monkeypatch):
    from otter import signatures
    from otter.registry import OPTIMIZERS

    monkeypatch.setenv("OTTER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("OTTER_NO_CACHE", raising=False)
    data, file = {"optimizer": {"name": "X"}}, "c.yaml"
    signatures.remember_passed(data, file, ["w"], ["u"])
    assert signatures.passed_before(data, file) == {"warnings": ["w"], "unchecked": ["u"]}
    assert signatures.passed_before({"optimizer": {"name": "Y"}}, file) is None
    assert signatures.passed_before(data, "other.yaml") is None

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # another machine, as far as the Trainer can tell
    assert signatures.passed_before(data, file) is None
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")

    class X:  # a program's own registration changes what a name means
        pass

    monkeypatch.setitem(OPTIMIZERS._entries, "X", X)
    assert signatures.passed_before(data, file) is None
    monkeypatch.delitem(OPTIMIZERS._entries, "X")
    assert signatures.passed_before(data, file) is not None

    monkeypatch.setitem(signatures._memory, "versions_key", "another set of packages")
    assert signatures.passed_before(data, file) is None


def test_the_key_tells_apart_what_yaml_tells_apart(tmp_path, monkeypatch):
    from otter import signatures

    monkeypatch.setenv("OTTER_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("OTTER_NO_CACHE", raising=False)
    mixed = {"common": {0: "a", "image_size": [8, 8]}, "x": 1}
    signatures.remember_passed(mixed, "c.yaml", [], [])  # int and str keys side by side
    assert signatures.passed_before(mixed, "c.yaml") is not None
    for other in ({"common": {"0": "a", "image_size": [8, 8]}, "x": 1}, {"common": {0: "a", "image_size": [8, 8]}, "x": 1.0},
                  {"common": {0: "a", "image_size": [8, 8]}, "x": True}):
        assert signatures.passed_before(other, "c.yaml") is None
