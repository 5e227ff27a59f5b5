"""otter.backbone.Backbone: timm feature maps, offline weight handling, local weights files."""

import time

import pytest
import torch

from otter import MODELS
from otter import backbone as backbone_module
from otter.backbone import Backbone
from otter.errors import OtterConfigError, OtterError


def test_backbone_accepts_timm_prefix_and_reports_channels():
    backbone = Backbone("timm_lcnet_050", pretrained=False)
    maps = backbone(torch.zeros(2, 3, 64, 64))
    assert [m.shape[1] for m in maps] == backbone.channels
    assert [64 // m.shape[-1] for m in maps] == backbone.reductions
    assert backbone.channels[-1] == 256


def test_backbone_is_registered_and_a_project_may_override_it():
    from otter.registry import Registry, _add_models

    assert MODELS.get("Backbone") is Backbone
    models = Registry("models", _add_models)

    @models.register(name="Backbone")
    class Mine:
        pass

    # The built-ins load at the first lookup and do not replace the project's class.
    assert models.get("Backbone") is Mine


def test_the_last_map_only():
    backbone = Backbone("lcnet_050", features_only=False)
    (last,) = backbone(torch.zeros(1, 3, 64, 64))
    assert last.shape[1] == backbone.channels[0] == 256 and backbone.reductions == [32]


def test_unknown_name_is_a_config_error_at_the_configured_key():
    with pytest.raises(OtterConfigError, match=r"model\.backbone\.options\.name: timm has no model 'lcnet_05x'"):
        Backbone("lcnet_05x")
    with pytest.raises(OtterConfigError, match=r"model\.encoder\.name: timm has no model"):
        Backbone("lcnet_05x", config_key="model.encoder")


def test_pretrained_without_network_fails_fast_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(backbone_module, "_cached_weights", lambda name: None)
    start = time.perf_counter()
    with pytest.raises(OtterError) as info:
        Backbone("lcnet_050", pretrained=True)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "\n" not in message and "pretrained: false" in message and "local weights file" in message


def test_unreachable_hub_is_probed_not_waited_for(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # A closed port on this machine: the probe fails at once, so pretrained without a cache is refused.
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")
    monkeypatch.setattr(backbone_module, "_cached_weights", lambda name: None)
    with pytest.raises(OtterConfigError, match="cannot be downloaded"):
        Backbone("lcnet_050", pretrained=True)


@pytest.mark.parametrize("how", ["weights", "overlay"])
def test_pretrained_from_a_local_file(tmp_path, how):
    import timm

    source = timm.create_model("lcnet_050", pretrained=False)
    torch.nn.init.normal_(source.conv_stem.weight)
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    if how == "weights":
        backbone = Backbone("lcnet_050", weights=str(tmp_path / "weights.pth"))
    else:
        backbone = Backbone("lcnet_050", pretrained=True, pretrained_cfg_overlay={"file": str(tmp_path / "weights.pth")})
    assert torch.equal(backbone.model.conv_stem.weight, source.conv_stem.weight)


def test_a_missing_weights_file_names_the_key(tmp_path):
    with pytest.raises(OtterConfigError, match=r"model\.backbone\.options\.weights: weights file .*missing\.pth does not exist"):
        Backbone("lcnet_050", weights=str(tmp_path / "missing.pth"))


def test_a_weights_file_that_does_not_fit_is_one_line(tmp_path):
    torch.save({"conv_stem.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(OtterError) as info:
        Backbone("lcnet_050", weights=str(tmp_path / "other.pth"))
    assert "\n" not in str(info.value) and "cannot load pretrained weights of lcnet_050" in str(info.value)


def test_a_pickled_object_in_a_weights_file_is_not_executed(tmp_path):
    # timm reads weights with torch.load(weights_only=True): arbitrary pickles are refused.
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"conv_stem.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(OtterError, match="cannot load pretrained weights"):
        Backbone("lcnet_050", weights=str(tmp_path / "evil.pth"))
