"""Reading one YAML config file, within limits: the ground under :mod:`otter.config`.

``yaml.safe_load`` only (nothing in a file is executed), with YAML 1.2 floats
(``1e-3``). Refused, each as one :class:`~otter.errors.OtterConfigError` line:
files over :data:`MAX_CONFIG_BYTES`, bytes that are not UTF-8 (with their
offset), duplicate keys in any mapping (with both lines), aliases that expand
beyond :data:`MAX_EXPANDED_NODES` values or into themselves, and nesting too
deep to read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from .errors import OtterConfigError

__all__ = ["safe_load", "read_yaml", "MAX_CONFIG_BYTES", "MAX_EXPANDED_NODES", "OVERRIDES_SOURCE"]

#: Where overrides come from, in error lines.
OVERRIDES_SOURCE = "command line"


_LOADER: Any = None


def _yaml_loader() -> Any:
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a float (YAML 1.2), as people write learning rates."""
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(
                r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |\.[0-9_]+(?:[eE][-+][0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""",
                re.X,
            ),
            list("-+0123456789."),
        )
        _LOADER = Loader
    return _LOADER


#: Larger files are refused before they are read: a config is a few kilobytes.
MAX_CONFIG_BYTES = 10 * 1024 * 1024
#: Values a document may hold once its aliases are expanded; an "alias bomb" of a
#: few hundred bytes would otherwise expand to billions when merged or validated.
MAX_EXPANDED_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _key_text(node: Any) -> str:
    return str(node.value) if hasattr(node, "value") and isinstance(node.value, str) else "?"


def _inspect_nodes(root: Any, where: str) -> None:
    """Refuse duplicate keys, recursive aliases and alias expansion beyond :data:`MAX_EXPANDED_NODES`.

    Works on the composed node graph, where an alias is the same node object seen
    twice, so a bomb is measured without being expanded. Iterative, so deep nesting
    does not hit Python's recursion limit.
    """
    import yaml

    size: Dict[int, int] = {}
    open_nodes: set = set()
    stack: List[tuple] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            if isinstance(node, yaml.MappingNode):
                kids = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                kids = node.value
            else:
                kids = []
            size[key] = 1 + sum(size[id(k)] for k in kids)
            if size[key] > MAX_EXPANDED_NODES:
                raise OtterConfigError(
                    f"its aliases (*name) expand to more than {MAX_EXPANDED_NODES} values; refused "
                    "(an alias bomb?). Write the values out, or share them with _base_",
                    file=where,
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            mark = node.start_mark
            raise OtterConfigError(
                f"line {mark.line + 1}: an alias refers to a value that contains it (a recursive alias)",
                file=where,
            )
        open_nodes.add(key)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, False) for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, False) for n in node.value)

    # Duplicate keys: each distinct node once, with the first path that reaches it.
    seen: set = set()
    walk: List[tuple] = [(root, ())]
    while walk:
        node, path = walk.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: Dict[Any, int] = {}
            for k, v in node.value:
                if k.tag == _MERGE_TAG:
                    continue
                if isinstance(k, yaml.ScalarNode):
                    ident = (k.tag, k.value)
                    if ident in first:
                        raise OtterConfigError(
                            f"duplicate key (lines {first[ident] + 1} and {k.start_mark.line + 1}); "
                            "YAML would keep only the last one silently. Keep one",
                            file=where,
                            key=".".join([*path, k.value]),
                        )
                    first[ident] = k.start_mark.line
                walk.append((v, (*path, _key_text(k))))
        elif isinstance(node, yaml.SequenceNode):
            walk.extend((v, (*path, str(i))) for i, v in enumerate(node.value))


def safe_load(text: str, where: str = OVERRIDES_SOURCE) -> Any:
    """``yaml.safe_load`` with floats like ``1e-3`` understood; no tags are executed.

    Duplicate keys, recursive aliases and alias expansion beyond :data:`MAX_EXPANDED_NODES`
    are refused with :class:`OtterConfigError` (``where`` names the source in the message).

    Raises:
        yaml.YAMLError: a syntax error.
        OtterConfigError: see above.
    """
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _inspect_nodes(node, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Dict[str, Any]:
    import yaml

    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise OtterConfigError(
                f"the file is {size / 2**20:.1f} MB; a config may be at most {MAX_CONFIG_BYTES // 2**20} MB",
                file=str(path),
            )
        raw = path.read_bytes()
    except OSError as e:
        raise OtterConfigError(f"cannot read: {e.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise OtterConfigError(
            f"not UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start} (line {line}); save the file as UTF-8",
            file=str(path),
        ) from None
    try:
        data = safe_load(text, str(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise OtterConfigError(f"YAML syntax error at {where}{problem}", file=str(path)) from None
    except RecursionError:
        raise OtterConfigError("nested too deeply to read", file=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OtterConfigError(f"expected a mapping of sections at the top, got {type(data).__name__}", file=str(path))
    return data
