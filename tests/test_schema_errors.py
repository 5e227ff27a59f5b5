"""The one-line shape errors of a config in detail: which of several problems is named, the
logger's two forms (one entry or a list), long values cut short, metadata keys.

Fast: ``validate_shape`` / ``validate_onnx_section`` on small dicts.
"""

import pytest

from otter.errors import OtterConfigError
from otter.schema import validate_onnx_section, validate_shape


def config(**sections):
    return {"common": {}, "model": {"name": "M"}, "dataset": {}, "optimizer": {"name": "SGD"}, **sections}


def shape_error(**sections):
    with pytest.raises(OtterConfigError) as e:
        validate_shape(config(**sections), "c.yaml")
    return str(e.value)


@pytest.mark.parametrize(
    "logger, expected",
    [
        # One entry: pydantic also reports that it is not a list; the entry's own problem is named.
        ({"name": "X", "optons": {}}, "logger.optons: unknown key (did you mean 'options'?)"),
        ({"name": "X", "options": "nd"}, "logger.options: input should be a valid dictionary, got 'nd'"),
        # A list: its item's problem, not that the list is not one entry.
        ([{"name": "X", "optons": 1}], "logger.0.optons: unknown key (did you mean 'options'?)"),
        (5, "logger: input should be a valid dictionary or instance of NamedEntry, got 5"),
    ],
)
def test_the_logger_error_names_the_problem_in_the_users_form(logger, expected):
    assert shape_error(logger=logger) == f"c.yaml: {expected}"


def test_of_several_problems_the_first_is_named_not_the_deepest():
    text = shape_error(common={"batch_size": 0}, dataset={"train_options": {"name": "D", "optons": {}}})
    assert text == "c.yaml: common.batch_size: value error, must be a positive integer, got 0"


def test_a_long_value_is_cut_short():
    text = shape_error(common={"batch_size": "x" * 100})
    value = text.split(", got ", 1)[1]
    assert value == repr("x" * 100)[:77] + "..." and len(value) == 80
    short = shape_error(common={"batch_size": "x" * 78})  # its repr is exactly 80 characters
    assert short.endswith(", got " + repr("x" * 78))


def test_an_unknown_scheduler_key_suggests_the_known_ones():
    assert shape_error(lr_scheduler={"name": "S", "pl_option": {}}) == (
        "c.yaml: lr_scheduler.pl_option: unknown key (did you mean 'pl_options' or 'options'?)"
    )


def test_metadata_keys_must_be_strings():
    section = {
        "name": "W",
        "input_names": ["img"],
        "output_names": ["o"],
        "input_shape": {"img": {"shape": [1, 3, 4, 4]}},
        "additional_meta_info": {1: "a"},
    }
    with pytest.raises(OtterConfigError) as e:
        validate_onnx_section(section, "c.yaml")
    assert str(e.value) == "c.yaml: onnx.additional_meta_info.1: keys must be strings, got int 1"
