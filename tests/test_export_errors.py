"""How export errors quote the exception behind them: its first line, or its type when it has no message.

Fast: the helper that every export error goes through (``onnx.checker``, the exporter, onnxruntime).
"""

from otter import export


def test_the_first_line_of_the_reason_is_quoted():
    assert export._first_line(RuntimeError("  graph is invalid\n  at node 3  ")) == "graph is invalid"


def test_a_reason_without_a_message_is_named_by_its_type():
    assert export._first_line(ValueError()) == "ValueError"
    assert export._first_line(RuntimeError("  \n ")) == "RuntimeError"
