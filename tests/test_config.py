import pickle

import pytest
import yaml

from otter.config import Config, apply_overrides, dump_config, find_config, load_config, read_config
from otter.errors import OtterConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_has_attribute_and_item_access_recursively():
    cfg = Config({"common": {"batch_size": 4}, "callbacks": [{"name": "X", "options": {"a": 1}}]})
    assert cfg.common.batch_size == cfg["common"]["batch_size"] == 4
    assert cfg.callbacks[0].options.a == 1
    assert hasattr(cfg, "common") and not hasattr(cfg, "nothing")
    cfg.extra = {"k": 1}
    assert cfg["extra"].k == 1
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert type(cfg.to_dict()["common"]) is dict


def test_base_configs_deep_merge_in_order(tmp_path):
    write(tmp_path / "a.yaml", "common: {batch_size: 8, image_size: [32, 32]}\noptimizer: {name: SGD, options: {lr: 0.1}}\n")
    write(tmp_path / "b.yaml", "optimizer: {options: {momentum: 0.9}}\n")
    child = write(tmp_path / "child.yaml", "_base_: [a.yaml, b]\ncommon: {batch_size: 2}\n")
    data = read_config(child)
    assert data["common"] == {"batch_size": 2, "image_size": [32, 32]}
    assert data["optimizer"] == {"name": "SGD", "options": {"lr": 0.1, "momentum": 0.9}}
    assert "_base_" not in data


def test_circular_and_missing_bases_are_errors(tmp_path):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(OtterConfigError, match=r"b\.yaml: _base_: circular"):
        read_config(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", "_base_: nope.yaml\n")
    with pytest.raises(OtterConfigError, match=r"c\.yaml: _base_: base config 'nope\.yaml' not found .*a\.yaml, b\.yaml, c\.yaml"):
        read_config(tmp_path / "c.yaml")


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = write(tmp_path / "bad.yaml", "common:\n  batch_size: [1, 2\n  seed: 3\n")
    with pytest.raises(OtterConfigError) as e:
        read_config(bad)
    assert str(e.value).startswith(f"{bad}: YAML syntax error at line 3, column")


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(OtterConfigError, match="expected a mapping of sections"):
        read_config(write(tmp_path / "list.yaml", "- a\n- b\n"))


def test_overrides_parse_yaml_values_and_index_lists():
    data = {"optimizer": {"options": {"lr": 0.1}}, "callbacks": [{"name": "A", "options": {"monitor": "x"}}]}
    out = apply_overrides(
        data,
        ["optimizer.options.lr=1e-3", "callbacks.0.options.monitor=valid_auc", "trainer.devices=[0, 1]", "common.flag=true"],
    )
    assert out["optimizer"]["options"]["lr"] == 0.001
    assert out["callbacks"][0]["options"]["monitor"] == "valid_auc"
    assert out["trainer"]["devices"] == [0, 1]
    assert out["common"]["flag"] is True
    assert data["optimizer"]["options"]["lr"] == 0.1  # input untouched


@pytest.mark.parametrize(
    "override, match",
    [
        ("no_equals_sign", r"not of the form key\.path=value"),
        ("callbacks.3.name=X", r"callbacks\.3: index 3 is out of range \(the list has 1 items\)"),
        ("callbacks.first.name=X", r"callbacks\.first: callbacks is a list; index it with a number"),
        ("optimizer.name.x=1", r"optimizer\.name\.x: cannot set a key inside a str"),
    ],
)
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(OtterConfigError, match=match) as e:
        apply_overrides({"optimizer": {"name": "SGD"}, "callbacks": [{"name": "A"}]}, [override])
    assert str(e.value).startswith("command line: ")


def test_find_config_lists_the_configs_there(tmp_path):
    write(tmp_path / "config" / "default.yaml", "{}")
    write(tmp_path / "config" / "gpu.yaml", "{}")
    assert find_config("default", tmp_path) == tmp_path / "config" / "default.yaml"
    with pytest.raises(OtterConfigError, match=r"unknown config 'defualt' \(did you mean 'default'\?\); configs in .*: default, gpu"):
        find_config("defualt", tmp_path)


def test_load_derives_batch_size_and_fills_common_defaults(project):
    cfg = load_config(project / "config" / "tiny.yaml", ["common.batch_size=2"])
    assert cfg.dataloader.train_options.batch_size == 2
    assert cfg.common.is_restore is False and cfg.common.restore_all_states is False


def test_minus_one_batch_size_needs_common_batch_size(tmp_path):
    from tinyproj import TINY_CONFIG

    path = write(tmp_path / "c.yaml", TINY_CONFIG.replace("  batch_size: 4\n", "", 1))
    with pytest.raises(OtterConfigError, match=r"c\.yaml: dataloader\.train_options\.batch_size: batch_size: -1 means"):
        load_config(path)


def test_dumped_config_loads_again(project, tmp_path):
    cfg = load_config(project / "config" / "tiny.yaml", ["optimizer.options.lr=0.5"])
    cfg.name, cfg.name_ind, cfg.root_dir = "tiny", "x", "/tmp/x"  # run-time keys are left out
    out = tmp_path / "saved.yaml"
    dump_config(cfg, out)
    assert list(yaml.safe_load(out.read_text()))[0] == "common"
    again = load_config(out)
    assert again.optimizer.options.lr == 0.5 and "name_ind" not in again


def test_yaml_tags_are_not_executed(tmp_path):
    path = write(tmp_path / "evil.yaml", "common: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(OtterConfigError, match="YAML syntax error"):
        read_config(path)
    assert not (tmp_path / "pwned").exists()
