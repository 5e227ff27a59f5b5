"""``check_config`` (what ``otter check`` runs): a pass is remembered and answered again without
checking, a changed config is checked again, and check never defers a dataset name.

Real files: the tiny project's config under ``tmp_path`` and a cache folder of its own.
"""

import pytest

from otter import validate
from otter.config import check_config
from otter.errors import OtterConfigError
from otter.validate import Scope


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OTTER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OTTER_NO_CACHE", raising=False)


def test_a_pass_is_answered_again_without_checking(project, cache, monkeypatch):
    path = project / "config" / "tiny.yaml"
    first = check_config(path)
    assert any("'TinyModel' is not registered here" in line for line in first.unchecked)

    def no_second_check(*args, **kwargs):
        raise AssertionError("checked again")

    monkeypatch.setattr(validate, "validate_config", no_second_check)
    assert check_config(path) == first
    # The same file with other content is another config: checked in full.
    text = path.read_text()
    assert "max_epochs: 2" in text
    path.write_text(text.replace("max_epochs: 2", "max_epochs: 3"))
    with pytest.raises(AssertionError, match="checked again"):
        check_config(path)


def test_check_never_defers_a_dataset_name(project, cache):
    path = project / "config" / "tiny.yaml"
    with pytest.raises(OtterConfigError) as e:
        check_config(path, scope=Scope(modules=(), strict=True, defer_datasets=True))
    assert e.value.key == "dataset.train_options.name" and "unknown name 'TinyDataset'" in str(e.value)
