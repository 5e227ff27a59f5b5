"""The onnx: section, validated by the same pydantic mechanism and error shape as every other section."""

import copy

import pytest
import yaml

from otter.errors import OtterConfigError
from otter.schema import OnnxSection, validate_onnx_section


def tiny_section(**changes):
    """A valid section for a 3x16x16 image input with a dynamic batch axis."""
    section = {
        "name": "TinyWrapper",
        "input_shape": {"img": {"shape": [1, 3, 16, 16], "dtype": "float32"}},
        "input_names": ["img"],
        "output_names": ["feats"],
        "dynamic_axes": {"img": {"0": "batch_size"}, "feats": {"0": "batch_size"}},
        "options": {"opset_version": 17, "do_constant_folding": True},
    }
    section.update(changes)
    return section


# --------------------------------------------------------------------------- #
# validate_onnx_section
# --------------------------------------------------------------------------- #


@pytest.fixture
def seed_onnx(seed_config):
    return yaml.safe_load(seed_config.read_text())["onnx"]


def test_seed_section_fails_only_on_dynamic_axes_output(seed_onnx):
    with pytest.raises(OtterConfigError, match=r"onnx\.dynamic_axes\.output: 'output' names no input or output") as e:
        validate_onnx_section(seed_onnx, file="seed.yaml")
    assert e.value.key == "onnx.dynamic_axes.output" and e.value.file == "seed.yaml"
    assert "outputs: feats" in str(e.value)

    fixed = copy.deepcopy(seed_onnx)
    fixed["dynamic_axes"]["feats"] = fixed["dynamic_axes"].pop("output")
    validate_onnx_section(fixed)  # nothing else in the seed's section is wrong


def test_dynamic_axes_key_naming_nothing_suggests_a_close_name():
    section = tiny_section(dynamic_axes={"imgs": {0: "batch_size"}})
    with pytest.raises(OtterConfigError, match=r"onnx\.dynamic_axes\.imgs: .*did you mean 'img'"):
        validate_onnx_section(section)


@pytest.mark.parametrize(
    "changes, key, text",
    [
        ({"input_name": ["img"]}, r"onnx\.input_name", "did you mean 'input_names'"),
        ({"options": {"opset_versoin": 17}}, r"onnx\.options\.opset_versoin", "did you mean 'opset_version'"),
        ({"options": {"input_names": ["img"]}}, r"onnx\.options\.input_names", "set by Otter from onnx.input_names"),
        ({"options": {"verbose": "no"}}, r"onnx\.options\.verbose", "expected true or false"),
        ({"options": {"external_data": False}}, r"onnx\.options\.external_data", "only used by the dynamo exporter"),
        ({"input_names": ["image"]}, r"onnx\.input_names\.0", "no entry in onnx.input_shape"),
        ({"output_names": ["img"]}, r"onnx\.output_names\.0", "also an input name"),
        ({"input_shape": {"img": {"shape": [1, 3, 16, 16], "dtype": "float"}}}, r"onnx\.input_shape\.img\.dtype", "'float32'"),
        ({"input_shape": {"img": {"shape": [1, 0, 16]}}}, r"onnx\.input_shape\.img\.shape", "positive ints"),
        ({"dynamic_axes": {"img": {"4": "x"}}}, r"onnx\.dynamic_axes\.img\.4", "out of range"),
        ({"dynamic_axes": {"img": {"batch": "x"}}}, r"onnx\.dynamic_axes\.img\.batch", "axis number"),
        ({"additional_meta_info": {"opset": 3}}, r"onnx\.additional_meta_info\.opset", "Otter writes"),
        ({"additional_meta_info": {"labels": ["a"]}}, r"onnx\.additional_meta_info\.labels", "string, number or boolean"),
    ],
)
def test_section_errors_name_the_key(changes, key, text):
    with pytest.raises(OtterConfigError, match=key) as e:
        validate_onnx_section(tiny_section(**changes))
    assert text in str(e.value)


def test_missing_required_key():
    section = tiny_section()
    del section["output_names"]
    with pytest.raises(OtterConfigError, match=r"onnx\.output_names: missing required key"):
        validate_onnx_section(section)


@pytest.mark.parametrize(
    "changes, line",
    [
        ({"input_shape": {"img": {"shape": [1, 3], "dtyp": "float32"}}}, "onnx.input_shape.img.dtyp: unknown key (did you mean 'dtype'?)"),
        ({"input_names": "img"}, "onnx.input_names: input should be a valid list, got 'img'"),
        ({"output_names": [3]}, "onnx.output_names.0: input should be a valid string, got 3"),
        ({"name": ""}, "onnx.name: expected the registered name of an ONNX wrapper, got ''"),
        ({"input_shape": {"img": {"dtype": "float32"}}}, "onnx.input_shape.img.shape: missing required key"),
        ({"options": {"opset_version": 3}}, "onnx.options.opset_version: expected an ONNX opset number such as 17, got int 3"),
        ({"output_names": ["feats", "feats"]}, "onnx.output_names.1: 'feats' is listed twice"),
    ],
)
def test_pydantic_and_cross_key_errors_have_one_shape(changes, line):
    with pytest.raises(OtterConfigError) as e:
        validate_onnx_section(tiny_section(**changes), file="c.yaml")
    assert str(e.value) == f"c.yaml: {line}"


def test_the_section_is_a_pydantic_model_that_forbids_extra_keys():
    assert OnnxSection.model_config["extra"] == "forbid"
    assert validate_onnx_section(tiny_section()) is None
