"""Validation: every problem is reported as <file>: <key.path>: <message>, with a suggestion where one is close."""

import pytest
import yaml

from otter.config import OtterConfigWarning, load_config
from otter.errors import OtterConfigError
from otter.validate import Scope, validate_config


@pytest.fixture
def tiny(tmp_path):
    from tinyproj import TINY_CONFIG

    def make(edit=None, *, scope=True, mode="train"):
        data = yaml.safe_load(TINY_CONFIG)
        if edit:
            edit(data)
        import tinyproj

        return validate_config(data, file="cfg.yaml", mode=mode, scope=Scope([tinyproj]) if scope else None)

    return make


SEED_PROJECT_NAMES = ("ClassifierModel", "FeatureLearningSqueezeLBNHead", "CosFace", "SynthDataset", "RealDataset", "WarpFeatureLearning")


@pytest.fixture
def no_project_classes(monkeypatch):
    """The registries as outside any project: a test that imported a baked classifier in this
    process has registered the classifier's classes, which would make them known here."""
    from otter import registry

    for reg in (registry.MODELS, registry.DATASETS, registry.ONNX_WRAPPERS):
        reg.names()  # built-ins loaded first, so the copy below keeps them
        monkeypatch.setattr(reg, "_entries", {k: v for k, v in reg._entries.items() if k not in SEED_PROJECT_NAMES})


def test_seed_example_validates_with_only_the_onnx_warning(seed_config, no_project_classes):
    data = yaml.safe_load(seed_config.read_text())
    report = validate_config(data, file=str(seed_config), mode="check")
    assert len(report.warnings) == 1
    assert "onnx.dynamic_axes.output" in report.warnings[0]
    unchecked = " ".join(report.unchecked)
    for name in SEED_PROJECT_NAMES:
        assert name in unchecked


def test_onnx_problems_are_errors_for_export(seed_config):
    data = yaml.safe_load(seed_config.read_text())
    with pytest.raises(OtterConfigError, match=r"onnx\.dynamic_axes\.output"):
        validate_config(data, file=str(seed_config), mode="to_onnx")


def test_onnx_warning_reaches_the_user_when_loading(project):
    path = project / "config" / "tiny.yaml"
    with pytest.warns(OtterConfigWarning, match=r"onnx\.dynamic_axes\.probz"):
        load_config(path, ["onnx.dynamic_axes.probz={0: batch}"], scope=None)


def test_tiny_project_config_is_valid(tiny):
    report = tiny()
    assert report.warnings == [] and report.unchecked == []


def _set(path, value):
    def edit(data):
        node = data
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1]] = value

    return edit


def _delete(path):
    def edit(data):
        node = data
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]

    return edit


