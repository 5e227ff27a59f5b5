"""How a wrong option type is named in the one-line error: ``X expects <type>, got <value>``.

Fast: ``check_options`` against the signatures of small functions.
"""

from typing import Dict, List, Literal, Optional, Union

import pytest

from otter.errors import OtterConfigError
from otter.validate import check_options


def takes_new_union(x: int | None = None): ...


def takes_union(x: Union[int, str] = 0): ...


def takes_optional(x: Optional[float] = None): ...


def takes_list(x: List[int] = ()): ...


def takes_dict(x: Dict[str, int] = {}): ...  # noqa: B006


def takes_literal(x: Literal["step", "epoch"] = "step"): ...


def takes_bare_list(x: list = ()): ...


@pytest.mark.parametrize(
    "target, value, expected",
    [
        (takes_new_union, "a", "int"),
        (takes_union, 1.5, "int or str"),
        (takes_optional, "a", "float"),
        (takes_list, "a", "list[int]"),
        (takes_dict, {"a": "b"}, "dict[str, int]"),
        (takes_literal, "batch", "'step' or 'epoch'"),
        (takes_bare_list, 3, "list"),
    ],
)
def test_a_wrong_type_is_named_readably(target, value, expected):
    with pytest.raises(OtterConfigError) as e:
        check_options(target, {"x": value}, file="c.yaml", key="model.options")
    assert str(e.value) == f"c.yaml: model.options.x: {target.__name__} expects {expected}, got {value!r}"
