"""Unit tests of the classifier's parts: backbone, heads, margins, datasets, model, export wrapper, inference.

Tiny sizes throughout (32x32 images, a handful of classes); the whole file runs in seconds on a CPU.
"""

from __future__ import annotations

import importlib
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from PIL import Image

from otter import OtterConfigError
from otter.onnx_meta import encode_meta

# The project package is the folder that holds this tests/ folder (conftest puts its parent on sys.path).
PROJECT_DIR = Path(__file__).resolve().parents[1]
PROJECT = PROJECT_DIR.name
component = importlib.import_module(f"{PROJECT}.model.component")
dataset = importlib.import_module(f"{PROJECT}.model.dataset")
model_module = importlib.import_module(f"{PROJECT}.model.model")
to_onnx = importlib.import_module(f"{PROJECT}.model.to_onnx")

SIZE = 32


def tiny_cfg(tmp_path: Path, num_classes: int = -1, loss: str = "CosFace") -> dict:
    return {
        "common": {"batch_size": 8, "image_size": [SIZE, SIZE]},
        "global_settings": {"image_size": [SIZE, SIZE]},
        "model": {
            "name": "ClassifierModel",
            "backbone": {"name": "Backbone", "options": {"name": "timm_lcnet_050", "pretrained": False, "features_only": True}},
            "head": {"name": "FeatureLearningSqueezeLBNHead", "options": {"in_dim": 256, "embed_dim": 16, "feature_map_size": 1}},
            "loss": {"name": loss, "options": {"s": 16.0, "m": 0.2}, "num_classes": num_classes, "embed_dim": 16},
        },
        "dataset": {
            "train_options": {"name": "SynthDataset", "options": {"length_of_dataset": 16, "num_classes": 6}},
            "valid_options": {"name": "SynthValidDataset", "options": {"num_classes": 4, "views_per_class": 3}},
        },
        "optimizer": {"name": "AdamW", "options": {"lr": 1e-3, "weight_decay": 1e-4}},
        "lr_scheduler": {"name": "PolynomialLRWarmup", "options": {"warmup_iters": -1, "total_iters": -1}, "pl_options": {"interval": "step"}},
        "root_dir": str(tmp_path),
    }


# --------------------------------------------------------------------------- heads and margins

# The head class and the original configs' five other names for it.
HEADS = [name for name in component.__all__ if name.startswith("FeatureLearning")]


def test_all_six_original_head_names_are_there():
    assert len(HEADS) == 6 and "FeatureLearningSqueezeLBNHead" in HEADS


@pytest.mark.parametrize("name", HEADS)
def test_heads_embed_the_last_map(name):
    head = getattr(component, name)(embed_dim=8, feature_map_size=2, in_channels_list=[4, 12]).train()
    out = head([torch.randn(3, 4, 8, 8), torch.randn(3, 12, 4, 4)])
    assert out.shape == (3, 8) and torch.isfinite(out).all()
    assert head.OTTER_DERIVED == ("in_channels_list",)


def test_the_original_head_names_are_one_class_with_fixed_flags():
    from otter import MODELS

    lbn = MODELS.get("FeatureLearningSqueezeLBNHead")(in_dim=64, embed_dim=8, feature_map_size=1)
    assert type(lbn) is component.FeatureLearningHead
    assert isinstance(lbn.squeeze, torch.nn.Sequential) and isinstance(lbn.norm, torch.nn.BatchNorm1d)
    ln = MODELS.get("FeatureLearningLNHead")(in_dim=64, embed_dim=8, feature_map_size=1)
    assert isinstance(ln.squeeze, torch.nn.Identity) and isinstance(ln.norm, torch.nn.LayerNorm)
    plain = component.FeatureLearningHead(in_dim=64, embed_dim=8, feature_map_size=1)
    assert isinstance(plain.norm, torch.nn.Identity) and plain.fc.bias is not None


def test_head_refuses_wrong_in_dim_and_map_size():
    with pytest.raises(OtterConfigError, match=r"model\.head\.options\.in_dim: is 128 .* 256 channels"):
        component.FeatureLearningSqueezeLBNHead(in_dim=128, in_channels_list=[64, 256])
    head = component.FeatureLearningHead(feature_map_size=4, in_channels_list=[8])
    with pytest.raises(OtterConfigError, match=r"feature_map_size: is 4 .* 3x3"):
        head.check_map_size(3, 3)


