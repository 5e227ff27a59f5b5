"""Property-based fuzzing of `otter check`: random mutations of the shipped configs.

Whatever the mutation (a key dropped, renamed or retyped, a value replaced by
another type, a line duplicated or removed, a byte flipped), `otter check`
answers with exit 0 or with one line and exit 2 — never a traceback. Run
in-process through ``otter.cli.main`` (the guarded entry), so any exception
that escapes fails the test with its traceback.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extra: pip install -e .[dev]")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "tests" / "data").glob("*.yaml")) + [
    ROOT / "template" / "{{cookiecutter.project_name}}" / "_tasks" / "classifier" / "config" / "default.yaml"
]
# Kept small for the suite; OTTER_FUZZ_EXAMPLES=2000 for a longer hunt.
FUZZ = settings(max_examples=int(os.environ.get("OTTER_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "-1", "cpu", "gpu", "auto", "max", "min", "16-mixed", "17", "valid_auc", "step"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _paths(node, prefix=()):
    """Every (container, key) pair in a loaded config."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield node, k, (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield node, i, (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _run_check(tmp_path, text: bytes, capsys) -> None:
    from otter.cli import main

    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(text)
    code = main(["check", str(path)])
    out = capsys.readouterr()
    assert code in (0, 2), out
    if code == 2:
        lines = out.err.strip().splitlines()
        errors = [line for line in lines if not line.startswith("warning:")]
        assert len(errors) == 1 and errors[0].startswith(str(path)), out.err
    else:
        assert out.out.strip().endswith(": OK")


@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.name)
@FUZZ
@given(data=st.data())
def test_structural_mutations_never_crash_check(source, tmp_path, capsys, data):
    cfg = yaml.safe_load(source.read_text())
    mutated = copy.deepcopy(cfg)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        places = list(_paths(mutated))
        container, key, _ = data.draw(st.sampled_from(places), label="where")
        action = data.draw(st.sampled_from(["replace", "delete", "rename", "wrap"]), label="action")
        if action == "replace":
            container[key] = data.draw(values, label="value")
        elif action == "delete":
            del container[key]
        elif action == "rename" and isinstance(container, dict):
            new_key = data.draw(st.one_of(st.text(max_size=10), st.integers(-3, 3), st.just(str(key) + "s")), label="new key")
            container[new_key] = container.pop(key)
        elif action == "wrap":
            container[key] = [container[key]]
    _run_check(tmp_path, yaml.safe_dump(mutated, allow_unicode=True).encode(), capsys)


@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.name)
@FUZZ
@given(data=st.data())
def test_text_mutations_never_crash_check(source, tmp_path, capsys, data):
    raw = bytearray(source.read_bytes())
    lines = raw.split(b"\n")
    action = data.draw(st.sampled_from(["flip", "insert", "drop_line", "dup_line", "indent"]), label="action")
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    if action == "flip":
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw[at] = data.draw(st.integers(0, 255), label="byte")
        text = bytes(raw)
    elif action == "insert":
        at = data.draw(st.integers(0, len(raw)), label="at")
        piece = data.draw(st.sampled_from([b"&a ", b"*a", b": ", b"- ", b"{", b"]", b"\t", b"!!binary ", b"<<: ", b"'", b"\xff"]), label="piece")
        text = bytes(raw[:at] + piece + raw[at:])
    elif action == "drop_line":
        text = b"\n".join(lines[:i] + lines[i + 1 :])
    elif action == "dup_line":
        text = b"\n".join(lines[: i + 1] + lines[i:])
    else:
        text = b"\n".join(lines[:i] + [b"  " + lines[i]] + lines[i + 1 :])
    _run_check(tmp_path, text, capsys)
