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


# --------------------------------------------------------------------------- #
# Loading limits: what a hostile or careless file gets (one line, exit 2, fast)
# --------------------------------------------------------------------------- #


def check_line(capsys, *args):
    """Run `otter check` in-process; return (exit code, stderr lines)."""
    from otter.cli import main

    code = main(["check", *map(str, args)])
    return code, capsys.readouterr().err.splitlines()


ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_in_one_line(tmp_path, capsys):
    import time

    bomb = write(tmp_path / "bomb.yaml", ALIAS_BOMB)
    start = time.perf_counter()
    code, err = check_line(capsys, bomb)
    assert time.perf_counter() - start < 30  # a generous bound: unbounded expansion never finishes
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"{bomb}: its aliases (*name) expand to more than 100000 values")


def test_ordinary_aliases_still_work(tmp_path):
    path = write(tmp_path / "a.yaml", "x: &size [8, 8]\ncommon: {image_size: *size}\ny: {<<: {k: 1}, j: 2}\n")
    data = read_config(path)
    assert data["common"]["image_size"] == [8, 8] and data["y"] == {"k": 1, "j": 2}


def test_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path / "r.yaml", "a: &a [1, *a]\n")
    with pytest.raises(OtterConfigError, match=r"r\.yaml: line 1: an alias refers to a value that contains it"):
        read_config(path)


def test_duplicate_keys_name_the_key_path_and_both_lines(tmp_path):
    path = write(tmp_path / "d.yaml", "optimizer:\n  name: SGD\n  options:\n    lr: 0.1\n    momentum: 0.9\n    lr: 0.5\n")
    with pytest.raises(OtterConfigError) as e:
        read_config(path)
    assert str(e.value) == (
        f"{path}: optimizer.options.lr: duplicate key (lines 4 and 6); YAML would keep only the last one silently. Keep one"
    )


def test_duplicate_top_level_section_and_list_item_paths(tmp_path):
    path = write(tmp_path / "d.yaml", "common: {}\ncallbacks:\n  - name: A\n    name: B\ncommon: {}\n")
    with pytest.raises(OtterConfigError, match=r"d\.yaml: common: duplicate key \(lines 1 and 5\)"):
        read_config(path)
    path.write_text("common: {}\ncallbacks:\n  - name: A\n  - name: A\n    name: B\n")
    with pytest.raises(OtterConfigError, match=r"d\.yaml: callbacks\.1\.name: duplicate key \(lines 4 and 5\)"):
        read_config(path)


def test_duplicate_key_in_an_override_value():
    with pytest.raises(OtterConfigError, match=r"^command line: trainer\.x: duplicate key"):
        apply_overrides({}, ["trainer={x: 1, x: 2}"])


def test_merge_keys_may_repeat_what_they_override(tmp_path):
    path = write(tmp_path / "m.yaml", "base: &b {lr: 0.1}\nopt: {<<: *b, lr: 0.2}\n")
    assert read_config(path)["opt"] == {"lr": 0.2}


def test_oversized_file_is_refused_before_reading(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(11 * 2**20)  # sparse: 11 MB of zero bytes without writing them
    code, err = check_line(capsys, big)
    assert code == 2 and err == [f"{big}: the file is 11.0 MB; a config may be at most 10 MB"]


def test_non_utf8_names_the_byte_offset(tmp_path, capsys):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("common:\n  note: caf".encode() + b"\xe9\n")
    code, err = check_line(capsys, bad)
    assert code == 2
    assert err == [f"{bad}: not UTF-8: byte 0xe9 at offset 19 (line 2); save the file as UTF-8"]


def test_deep_nesting_is_one_line(tmp_path, capsys):
    deep = write(tmp_path / "deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    code, err = check_line(capsys, deep)
    assert code == 2 and len(err) == 1 and err[0].startswith(str(deep))


@pytest.mark.parametrize("base", ["../outside.yaml", "../outside", "sub/../../outside.yaml"])
def test_base_outside_the_config_folder_is_refused(tmp_path, base):
    write(tmp_path / "outside.yaml", "common: {batch_size: 1}\n")
    child = write(tmp_path / "config" / "child.yaml", f"_base_: {base}\n")
    with pytest.raises(OtterConfigError, match=rf"child\.yaml: _base_: base config '{base}' is outside the config folder"):
        read_config(child)


def test_absolute_base_outside_is_refused_and_subfolder_base_is_read(tmp_path):
    outside = write(tmp_path / "outside.yaml", "common: {batch_size: 1}\n")
    child = write(tmp_path / "config" / "child.yaml", f"_base_: {outside}\n")
    with pytest.raises(OtterConfigError, match="is outside the config folder"):
        read_config(child)
    write(tmp_path / "config" / "shared" / "opt.yaml", "optimizer: {name: SGD}\n")
    write(tmp_path / "config" / "shared" / "more.yaml", "_base_: opt.yaml\ncommon: {seed: 1}\n")
    child.write_text("_base_: shared/more.yaml\n")
    assert read_config(child) == {"optimizer": {"name": "SGD"}, "common": {"seed": 1}}


def test_a_dotted_name_is_its_own_config(tmp_path):
    from otter.config import config_name

    write(tmp_path / "config" / "tiny.yaml", "{}")
    v2 = write(tmp_path / "config" / "tiny.v2.yaml", "{}")
    assert find_config("tiny.v2", tmp_path) == v2
    assert config_name(v2) == config_name("tiny.v2") == "tiny.v2"
    assert config_name("config/a.yml") == "a"
    with pytest.raises(OtterConfigError, match=r"unknown config 'tiny\.v3' \(did you mean 'tiny\.v2'.*configs in .*: tiny, tiny\.v2"):
        find_config("tiny.v3", tmp_path)


def test_a_dotted_config_trains_into_its_own_run_folder(project):
    import tinyproj

    (project / "config" / "tiny.v2.yaml").write_text((project / "config" / "tiny.yaml").read_text())
    trainer, _, cfg = tinyproj.train(project, "tiny.v2", ["trainer.max_epochs=1", "dataset.train_options.options.length=8"])
    assert cfg.name == "tiny.v2" and trainer.global_step == 2
    assert (project / "runs" / "tiny.v2" / cfg.name_ind / "config.yaml").is_file()
    assert not (project / "runs" / "tiny").exists()


@pytest.mark.parametrize("name", ["my config", "-x", ".hidden", "a$b", "naïve"])
def test_names_that_cannot_be_a_folder_are_refused_at_check(tmp_path, capsys, name):
    from tinyproj import TINY_CONFIG

    path = write(tmp_path / f"{name}.yaml", TINY_CONFIG)
    code, err = check_line(capsys, path)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"{path}: config name {name!r} cannot name its run folder runs/<cfg_name>/; use letters")


@pytest.mark.parametrize("name", ["../tiny", "sub/tiny", ".."])
def test_a_config_name_is_never_a_path(project, name):
    with pytest.raises(OtterConfigError, match="cannot name its run folder"):
        find_config(name, project)