def test_cosface_and_arcface_margins():
    cosine = torch.tensor([[0.8, 0.2, -0.1], [0.3, 0.5, 0.1]])
    labels = torch.tensor([0, 1])
    cosface = component.CosFace(s=10.0, m=0.25)(cosine, labels)
    assert torch.allclose(cosface, 10.0 * torch.tensor([[0.55, 0.2, -0.1], [0.3, 0.25, 0.1]]))
    arcface = component.ArcFace(s=10.0, m=0.3)(cosine, labels)
    expected = torch.cos(torch.acos(torch.tensor([0.8, 0.5])) + 0.3) * 10.0
    assert torch.allclose(arcface[[0, 1], [0, 1]], expected, atol=1e-5)
    assert torch.allclose(arcface[0, 1:], cosface[0, 1:])  # other classes are untouched
    assert torch.allclose(component.ArcFace(s=10.0, m=0.0)(cosine, labels), 10.0 * cosine, atol=1e-5)


# --------------------------------------------------------------------------- datasets


def test_templates_are_deterministic_and_distinct():
    a, fields_a = dataset.render_template(3, 0, 64, 64)
    dataset.render_template.cache_clear()
    b, fields_b = dataset.render_template(3, 0, 64, 64)
    c, _ = dataset.render_template(4, 0, 64, 64)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and fields_a == fields_b
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_synth_dataset_items():
    ds = dataset.SynthDataset(image_size=[SIZE, SIZE], length_of_dataset=10, num_classes=4)
    image, label = ds[6]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert label == 2 and len(ds) == 10 and ds.num_classes == 4
    assert ds.class_names[label] == "template_00002"
    raw, _ = dataset.SynthDataset(image_size=[SIZE, 24], length_of_dataset=2, num_classes=2, return_tensor=False)[0]
    assert raw.shape == (SIZE, 24, 3) and raw.dtype == np.uint8


def test_valid_dataset_is_fixed_and_unseen():
    valid = dataset.SynthValidDataset(image_size=[SIZE, SIZE], num_classes=3, views_per_class=2)
    assert len(valid) == 6 and [valid[i][1] for i in range(6)] == [0, 0, 1, 1, 2, 2]
    assert torch.equal(valid[3][0], valid[3][0])  # same view every epoch
    train = dataset.SynthDataset(image_size=[SIZE, SIZE], length_of_dataset=4, num_classes=100)
    assert not set(valid.class_names) & set(train.class_names)


def test_datasets_pickle_and_load_in_workers():
    ds = dataset.SynthDataset(image_size=[SIZE, SIZE], length_of_dataset=8, num_classes=4)
    ds[0]  # builds the transform; it must not travel to workers
    pickle.loads(pickle.dumps(ds))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, SIZE, SIZE) and labels.tolist() == [0, 1, 2, 3]


def test_imagenet_option_needs_a_folder(tmp_path):
    with pytest.raises(OtterConfigError, match=r"imagenet_root: use_imagenet: true needs imagenet_root") as info:
        dataset.SynthDataset(use_imagenet=True)
    assert "\n" not in str(info.value)
    with pytest.raises(OtterConfigError, match="does not exist"):
        dataset.SynthDataset(use_imagenet=True, imagenet_root=str(tmp_path / "nope"))
    (tmp_path / "n01").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "n01" / "a.JPEG")
    ds = dataset.SynthDataset(image_size=[SIZE, SIZE], length_of_dataset=4, num_classes=3, use_imagenet=True, imagenet_root=str(tmp_path))
    assert ds.num_classes == 4 and ds.class_names[-1] == "imagenet_a"
    assert ds[3][0].shape == (3, SIZE, SIZE)


