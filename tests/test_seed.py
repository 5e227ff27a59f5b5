"""The seed a run records is the seed it used: training again with it gives the same weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

import otter
import tinyproj

pytestmark = pytest.mark.slow


def recorded_seed(run_dir: Path) -> int:
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    seed = saved["common"]["seed"]
    assert isinstance(seed, int) and not isinstance(seed, bool), saved["common"]
    return seed


def final_weights(run_dir: Path):
    return torch.load(run_dir / "checkpoint" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_chosen_seed_is_recorded_and_applied_before_the_model_is_built(project):
    """With no seed in the config one is drawn; it is the one the model's initial weights come from."""
    from lightning.pytorch import seed_everything

    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.seed=null"])
    seed = cfg.common.seed
    assert isinstance(seed, int) and seed != 7
    seed_everything(seed, verbose=False)
    again = tinyproj.TinyModel(cfg)
    assert same(model.state_dict(), again.state_dict())


def test_rerunning_with_the_recorded_seed_reproduces_the_weights(project):
    overrides = ["trainer.max_epochs=1"]
    _, _, first = tinyproj.train(project, overrides=[*overrides, "common.seed=null"])
    run1 = Path(first.root_dir)
    seed = recorded_seed(run1)
    assert seed == first.common.seed

    _, _, second = tinyproj.train(project, overrides=[*overrides, f"common.seed={seed}"])
    run2 = Path(second.root_dir)
    assert run2 != run1 and recorded_seed(run2) == seed
    assert same(final_weights(run1), final_weights(run2))

    # Not vacuous: another seed trains to other weights.
    _, _, third = tinyproj.train(project, overrides=[*overrides, f"common.seed={seed + 1}"])
    assert not same(final_weights(run1), final_weights(Path(third.root_dir)))


def test_the_configured_seed_is_the_recorded_one(project):
    _, _, cfg = tinyproj.train(project, overrides=["trainer.max_epochs=1", "common.seed=123"])
    assert recorded_seed(Path(cfg.root_dir)) == 123