@pytest.mark.parametrize(
    "edit, expected",
    [
        (_set("optimzer", {}), r"cfg\.yaml: optimzer: unknown key \(did you mean 'optimizer'\?\)"),
        (_delete("optimizer"), r"cfg\.yaml: optimizer: missing required key"),
        (_set("common.batch_size", "four"), r"cfg\.yaml: common\.batch_size: input should be a valid integer.*'four'"),
        (_set("common.batch_size", 0), r"cfg\.yaml: common\.batch_size: .*positive"),
        (_set("common.is_restore", "maybe"), r"common\.is_restore: input should be a valid boolean"),
        (_set("dataset.train_options.nme", "x"), r"dataset\.train_options\.nme: unknown key \(did you mean 'name'\?\)"),
        (_set("optimizer.name", "AdamWW"), r"optimizer\.name: unknown name 'AdamWW' in optimizers \(did you mean 'AdamW'"),
        (_set("optimizer.options.betaz", [0.9, 0.99]), r"optimizer\.options\.betaz: AdamW has no option 'betaz' \(did you mean 'betas'\?\)"),
        (_set("optimizer.options.lr", "fast"), r"optimizer\.options\.lr: AdamW expects .*, got 'fast'"),
        (_set("optimizer.options.params", []), r"optimizer\.options\.params: 'params' is filled in by Otter"),
        (_set("lr_scheduler.name", "PolynomialLRWarmUp"), r"lr_scheduler\.name: .*did you mean 'PolynomialLRWarmup'"),
        (_set("lr_scheduler.options.warmup_iter", 3), r"lr_scheduler\.options\.warmup_iter: .*did you mean 'warmup_iters'"),
        (_set("lr_scheduler.pl_options.intervall", "step"), r"lr_scheduler\.pl_options\.intervall: unknown key \(did you mean 'interval'\?\)"),
        (_set("lr_scheduler.pl_options.interval", "batch"), r"lr_scheduler\.pl_options\.interval: expected 'step' or 'epoch'"),
        (_set("callbacks.0.name", "ModelCheckpint"), r"callbacks\.0\.name: .*did you mean 'ModelCheckpoint'"),
        (_set("callbacks.0.options.save_top", 3), r"callbacks\.0\.options\.save_top: ModelCheckpoint has no option 'save_top' \(did you mean 'save_top_k'"),
        (_set("callbacks.0.options.save_top_k", "all"), r"callbacks\.0\.options\.save_top_k: ModelCheckpoint expects int, got 'all'"),
        (_set("callbacks.0.options.save_last", "always"), r"callbacks\.0\.options\.save_last: ModelCheckpoint expects bool or 'link', got 'always'"),
        (_set("callbacks", [{"name": "EarlyStopping"}]), r"callbacks\.0\.options: EarlyStopping needs option 'monitor'"),
        (_set("logger", {"name": "CSVLogger", "options": {"save_dri": "x"}}), r"logger\.options\.save_dri: CSVLogger has no option 'save_dri' \(did you mean 'save_dir'"),
        (_set("optimizer.options.foo", 1), r"optimizer\.options\.foo: AdamW has no option 'foo'; it takes: lr, betas, eps, weight_decay, amsgrad, "),
        (_set("logger", [{"name": "CSVLoger"}]), r"logger\.0\.name: unknown name 'CSVLoger' in loggers \(did you mean 'CSVLogger'"),
        (_set("trainer.max_epoch", 3), r"trainer\.max_epoch: Trainer has no option 'max_epoch' \(did you mean 'max_epochs'"),
        (_set("trainer.max_epochs", "many"), r"trainer\.max_epochs: Trainer expects .*got 'many'"),
        (_set("trainer.logger", False), r"trainer\.logger: Otter sets 'logger'; set it in the 'logger' section"),
        (_set("dataloader.train_options.num_worker", 2), r"dataloader\.train_options\.num_worker: DataLoader has no option 'num_worker' \(did you mean 'num_workers'"),
        (_set("dataset.train_options.options.lenght", 3), r"dataset\.train_options\.options\.lenght: TinyDataset has no option 'lenght' \(did you mean 'length'"),
        (_set("dataset.train_options.name", "TinyDatset"), r"dataset\.train_options\.name: unknown name 'TinyDatset' in datasets or tinyproj \(did you mean 'TinyDataset'"),
        (_set("global_settings.img_size", 3), r"global_settings\.img_size: TinyDataset has no option 'img_size'"),
        (_delete("dataset.train_options.options.length"), r"dataset\.train_options\.options: TinyDataset needs option 'length'"),
        (_set("model.name", "TinyModl"), r"model\.name: unknown name 'TinyModl' .*did you mean 'TinyModel'"),
        (_set("model.head.options.hiden", 3), r"model\.head\.options\.hiden: TinyHead has no option 'hiden' \(did you mean 'hidden'"),
        (_set("model.head.options.hidden", "wide"), r"model\.head\.options\.hidden: TinyHead expects int, got 'wide'"),
    ],
)
def test_each_problem_is_reported_with_its_key_path(tiny, edit, expected):
    with pytest.raises(OtterConfigError, match=expected):
        tiny(edit)


def test_project_names_outside_a_project_are_noted_not_failed(tiny):
    report = tiny(scope=False)
    assert any("model.name: 'TinyModel' is not registered here" in m for m in report.unchecked)
    assert any("dataset.train_options.name" in m for m in report.unchecked)


def test_onnx_section_problem_is_a_warning_for_train_and_error_for_export(tiny):
    edit = _set("onnx.dynamic_axes.logits", {0: "batch"})
    report = tiny(edit)
    assert len(report.warnings) == 1 and "onnx.dynamic_axes.logits" in report.warnings[0]
    with pytest.raises(OtterConfigError, match=r"onnx\.dynamic_axes\.logits"):
        tiny(edit, mode="to_onnx")


def test_export_needs_an_onnx_section(tiny):
    with pytest.raises(OtterConfigError, match=r"cfg\.yaml: onnx: missing the onnx section"):
        tiny(_delete("onnx"), mode="to_onnx")


def test_logger_may_be_a_list(tiny):
    assert tiny(_set("logger", [{"name": "TensorBoardLogger"}, {"name": "CSVLogger"}])).warnings == []
