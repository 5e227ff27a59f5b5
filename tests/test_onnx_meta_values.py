"""ONNX metadata values, and OnnxModel on files with two outputs, a stored image size that differs
from the input's shape, a dynamic image size, and chosen providers (otter.onnx_meta).

Real ONNX files, small ones built with ``onnx.helper`` (an identity and a doubling of a
``N x 3 x H x W`` image), read by real onnxruntime; no torch export, so fast.
tests/test_onnx_meta.py opens real torch exports.
"""

import json
from pathlib import Path, PurePosixPath

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from otter import onnx_meta
from otter.onnx_meta import OnnxFileError, OnnxModel, decode_meta, encode_meta, read_onnx_meta


def write_model(path, meta=None, batch="N", height=4, width=5):
    """An ONNX file with input ``img`` (batch x 3 x H x W) and outputs ``same`` and ``twice``."""
    shape = [batch, 3, height, width]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["img"], ["same"]), helper.make_node("Add", ["img", "img"], ["twice"])],
        "g",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info("same", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("twice", TensorProto.FLOAT, shape),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (meta or {}).items():
        model.metadata_props.add(key=key, value=encode_meta(value))
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "value, stored",
    [
        ("plain", "plain"),
        ("16", '"16"'),  # a string that reads as JSON is quoted, so it comes back a string
        ("true", '"true"'),
        (16, "16"),
        ([1, 2], "[1, 2]"),
        ({"a": "é"}, '{"a": "é"}'),  # not escaped
        (np.float32(0.5), "0.5"),
        (np.array([[1, 2]]), "[[1, 2]]"),
        (PurePosixPath("/x/y"), '"/x/y"'),
        ({"b", "a"}, '["a", "b"]'),
        (frozenset({2, 1}), "[1, 2]"),
    ],
)
def test_values_are_stored_as_plain_strings_or_json_and_read_back(value, stored):
    assert encode_meta(value) == stored
    back = decode_meta(stored)
    assert back == (value if isinstance(value, str) else json.loads(stored))


def test_a_value_json_cannot_hold_is_refused_by_name():
    with pytest.raises(TypeError, match=r"^object is not JSON serialisable$"):
        encode_meta(object())


def test_metadata_round_trips_through_a_file_and_an_open_session(tmp_path):
    meta = {"task": "classifier", "labels": ["a", "b"], "threshold": 0.25, "version": "16", "inputs": {"img": {"shape": [1, 3]}}}
    path = write_model(tmp_path / "m.onnx", meta)
    assert read_onnx_meta(path) == meta
    assert read_onnx_meta(str(path)) == meta
    assert read_onnx_meta(OnnxModel(path).session) == meta


def test_first_line_of_an_error_without_a_message_is_its_type():
    assert onnx_meta._first_line(RuntimeError("  first\nsecond  ")) == "first"
    assert onnx_meta._first_line(RuntimeError("")) == "RuntimeError"


# --------------------------------------------------------------------------- OnnxModel


def test_two_outputs_all_or_those_named(tmp_path):
    meta = {"normalize": {"mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 2.0]}}
    model = OnnxModel(write_model(tmp_path / "m.onnx", meta), require=["normalize"], outputs=["twice"])
    assert model.path == tmp_path / "m.onnx" and isinstance(model.path, Path)
    assert model.input_name == "img" and model.output_names == ["same", "twice"]
    assert model.dynamic_batch is True and model.image_size == (4, 5)
    normalised = model.normalise(np.ones((2, 3, 4, 5), dtype=np.float64))
    assert normalised.dtype == np.float32 and normalised.flags["C_CONTIGUOUS"] and normalised.shape == (2, 3, 4, 5)
    assert np.allclose(normalised[:, 0], 1.0) and np.allclose(normalised[:, 1], 3.0) and np.allclose(normalised[:, 2], 0.5)
    same, twice = model.run(normalised)
    assert np.array_equal(same, normalised) and np.array_equal(twice, 2 * normalised)
    only = model.run(normalised, outputs=["twice"])
    assert len(only) == 1 and np.array_equal(only[0], 2 * normalised)


def test_a_batch_1_model_runs_a_larger_batch_image_by_image(tmp_path):
    model = OnnxModel(write_model(tmp_path / "m.onnx", batch=1))
    assert model.dynamic_batch is False
    batch = np.random.default_rng(0).random((3, 3, 4, 5), dtype=np.float32)
    same, twice = model.run(batch)
    assert same.shape == (3, 3, 4, 5) and np.array_equal(same, batch) and np.array_equal(twice, 2 * batch)
    only = model.run(batch, outputs=["twice"])
    assert len(only) == 1 and np.array_equal(only[0], 2 * batch)


def test_the_stored_image_size_wins_over_the_input_shape(tmp_path):
    assert OnnxModel(write_model(tmp_path / "m.onnx", {"image_size": [8, 9]})).image_size == (8, 9)


def test_a_dynamic_image_size_without_metadata_is_refused(tmp_path):
    path = write_model(tmp_path / "m.onnx", height="H")
    with pytest.raises(OnnxFileError, match=r"m\.onnx: no image size in its metadata and a dynamic input shape \['N', 3, 'H', 5\]$"):
        OnnxModel(path)


def test_refusals_list_every_missing_key_and_output(tmp_path):
    path = write_model(tmp_path / "m.onnx", {"task": "aligner"})
    with pytest.raises(OnnxFileError, match=r"m\.onnx: its metadata lacks labels, threshold; export it with"):
        OnnxModel(path, require=["task", "labels", "threshold"])
    with pytest.raises(OnnxFileError, match=r"m\.onnx: no output feats, logits \(its outputs: same, twice\)$"):
        OnnxModel(path, outputs=["same", "feats", "logits"])


def test_providers_are_passed_to_onnxruntime(tmp_path):
    path = write_model(tmp_path / "m.onnx")
    assert OnnxModel(path).session.get_providers() == ["CPUExecutionProvider"]
    providers = [p for p in ("AzureExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    assert OnnxModel(path, providers).session.get_providers() == providers