def test_real_dataset_folder_layout(tmp_path):
    with pytest.raises(OtterConfigError, match=r"dataset\.valid_options\.options\.root: not set"):
        dataset.RealDataset()
    with pytest.raises(OtterConfigError, match=r"dataset\.valid_options\.options\.root: .*missing does not exist; expected"):
        dataset.RealDataset(root=str(tmp_path / "missing"))
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(OtterConfigError, match="has no images"):
        dataset.RealDataset(root=str(tmp_path))
    for name, color in (("invoice", (250, 0, 0)), ("receipt", (0, 0, 250))):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (50, 40), color).save(tmp_path / name / f"{i}.png")
    ds = dataset.RealDataset(root=str(tmp_path), image_size=[SIZE, SIZE])
    assert ds.class_names == ["invoice", "receipt"] and len(ds) == 4
    image, label = ds[2]
    assert label == 1 and image.shape == (3, SIZE, SIZE) and float(image[2].mean()) > 0.9


# --------------------------------------------------------------------------- model


def test_verification_metrics_perfect_and_random():
    centres = torch.nn.functional.normalize(torch.randn(5, 16), dim=1)
    labels = torch.arange(5).repeat_interleave(4)
    embeddings = torch.nn.functional.normalize(centres[labels] + 0.01 * torch.randn(20, 16), dim=1)
    good = model_module.verification_metrics(embeddings, labels)
    assert good["auc"] == pytest.approx(1.0) and good["top1"] == 1.0 and good["tpr@4"] == pytest.approx(1.0)
    noise = torch.nn.functional.normalize(torch.randn(400, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    bad = model_module.verification_metrics(noise, torch.arange(100).repeat_interleave(4))
    assert 0.4 < bad["auc"] < 0.6


def test_model_derives_classes_and_trains_a_step(tmp_path):
    model = model_module.ClassifierModel(tiny_cfg(tmp_path))
    assert model.classifier.weight.shape == (6, 16)  # num_classes -1 -> the training set's 6
    images, labels = torch.rand(4, 3, SIZE, SIZE), torch.tensor([0, 1, 2, 3])
    model.log = lambda *args, **kwargs: None  # no Trainer attached
    loss = model.training_step((images, labels), 0)
    loss.backward()
    assert torch.isfinite(loss) and model.backbone.model.conv_stem.weight.grad is not None
    meta = model.export_meta()
    assert meta["image_size"] == [SIZE, SIZE] and meta["embed_dim"] == 16 and meta["normalize"] is None


def test_model_refuses_mismatched_embed_dim(tmp_path):
    cfg = tiny_cfg(tmp_path, num_classes=5)
    cfg["model"]["loss"]["embed_dim"] = 32
    with pytest.raises(OtterConfigError, match=r"model\.loss\.embed_dim: is 32 but the head gives 16"):
        model_module.ClassifierModel(cfg)


def test_fit_logs_metrics_and_writes_previews(tmp_path):
    import lightning as L

    cfg = tiny_cfg(tmp_path, loss="ArcFace")
    model = model_module.ClassifierModel(cfg)
    train = dataset.SynthDataset(image_size=[SIZE, SIZE], length_of_dataset=16, num_classes=6)
    valid = dataset.SynthValidDataset(image_size=[SIZE, SIZE], num_classes=4, views_per_class=3)
    trainer = L.Trainer(
        max_epochs=1, limit_train_batches=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(model, torch.utils.data.DataLoader(train, batch_size=8), torch.utils.data.DataLoader(valid, batch_size=6))
    for key in ("valid_auc", "valid_fpr@2", "valid_fpr@3", "valid_fpr@4", "valid_top1"):
        assert key in trainer.callback_metrics
    preview = tmp_path / "preview" / "epoch_0"
    assert {"roc.png", "pca.png", "tpr_fpr.txt", "valid_samples.png"} <= {p.name for p in preview.iterdir()}
    assert "TPR" in (preview / "tpr_fpr.txt").read_text()


# --------------------------------------------------------------------------- export and inference


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_gpu_config_is_the_seeds_shape_and_loads_local_weights(tmp_path, suffix):
    import timm
    import yaml

    text = (PROJECT_DIR / "config" / "gpu.yaml").read_text()
    cfg = yaml.safe_load(text)
    backbone = cfg["model"]["backbone"]["options"]
    assert backbone["name"] == "timm_lcnet_050" and backbone["pretrained"] is False and cfg["global_settings"]["image_size"] == [128, 128]
    assert "model.backbone.options.weights=/path/to/file" in text  # the config says how to give the weights
    # A file shaped like timm's ImageNet weights (the whole classifier's state dict), written here.
    torch.manual_seed(3)
    state = timm.create_model("lcnet_050", pretrained=False).state_dict()
    file = tmp_path / f"lcnet_050{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(file))
    else:
        torch.save(state, file)
    cfg["model"]["loss"]["num_classes"] = 4  # no need to index the training set
    cfg["root_dir"] = str(tmp_path)
    random_start = model_module.ClassifierModel(cfg)
    backbone["weights"] = str(file)
    model = model_module.ClassifierModel(cfg).eval()
    assert model.image_size == (128, 128)
    for name in ("conv_stem.weight", "bn1.running_mean", "blocks.5.1.conv_pw.weight"):
        loaded = model.backbone.model.get_parameter(name) if "running" not in name else model.backbone.model.get_buffer(name)
        assert torch.equal(loaded, state[name]), name
    assert not torch.equal(random_start.backbone.model.conv_stem.weight, state["conv_stem.weight"])
    assert model(torch.rand(2, 3, 128, 128)).shape == (2, 256)


# --------------------------------------------------------------------------- the match threshold


def _views(classes: int = 40, views: int = 5, noise: float = 0.35, seed: int = 0):
    """Unit embeddings of ``views`` noisy views around each of ``classes`` centres, and their labels."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(classes, 16, generator=g), dim=1)
    labels = torch.arange(classes).repeat_interleave(views)
    return torch.nn.functional.normalize(centres[labels] + noise * torch.randn(len(labels), 16, generator=g), dim=1), labels


def _pair_scores(embeddings: torch.Tensor, labels: torch.Tensor):
    """(positive, negative) pair similarities, each pair once."""
    sim = embeddings @ embeddings.T
    upper = torch.triu(torch.ones_like(sim, dtype=torch.bool), diagonal=1)
    same = labels[:, None] == labels[None, :]
    return sim[upper & same], sim[upper & ~same]


def _calibrate(model, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    """What a validation epoch does with its embeddings, without a Trainer."""
    model._keep_operating_points(embeddings, labels, model_module.verification_metrics(embeddings, labels))


def test_match_threshold_accepts_at_most_its_rate_of_wrong_pairs(tmp_path):
    model = model_module.ClassifierModel(tiny_cfg(tmp_path, num_classes=3))
    assert model.export_meta()["threshold_fpr"] is None  # no validation yet: no rate to state
    embeddings, labels = _views()
    _calibrate(model, embeddings, labels)
    meta = model.export_meta()
    positive, negative = _pair_scores(embeddings, labels)
    assert meta["threshold_pairs"] == {"positive": len(positive), "negative": len(negative)} == {"positive": 400, "negative": 19500}
    # The default rate: 1 in 1000 pairs of different templates at most, as measured at the stored threshold.
    accepted_wrong = int((negative >= meta["threshold"]).sum())
    assert meta["threshold_fpr"] == model_module.MATCH_FPR == 1e-3
    assert accepted_wrong / len(negative) == pytest.approx(meta["threshold_measured_fpr"]) and accepted_wrong <= 19
    assert accepted_wrong > 0  # the noise overlaps: the rate is measured, not trivially zero
    assert float((positive >= meta["threshold"]).float().mean()) == pytest.approx(meta["threshold_tpr"])
    assert float(model.threshold) == pytest.approx(meta["threshold"], abs=1e-6)
    points = {p["fpr"]: p for p in meta["operating_points"]}
    assert sorted(points) == [1e-4, 1e-3, 1e-2] and points[1e-3]["threshold"] == meta["threshold"]
    for rate, point in points.items():
        measured = float((negative >= point["threshold"]).float().mean())
        assert measured == pytest.approx(point["measured_fpr"]) and measured <= rate
    # 1e-2, the rate stored before, accepts more wrong pairs.
    assert int((negative >= points[1e-2]["threshold"]).sum()) > accepted_wrong


def test_match_threshold_rate_is_a_config_option(tmp_path):
    cfg = tiny_cfg(tmp_path, num_classes=3)
    cfg["model"]["threshold_fpr"] = 0.005
    model = model_module.ClassifierModel(cfg)
    embeddings, labels = _views()
    _calibrate(model, embeddings, labels)
    meta = model.export_meta()
    _, negative = _pair_scores(embeddings, labels)
    assert meta["threshold_fpr"] == 0.005 and meta["threshold_measured_fpr"] <= 0.005
    assert float((negative >= meta["threshold"]).float().mean()) == pytest.approx(meta["threshold_measured_fpr"])
    assert [p["fpr"] for p in meta["operating_points"]] == [1e-2, 1e-3, 1e-4]
    for bad in (0, 1.5, "often", True):
        cfg["model"]["threshold_fpr"] = bad
        with pytest.raises(OtterConfigError, match=r"model\.threshold_fpr: must be a false-positive rate"):
            model_module.ClassifierModel(cfg)


def test_a_checkpoint_from_before_the_operating_points_still_loads(tmp_path):
    model = model_module.ClassifierModel(tiny_cfg(tmp_path, num_classes=3))
    state = {k: v for k, v in model.state_dict().items() if k not in ("operating_points", "pair_counts")}
    state["threshold"] = torch.tensor(0.7)
    fresh = model_module.ClassifierModel(tiny_cfg(tmp_path, num_classes=3))
    fresh.load_state_dict(state, strict=True)
    meta = fresh.export_meta()
    assert meta["threshold"] == pytest.approx(0.7) and meta["threshold_fpr"] is None and meta["operating_points"] == []


def _export(tmp_path: Path, calibrated: bool = False, meta: Optional[dict] = None) -> Path:
    """A real ONNX file of an untrained tiny model, its metadata as the export writes it."""
    import onnx

    model = model_module.ClassifierModel(tiny_cfg(tmp_path, num_classes=3)).eval()
    if calibrated:
        _calibrate(model, *_views())
    wrapper = to_onnx.WarpFeatureLearning(model).eval()
    x = torch.rand(2, 3, SIZE, SIZE)
    out = wrapper(x)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    path = tmp_path / "tiny.onnx"
    torch.onnx.export(
        wrapper, (x,), str(path), input_names=["img"], output_names=["feats"],
        dynamic_axes={"img": {0: "batch_size"}, "feats": {0: "batch_size"}}, opset_version=17, dynamo=False,
    )
    proto = onnx.load(str(path))
    for key, value in (meta if meta is not None else model.export_meta()).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, encode_meta(value)
    onnx.save(proto, str(path))
    return path


def test_infer_registers_and_matches(tmp_path, capsys):
    infer = importlib.import_module(f"{PROJECT}.infer")
    path = _export(tmp_path)
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (40, 40), (230, 20, 20)).save(red)
    Image.new("RGB", (40, 40), (20, 20, 230)).save(blue)
    matcher = infer.DocumentMatcher(path, threshold=0.0)
    assert matcher.image_size == (SIZE, SIZE)
    matcher.register("red", red)
    matcher.register("blue", blue)
    name, score = matcher.match(red)
    assert name == "red" and score == pytest.approx(1.0, abs=1e-4)
    assert infer.main([str(path), "--register", f"red={red}", "--threshold", "0", str(red)]) == 0
    assert f"{red}\tred\t1.0000" in capsys.readouterr().out
    assert infer.main([str(path), "--register", "oops", str(red)]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_infer_does_not_import_torch():
    code = f"import sys; import {PROJECT}.infer; sys.exit('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _solid(path: Path, rgb, noise: int = 0, seed: int = 0) -> Path:
    pixels = np.clip(np.full((40, 40, 3), rgb, np.int16) + np.random.default_rng(seed).integers(-noise, noise + 1, (40, 40, 3)), 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_infer_uses_every_example_of_a_type(tmp_path):
    infer = importlib.import_module(f"{PROJECT}.infer")
    path = _export(tmp_path)
    red1, red2 = _solid(tmp_path / "red1.png", (230, 20, 20), 40, 1), _solid(tmp_path / "red2.png", (180, 60, 30), 40, 2)
    blue, query = _solid(tmp_path / "blue.png", (20, 20, 230)), _solid(tmp_path / "query.png", (200, 40, 90), 60, 3)
    mean = infer.DocumentMatcher(path, threshold=-1.0)
    mean.register("red", red1)
    mean.register("red", red2)  # a second example of the same type
    mean.register_many("blue", [blue])
    assert mean.examples() == {"red": 2, "blue": 1}
    e_red1, e_red2, e_blue, e_query = mean.embed([red1, red2, blue, query])
    prototype = (e_red1 + e_red2) / np.linalg.norm(e_red1 + e_red2)
    scores = mean.scores(query)
    assert scores["red"] == pytest.approx(float(prototype @ e_query), abs=1e-5)
    assert scores["blue"] == pytest.approx(float(e_blue @ e_query), abs=1e-5)  # one example: itself
    best = infer.DocumentMatcher(path, threshold=-1.0, combine="max")
    best.register_many("red", [red1, red2])
    assert best.scores(query)["red"] == pytest.approx(max(float(e_red1 @ e_query), float(e_red2 @ e_query)), abs=1e-5)
    # The mean of two examples lies between them.
    assert min(e_red1 @ e_query, e_red2 @ e_query) - 1e-5 <= scores["red"] * np.linalg.norm((e_red1 + e_red2) / 2) <= max(e_red1 @ e_query, e_red2 @ e_query) + 1e-5
    with pytest.raises(ValueError, match="combine"):
        infer.DocumentMatcher(path, combine="median")


def test_infer_states_the_rate_of_its_threshold(tmp_path, capsys):
    infer = importlib.import_module(f"{PROJECT}.infer")
    path = _export(tmp_path, calibrated=True)
    red, blue = _solid(tmp_path / "red.png", (230, 20, 20)), _solid(tmp_path / "blue.png", (20, 20, 230))
    matcher = infer.DocumentMatcher(path)
    meta = matcher.meta
    assert matcher.threshold == meta["threshold"] and matcher.threshold_fpr == 1e-3
    matcher.register_many("red", [red])
    matcher.register_many("blue", [blue])
    line = matcher.describe_threshold()
    assert line.startswith(f"threshold {meta['threshold']:.4f}: false-positive rate 0.001 (measured ")
    assert "on 19,500 pairs of different unseen templates" in line and "with 2 types registered" in line and "0.002" in line
    strict = infer.DocumentMatcher(path, fpr=1e-4)
    assert strict.threshold == next(p["threshold"] for p in meta["operating_points"] if p["fpr"] == 1e-4) >= matcher.threshold
    # A threshold of one's own: the rate of the strictest stored point it is at least as strict as.
    assert infer.DocumentMatcher(path, threshold=1.0).threshold_fpr == 1e-4
    assert infer.DocumentMatcher(path, threshold=-1.0).threshold_fpr is None
    with pytest.raises(ValueError, match=r"no stored threshold at FPR 0\.3; stored: 0\.0001, 0\.001, 0\.01"):
        infer.DocumentMatcher(path, fpr=0.3)
    capsys.readouterr()
    assert infer.main([str(path), f"--register=red={red}", f"--register=blue={blue}", str(red)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 examples of 2 types registered (mean of each type's examples)"
    assert out[1] == line and out[2].startswith(f"{red}\tred\t1.0000")
    assert infer.main([str(path), f"--register=red={red}", "--json", "--fpr=1e-2", str(blue)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["threshold_fpr"] == 1e-2 and row["threshold"] == next(p["threshold"] for p in meta["operating_points"] if p["fpr"] == 1e-2)
    assert row["match"] == ("red" if row["score"] >= row["threshold"] else None)


def test_infer_reads_files_exported_before_the_rate_was_measured(tmp_path):
    infer = importlib.import_module(f"{PROJECT}.infer")
    # What the export stored before: a threshold and the rate it was meant for, nothing measured.
    path = _export(tmp_path, meta={"task": "classifier", "image_size": [SIZE, SIZE], "threshold": 0.7, "threshold_fpr": 0.01})
    matcher = infer.DocumentMatcher(path)
    assert matcher.threshold == 0.7 and matcher.threshold_fpr == 0.01
    assert matcher.describe_threshold() == "threshold 0.7000: false-positive rate 0.01"
    bare = infer.DocumentMatcher(_export(tmp_path, meta={"image_size": [SIZE, SIZE]}))
    assert bare.threshold == infer.DEFAULT_THRESHOLD and bare.threshold_fpr is None
    assert "false-positive rate is unknown" in bare.describe_threshold()
