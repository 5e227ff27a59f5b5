"""The examples in otter's docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = ["names", "sections", "registry", "config", "optim", "runinfo", "backbone", "preview"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch, tmp_path):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = importlib.import_module(f"otter.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
