"""Reference pages written from the code, in English and Japanese.

Nothing here is kept by hand: the config reference walks the pydantic models that
validate a config, the CLI page captures ``--help``, the API page lists Otter's
modules for mkdocstrings, and the task pages get the figures of the last demo run
that ``scripts/docs_assets.bash`` copied into ``docs/assets/demo/``. ``gen_pages.py``
calls these functions during ``mkdocs build``; the tests call them directly.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import os
import re
import typing
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
DEMO_ASSETS = DOCS / "assets" / "demo"
LANGS = ("en", "ja")

T = {
    "en": {
        "config_title": "Config reference",
        "config_intro": (
            "Every section and key a config may hold, with its type, its default and what it means. "
            "This page is generated from the schema Otter validates configs with "
            "(`{module}`), so it always matches the code. "
            "How configs are written, inherited and overridden: [Configs](../config.md)."
        ),
        "sections": "Sections",
        "section": "section",
        "key": "key",
        "type": "type",
        "default": "default",
        "required": "required",
        "meaning": "meaning",
        "yes": "yes",
        "no": "no",
        "or": " or ",
        "extra_allowed": "Other keys are allowed here too (a project's own settings).",
        "extra_forbidden": "Any other key is an error (with the closest known key suggested).",
        "shapes": "Nested shapes",
        "used_at": "Used at",
        "cli_title": "Command line",
        "cli_intro": (
            "The `--help` of every command, captured from the parsers themselves when this site was built. "
            "Errors print one line, `<file>: <key.path>: <message>`, and exit with code 2 "
            "([troubleshooting](../troubleshooting.md))."
        ),
        "cli_otter": "`otter`: the library's command",
        "cli_project": "`python -m MyProj.model`: a project's command",
        "cli_project_intro": (
            "Every project made from the template has this command (here for a project named `MyProj`); "
            "run it from the folder that holds `MyProj/`."
        ),
        "api_title": "Python API",
        "api_intro": (
            "Generated from the docstrings of each module of `otter`. "
            "The names most projects use are re-exported by `import otter` "
            "(`otter.MODELS`, `otter.BaseMixin`, `otter.load_model_from_config`, ...); "
            "`import otter` itself stays light and imports torch only when a name needs it."
        ),
        "figures_missing": (
            "The figures of a demo run are not in this build. "
            "`bash scripts/docs_assets.bash` trains the demo and copies them here."
        ),
        "figures_from": "From a demo run on CPU ({when}, Otter {version}, config `{cfg}`{extra}):",
        "metric": "metric",
        "value": "value",
    },
    "ja": {
        "config_title": "設定リファレンス",
        "config_intro": (
            "設定ファイルに書けるすべてのセクションとキーを、型・既定値・意味とともに一覧にしています。"
            "このページは Otter が設定の検証に使うスキーマ (`{module}`) から自動生成されるため、"
            "常にコードと一致します。各項目の説明は、コードに書かれた英語の説明の訳です。"
            "設定の書き方・継承・上書きは [設定ファイル](../config.md) を参照してください。"
        ),
        "sections": "セクション",
        "section": "セクション",
        "key": "キー",
        "type": "型",
        "default": "既定値",
        "required": "必須",
        "meaning": "意味",
        "yes": "はい",
        "no": "いいえ",
        "or": " または ",
        "extra_allowed": "ここにはその他のキー (プロジェクト独自の設定) も書けます。",
        "extra_forbidden": "その他のキーはエラーになります (最も近い既知のキーが提案されます)。",
        "shapes": "入れ子の形",
        "used_at": "使われる場所",
        "cli_title": "コマンドライン",
        "cli_intro": (
            "各コマンドの `--help` を、サイトのビルド時にパーサーそのものから取得して載せています"
            " (出力はコードのとおり英語です)。"
            "エラーは `<file>: <key.path>: <message>` の 1 行で表示され、終了コードは 2 です"
            " ([トラブルシューティング](../troubleshooting.md))。"
        ),
        "cli_otter": "`otter`: ライブラリのコマンド",
        "cli_project": "`python -m MyProj.model`: プロジェクトのコマンド",
        "cli_project_intro": (
            "テンプレートから作ったプロジェクトにはすべてこのコマンドがあります (ここではプロジェクト名 `MyProj`)。"
            "`MyProj/` を含むフォルダで実行します。"
        ),
        "api_title": "Python API",
        "api_intro": (
            "`otter` の各モジュールの docstring から生成しています (本文は英語です)。"
            "プロジェクトでよく使う名前は `import otter` から参照できます"
            " (`otter.MODELS`、`otter.BaseMixin`、`otter.load_model_from_config` など)。"
            "`import otter` 自体は軽く、torch は必要になった時点で初めて読み込まれます。"
        ),
        "figures_missing": (
            "このビルドにはデモ実行の図が含まれていません。"
            "`bash scripts/docs_assets.bash` でデモを学習し、図をここにコピーできます。"
        ),
        "figures_from": "CPU でのデモ実行の結果です ({when}、Otter {version}、設定 `{cfg}`{extra}):",
        "metric": "指標",
        "value": "値",
    },
}


# --------------------------------------------------------------------------- #
# Config reference
# --------------------------------------------------------------------------- #


def root_model() -> Tuple[Any, str]:
    """The pydantic model of a whole config and the module it lives in."""
    for module in ("otter.schema", "otter.validate"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(mod, "RootConfig"):
            return mod.RootConfig, module
    raise RuntimeError("no RootConfig in otter.schema or otter.validate")


def _is_model(t: Any) -> bool:
    from pydantic import BaseModel

    return inspect.isclass(t) and issubclass(t, BaseModel)


def _models_in(annotation: Any) -> List[Any]:
    """The pydantic models an annotation holds (through Optional, Union, List, Dict)."""
    if _is_model(annotation):
        return [annotation]
    found: List[Any] = []
    for arg in typing.get_args(annotation):
        for m in _models_in(arg):
            if m not in found:
                found.append(m)
    return found


def _anchor(model: Any) -> str:
    return model.__name__.lower()


def type_name(annotation: Any, links: Optional[Dict[Any, str]] = None) -> str:
    """A readable type: ``int``, ``list[int]``, ``mapping``, ``NamedEntry or list[NamedEntry]``."""
    links = links or {}
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if _is_model(annotation):
        target = links.get(annotation)
        return f"[{annotation.__name__}]({target})" if target else annotation.__name__
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        names = [type_name(a, links) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in args)
    if origin in (list, tuple, set, typing.List, typing.Tuple, typing.Sequence) or (
        origin is not None and getattr(origin, "__name__", "") in ("list", "tuple", "Sequence")
    ):
        inner = ", ".join(dict.fromkeys(type_name(a, links) for a in args if a is not Ellipsis))
        return f"list[{inner}]" if inner else "list"
    if origin in (dict, typing.Dict) or getattr(origin, "__name__", "") in ("dict", "Mapping"):
        value = type_name(args[1], links) if len(args) == 2 and args[1] is not Any else ""
        return f"mapping of {value}" if value else "mapping"
    if origin is typing.Annotated:
        return type_name(args[0], links)
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return {"str": "str", "int": "int", "float": "float", "bool": "bool"}.get(
        getattr(annotation, "__name__", ""), getattr(annotation, "__name__", str(annotation).replace("typing.", ""))
    )


def _yaml_value(value: Any) -> str:
    """A default as it would be written in YAML."""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{json.dumps(value, default=str)}`"


def _default(info: Any) -> Tuple[bool, str]:
    """(required, default as text) of a pydantic field."""
    if info.is_required():
        return True, "—"
    if info.default_factory is not None:
        try:
            return False, _yaml_value(info.default_factory())
        except TypeError:  # factories that take the validated data
            return False, "—"
    return False, _yaml_value(info.default)


def translations() -> Dict[str, Tuple[str, str]]:
    """``config_ja.JA``: ``Model`` or ``Model.field`` -> (the code's English, its Japanese)."""
    spec = importlib.util.spec_from_file_location("_otter_docs_config_ja", Path(__file__).with_name("config_ja.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.JA


def _in(lang: str, key: str, text: Optional[str]) -> str:
    """The one-liner of ``key`` in ``lang``: the code's English, or its translation while that is current."""
    english = _one_line(text)
    if lang != "en":
        known = translations().get(key)
        if known and _one_line(known[0]) == english:
            return _one_line(known[1])
    return english


def _one_line(text: Optional[str]) -> str:
    if not text:
        return "—"
    first = inspect.cleandoc(text).strip().split("\n\n")[0]
    return " ".join(first.split()).replace("``", "`").replace("|", "\\|")


def _section_model(root: Any, name: str) -> Optional[Any]:
    """The model that validates a section typed loosely in ``root`` (``onnx: Any`` -> ``OnnxSection``).

    Some sections are checked by their own validator rather than through the root's
    annotation; by convention their model is ``<Name>Section`` in the root's module.
    """
    module = importlib.import_module(root.__module__)
    candidate = getattr(module, "".join(part.capitalize() for part in name.split("_")) + "Section", None)
    return candidate if _is_model(candidate) else None


def _field_models(model: Any, name: str, info: Any, top: bool) -> List[Any]:
    found = _models_in(info.annotation)
    if not found and top:
        extra = _section_model(model, name)
        found = [extra] if extra is not None else []
    return found


BaseModelDoc = None  # set below: pydantic's own BaseModel docstring is not a section's


def source_comments(model: Any) -> Tuple[Optional[str], Dict[str, str]]:
    """Comments the code holds for a model: the first comment in its class body (before
    any field), and the comment at the end of each field's line.

    Used where a section or key has no docstring or ``description``.
    """
    import tokenize

    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):
        return None, {}
    lines = source.splitlines()
    comments: Dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        return None, {}
    field_re = re.compile(r"^\s+([A-Za-z_]\w*)\s*:")
    fields: Dict[str, str] = {}
    class_comment: Optional[str] = None
    for number, line in enumerate(lines, start=1):
        m = field_re.match(line)
        if m and m.group(1) in model.model_fields:
            text = comments.get(number)
            if text:
                fields[m.group(1)] = text
        elif class_comment is None and number > 1 and line.strip().startswith("#") and not any(
            field_re.match(x) for x in lines[1 : number - 1]
        ):
            class_comment = comments.get(number)
    return class_comment, fields


def _described(model: Any) -> Tuple[Optional[str], Dict[str, Optional[str]]]:
    """(section text, {field: one-liner}) from docstrings and descriptions, else the code's comments."""
    class_comment, field_comments = source_comments(model)
    doc = model.__doc__ if model.__doc__ and model.__doc__ != BaseModelDoc else None
    return doc or class_comment, {name: info.description or field_comments.get(name) for name, info in model.model_fields.items()}


def _walk(root: Any) -> Tuple[Dict[Any, List[str]], List[Any]]:
    """Every model reachable from ``root``: where each is used, in order of first appearance."""
    used: Dict[Any, List[str]] = {}
    order: List[Any] = []

    def visit(model: Any, path: str) -> None:
        for name, info in model.model_fields.items():
            key = f"{path}.{name}" if path else name
            for sub in _field_models(model, name, info, top=model is root):
                if sub not in used:
                    used[sub] = []
                    order.append(sub)
                    used[sub].append(key)
                    visit(sub, key)
                elif key not in used[sub]:
                    used[sub].append(key)

    visit(root, "")
    return used, order


def config_reference(lang: str = "en", root: Any = None, module: Optional[str] = None) -> str:
    """The config reference page, from the schema.

    Args:
        lang: ``en`` or ``ja`` (headings and framing; descriptions are the code's).
        root: The model of a whole config (default: Otter's ``RootConfig``).
        module: Where ``root`` lives, named in the page's introduction.

    Returns:
        The page as Markdown.
    """
    t = T[lang]
    if root is None:
        root, module = root_model()
    used, order = _walk(root)
    # A model used by exactly one top-level section is documented under that section's name;
    # one used in several places (name + options entries) gets its own heading.
    section_of: Dict[Any, str] = {}
    for model in order:
        paths = used[model]
        if len(paths) == 1 and "." not in paths[0]:
            section_of[model] = paths[0]
    links = {m: f"#{section_of[m]}" if m in section_of else f"#{_anchor(m)}" for m in order}

    root_fields = _described(root)[1]
    lines = [f"# {t['config_title']}", "", t["config_intro"].format(module=module or root.__module__), ""]
    lines += [f"## {t['sections']}", ""]
    lines += [f"| {t['section']} | {t['type']} | {t['required']} | {t['meaning']} |", "|---|---|---|---|"]
    for name, info in root.model_fields.items():
        required, _ = _default(info)
        models = _field_models(root, name, info, top=True)
        if root_fields[name]:
            desc = _in(lang, f"{root.__name__}.{name}", root_fields[name])
        else:
            desc = _in(lang, models[0].__name__, _described(models[0])[0]) if len(models) == 1 else _one_line(None)
        link = f"[`{name}`](#{name})" if any(section_of.get(m) == name for m in models) else f"`{name}`"
        shown = type_name(info.annotation, links)
        if models and not _models_in(info.annotation):
            shown = type_name(models[0], links)
        shown = shown.replace(" or ", t["or"])
        lines.append(f"| {link} | {shown} | {t['yes'] if required else t['no']} | {desc} |")
    lines.append("")

    def table(model: Any, prefix: str) -> List[str]:
        text, described = _described(model)
        out = [_in(lang, model.__name__, text), ""] if text else []
        out += [f"| {t['key']} | {t['type']} | {t['default']} | {t['meaning']} |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            required, default = _default(info)
            shown = f"**{t['required']}**" if required else default
            key = f"`{prefix}{name}`"
            out.append(f"| {key} | {type_name(info.annotation, links).replace(' or ', t['or'])} | {shown} | {_in(lang, f'{model.__name__}.{name}', described[name])} |")
        extra = model.model_config.get("extra")
        out += ["", t["extra_allowed"] if extra == "allow" else t["extra_forbidden"], ""]
        return out

    for model in order:
        if model in section_of:
            name = section_of[model]
            lines += [f"## `{name}` {{#{name}}}", ""]
            lines += table(model, "")
    shared = [m for m in order if m not in section_of]
    if shared:
        lines += [f"## {t['shapes']}", ""]
        for model in shared:
            lines += [f"### `{model.__name__}` {{#{_anchor(model)}}}", ""]
            lines += [f"{t['used_at']}: " + ", ".join(f"`{p}`" for p in used[model]), ""]
            lines += table(model, "")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def _capture_help(fn: Callable[[], Any]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        fn()
    return out.getvalue().rstrip()


def project_commands() -> Dict[str, Callable[..., Any]]:
    """The template's ``model/__main__.py`` commands (name -> function), loaded without a project."""
    path = REPO / "template" / "{{cookiecutter.project_name}}" / "model" / "__main__.py"
    spec = importlib.util.spec_from_file_location("_otter_docs_project_main", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: getattr(module, name) for name in ("train", "to_onnx", "check")}


def cli_helps() -> List[Tuple[str, str]]:
    """(command line, its --help) for every command, from the parsers."""
    from otter.cli import build_parser, project_main

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # the same wrapping whatever terminal builds the site
    try:
        parser = build_parser()
        helps = [("otter --help", parser.format_help().rstrip())]
        subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        for name, sub in subs.choices.items():
            helps.append((f"otter {name} --help", sub.format_help().rstrip()))
        prog = "python -m MyProj.model"
        commands = project_commands()
        helps.append((f"{prog} --help", _capture_help(lambda: project_main(prog, commands, ["--help"]))))
        for name in commands:
            helps.append((f"{prog} {name} --help", _capture_help(lambda n=name: project_main(prog, commands, [n, "--help"]))))
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return helps


def cli_reference(lang: str = "en") -> str:
    """The CLI page: every command's ``--help``."""
    t = T[lang]
    lines = [f"# {t['cli_title']}", "", t["cli_intro"], ""]
    project_started = False
    lines += [f"## {t['cli_otter']}", ""]
    for command, text in cli_helps():
        if command.startswith("python -m") and not project_started:
            project_started = True
            lines += [f"## {t['cli_project']}", "", t["cli_project_intro"], ""]
        lines += [f"### `{command.replace(' --help', '')}`", "", "```console", f"$ {command}", text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- #
# Python API
# --------------------------------------------------------------------------- #


def api_modules() -> List[str]:
    """Otter's public modules (every ``otter/*.py`` whose name does not start with ``_``)."""
    return [f"otter.{p.stem}" for p in sorted((REPO / "otter").glob("*.py")) if not p.stem.startswith("_")]


def api_reference(lang: str = "en") -> str:
    """The API page: one mkdocstrings block per module."""
    t = T[lang]
    lines = [f"# {t['api_title']}", "", t["api_intro"], ""]
    for module in api_modules():
        lines += [f"::: {module}", "    options:", "      show_submodules: false", ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- #
# Demo figures on the task pages
# --------------------------------------------------------------------------- #

#: Per task, the previews in the order the page shows them, with their captions; a
#: preview not listed here is shown after these under its file name.
FIGURES = {
    "classifier": ("roc", "pca", "valid_samples"),
    "aligner": ("valid_polygons", "worst_cases"),
    "mrz": ("samples", "worst", "bands"),
}
FIGURE_CAPTIONS = {
    "en": {
        "classifier": {
            "roc": "ROC curve over pairs of validation views, on templates never seen in training",
            "pca": "PCA of the validation embeddings, one colour per template",
            "valid_samples": "Validation views (unseen templates), as the model sees them",
        },
        "aligner": {
            "valid_polygons": "Validation photos: true corners in green, predicted in red (the dot is the top-left corner)",
            "worst_cases": "The validation photos with the lowest IoU",
        },
        "mrz": {
            "samples": "Validation bands with the predicted and the true text",
            "worst": "The worst reads of the validation set",
            "bands": "MRZ bands found on pages: true in green, predicted in red",
        },
        "text": {
            "tpr_fpr": "True-positive rate and match threshold at each false-positive rate",
            "metrics": "The last epoch's metrics",
            "reads": "The last epoch's worst reads",
        },
    },
    "ja": {
        "classifier": {
            "roc": "検証ビューのペアに対する ROC 曲線 (学習で一度も見ていないテンプレート)",
            "pca": "検証データの埋め込みの PCA (テンプレートごとに色分け)",
            "valid_samples": "モデルに入力される検証ビュー (未知のテンプレート)",
        },
        "aligner": {
            "valid_polygons": "検証写真: 正解の四隅を緑、予測を赤で表示 (点は左上の角)",
            "worst_cases": "IoU が最も低かった検証写真",
        },
        "mrz": {
            "samples": "検証用の MRZ 帯と、予測・正解のテキスト",
            "worst": "検証データで読み取り結果が最も悪かった例",
            "bands": "ページ上で検出した MRZ 帯: 正解を緑、予測を赤で表示",
        },
        "text": {
            "tpr_fpr": "各偽陽性率での真陽性率と照合しきい値",
            "metrics": "最終エポックの指標",
            "reads": "最終エポックで読み取りが最も悪かった例",
        },
    },
}
#: Lines of a text preview shown on a page.
TEXT_LINES = 24


def _ordered(task: str, files: List[Path]) -> List[Path]:
    order = FIGURES.get(task, ())
    return sorted(files, key=lambda f: (order.index(f.stem) if f.stem in order else len(order), f.name))


def demo_figures(task: str, lang: str, assets: Path = DEMO_ASSETS, page_depth: int = 1, limit: Optional[int] = None) -> str:
    """The figures block of a task page: what ``docs_assets.bash`` copied, or a note that it is missing.

    Args:
        task: The task folder under ``assets`` (``classifier``, ``aligner``, ``mrz``).
        lang: ``en`` or ``ja``.
        assets: Where the demo figures are.
        page_depth: How many folders below ``docs/`` the page is (for relative links).
        limit: Show only the first ``limit`` figures and no text previews (a summary elsewhere).

    Returns:
        Markdown: the run's metrics, its figures and text previews, or an admonition saying how to add them.
    """
    t = T[lang]
    folder = assets / task
    images = [f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg")] if folder.is_dir() else []
    if not images:
        return f'!!! note ""\n    {t["figures_missing"]}\n'
    images = _ordered(task, images)[:limit]
    texts = [] if limit is not None else _ordered(task, sorted(folder.glob("*.txt")))
    info: Dict[str, Any] = {}
    if (folder / "run.json").is_file():
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    rel = "../" * page_depth + f"assets/demo/{task}/"
    extra = ""
    if info.get("epochs"):
        extra = f", {info['epochs']} epochs" if lang == "en" else f"、{info['epochs']} エポック"
    if info.get("seed") is not None:
        extra += f", seed {info['seed']}" if lang == "en" else f"、シード {info['seed']}"
    if info.get("overrides"):
        shown = " ".join(f"`{o}`" for o in info["overrides"])
        extra += f", overrides {shown}" if lang == "en" else f"、上書き {shown}"
    lines = [
        t["figures_from"].format(
            when=info.get("date", "?"), version=info.get("otter_version", "?"), cfg=info.get("cfg_name", "default"), extra=extra
        ),
        "",
    ]
    metrics = info.get("metrics") or {}
    if metrics:
        lines += [f"| {t['metric']} | {t['value']} |", "|---|---|"]
        # A family of metrics (`valid_field/<name>`) is one row: `<name> value, ...`.
        rows: Dict[str, List[str]] = {}
        for key, value in metrics.items():
            shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
            family, _, member = key.rpartition("/")
            rows.setdefault(f"{family}/*" if family else key, []).append(f"{member} {shown}" if family else shown)
        lines += [f"| `{key}` | {', '.join(values)} |" for key, values in rows.items()]
        lines.append("")
    captions = FIGURE_CAPTIONS[lang].get(task, {})
    last = (info.get("epochs") or 0) - 1
    for image in images:
        caption = captions.get(image.stem, image.stem.replace("_", " "))
        epoch = (info.get("figures") or {}).get(image.name)
        if epoch is not None and epoch != last:
            caption += f" (epoch {epoch})" if lang == "en" else f" (エポック {epoch})"
        if image.name in (info.get("cropped") or []):
            caption += " (first rows)" if lang == "en" else " (先頭の数行)"
        lines += [
            '<figure markdown="span">',
            f"  ![{caption}]({rel}{image.name}){{ loading=lazy }}",
            f"  <figcaption>{caption}</figcaption>",
            "</figure>",
            "",
        ]
    text_captions = FIGURE_CAPTIONS[lang]["text"]
    for text in texts:
        body = text.read_text(encoding="utf-8").rstrip("\n").split("\n")
        if len(body) > TEXT_LINES:
            body = body[:TEXT_LINES] + ["..."]
        title = text_captions.get(text.stem, text.stem.replace("_", " "))
        lines += [f'```text title="{text.name}: {title}"', *body, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


TASKS = ("classifier", "aligner", "mrz")

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
# Japanese punctuation and brackets take no space on either side.
_CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")
# A line that starts one of these is a new block, never a paragraph's continuation.
_BLOCK_START = re.compile(r"^(\s*$|\s*([-*+]|\d+\.)\s|\s*[|#>]|\s*!!!|\s*\?\?\?|\s*<|\s*--8<--|\s*```|\s*:::)")


def join_cjk_lines(markdown: str) -> str:
    """Join a paragraph's lines where a Japanese character meets the break.

    A line break inside a paragraph shows as a space, which Japanese text does not
    have between Japanese characters. Between a Japanese character and a Latin one
    (``CPU で``, ``1 つ``, ``) を``) the pages keep a half-width space, so such a break
    becomes one space; next to Japanese punctuation there is none. Code blocks, lists,
    tables, headings and other blocks are left alone.
    """
    out: List[str] = []
    in_code = False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            out.append(line)
            continue
        prev_starts_block = _BLOCK_START.match(out[-1]) is not None if out else True
        prev_is_item = re.match(r"^\s*([-*+]|\d+\.)\s", out[-1]) is not None if out else False
        if in_code or _BLOCK_START.match(line) or (prev_starts_block and not prev_is_item):
            out.append(line)
            continue
        prev, nxt = out[-1].rstrip(), line.lstrip()
        left, right = prev[-1:], nxt[:1]
        if _CJK_PUNCT.search(left) or _CJK_PUNCT.search(right) or (_CJK.search(left) and _CJK.search(right)):
            out[-1] = prev + nxt
        elif _CJK.search(left) or _CJK.search(right):
            out[-1] = prev + " " + nxt
        else:
            out.append(line)
    return "\n".join(out)
GITHUB_BLOB = "https://github.com/DocsaidLab/Otter/blob/main/"


def benchmarks_body(readme: Path = REPO / "benchmarks" / "README.md") -> str:
    """``benchmarks/README.md`` without its title; its relative links point at the repository."""
    text = readme.read_text(encoding="utf-8")
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines).strip() + "\n"
    return re.sub(r"\]\((?!https?://|#)([^)]+)\)", lambda m: f"]({GITHUB_BLOB}benchmarks/{m.group(1)})", body)


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps ``mkdocs serve`` from looping)."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_generated(docs: Path = DOCS, assets: Optional[Path] = None) -> List[Path]:
    """Write every generated file under ``docs``.

    ``reference/{config,cli,api}.md`` and their ``.ja.md`` twins; and per task and
    language the snippets ``_gen/out/demo-<task>.<lang>.md`` (for pages one folder
    down, ``tasks/``) and ``demo-<task>.<lang>.top.md`` (for top-level pages), which
    pages include with ``--8<--``.

    Args:
        docs: The docs folder.
        assets: Where the demo figures are (default: ``docs/assets/demo``).

    Returns:
        The paths written or already up to date.
    """
    assets = assets or docs / "assets" / "demo"
    written: List[Path] = []
    for lang in LANGS:
        suffix = "" if lang == "en" else f".{lang}"
        for name, build in (("config", config_reference), ("cli", cli_reference), ("api", api_reference)):
            path = docs / "reference" / f"{name}{suffix}.md"
            _write(path, build(lang))
            written.append(path)
        for task in TASKS:
            # Task pages show everything; the top-level pages (the tutorial) the first two plots.
            for depth, tail, limit in ((1, "", None), (0, ".top", 2)):
                path = docs / "_gen" / "out" / f"demo-{task}.{lang}{tail}.md"
                _write(path, demo_figures(task, lang, assets, depth, limit))
                written.append(path)
    path = docs / "_gen" / "out" / "benchmarks.md"
    _write(path, benchmarks_body())
    written.append(path)
    return written


def _base_model_doc() -> Optional[str]:
    from pydantic import BaseModel

    return BaseModel.__doc__


BaseModelDoc = _base_model_doc()
