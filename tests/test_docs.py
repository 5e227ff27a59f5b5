"""The docs site: a strict build in both languages, pages generated from the code,
the tutorial's commands, and the built pages opened in a real browser."""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SCREENSHOTS = REPO / "build" / "docs-screenshots"
PROJECT = "MyProj"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load("otter_docs_reference", DOCS / "_gen" / "reference.py")
demo_assets = _load("otter_docs_demo_assets", DOCS / "_gen" / "demo_assets.py")


def env() -> Dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "MPLBACKEND": "Agg",
        "NO_MKDOCS_2_WARNING": "1",
        "DISABLE_MKDOCS_2_WARNING": "true",
    }


# --------------------------------------------------------------------------- #
# The pages
# --------------------------------------------------------------------------- #


def hand_written_pages() -> List[Path]:
    """English pages written by hand (generated ones live in docs/reference/)."""
    return [
        p
        for p in sorted(DOCS.rglob("*.md"))
        if not p.name.endswith(".ja.md") and "_gen" not in p.parts and "reference" not in p.relative_to(DOCS).parts
    ]


def japanese(page: Path) -> Path:
    return page.with_name(page.name[: -len(".md")] + ".ja.md")


def code_blocks(text: str) -> List[Tuple[str, str]]:
    """(language, body) of every fenced block."""
    return [(m.group(2), m.group(3)) for m in re.finditer(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", text, re.S | re.M)]


def nav_pages() -> List[str]:
    import yaml

    found: List[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    return found


def test_every_page_is_in_the_navigation_and_in_both_languages():
    pages = hand_written_pages()
    nav = nav_pages()
    assert sorted(str(p.relative_to(DOCS)) for p in pages) == sorted(n for n in nav if not n.startswith("reference/"))
    assert {"reference/config.md", "reference/cli.md", "reference/api.md"} <= set(nav)
    missing = [str(p.relative_to(DOCS)) for p in pages if not japanese(p).is_file()]
    assert not missing, f"pages without a Japanese version: {missing}"
    orphans = [
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.ja.md")
        if "_gen" not in p.parts and not p.with_name(p.name.replace(".ja.md", ".md")).is_file()
    ]
    assert not orphans, f"Japanese pages without an English one: {orphans}"


@pytest.mark.parametrize("page", hand_written_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_japanese_page_keeps_the_code_and_is_japanese(page):
    en, ja = page.read_text(encoding="utf-8"), japanese(page).read_text(encoding="utf-8")
    assert code_blocks(ja) == code_blocks(en), "code and commands must be the same in both languages"
    assert en.count("--8<--") == ja.count("--8<--")
    prose = re.sub(r"```.*?```", "", ja, flags=re.S)
    kana = len(re.findall(r"[\u3040-\u30ff]", prose))
    assert kana >= 20, "the Japanese page reads as English"


@pytest.mark.parametrize("page", hand_written_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_yaml_and_python_blocks_parse(page):
    import ast

    import yaml

    for lang, body in code_blocks(page.read_text(encoding="utf-8")):
        if lang == "yaml":
            assert isinstance(yaml.safe_load(body), dict), body
        elif lang == "python":
            ast.parse(body)


def test_the_example_config_passes_otter_check(tmp_path, capsys):
    from otter.cli import main

    example = next(body for lang, body in code_blocks((DOCS / "config.md").read_text(encoding="utf-8")) if lang == "yaml")
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    assert f"{path}: OK" in capsys.readouterr().out


def test_the_home_page_error_is_what_otter_check_prints(tmp_path, monkeypatch, capsys):
    """The console example of the home page, run in a project made by `otter new`."""
    from otter.cli import main

    (command, expected), = [c for c in tutorial_commands(DOCS / "index.md") if c[1] is not None]
    assert main(["new", PROJECT, "--output-dir", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path / PROJECT)
    capsys.readouterr()
    assert main(shlex.split(command)[1:]) == 2
    assert expected in capsys.readouterr().err.splitlines()


def troubleshooting_lines(page: Path = DOCS / "troubleshooting.md") -> List[str]:
    """The messages the troubleshooting page quotes in the first column of its tables (Docker's own aside)."""
    lines = []
    text = page.read_text(encoding="utf-8")
    for row in text[: text.index("\n## Docker")].splitlines():
        if row.startswith("| `"):
            lines += re.findall(r"`([^`]+)`", row.split(" | ")[0])
    return lines


# A way to make each quoted line happen, starting from the example config of docs/config.md:
# (the start of the line on the page, overrides, a replacement of the file's text).
TROUBLESHOOTING_CASES = [
    ("trainer.max_epoch:", ["trainer.max_epoch=3"], None),
    ("optimizer.name: unknown name", ["optimizer.name=AdamWW"], None),
    ("dataset.train_optins:", ["dataset.train_optins=1"], None),
    ("model.name: missing required key", [], ("  name: ClassifierModel ", "  other: 1 ")),
    ("common.batch_size:", ["common.batch_size=0"], None),
    ("trainer.max_epochs:", ["trainer.max_epochs=ten"], None),
    ("callbacks.0.options: EarlyStopping", ["callbacks.0.options={}", "callbacks.0.name=EarlyStopping"], None),
    ("trainer.logger:", ["trainer.logger=false"], None),
    ("lr_scheduler.pl_options.interval:", ["lr_scheduler.pl_options.interval=batch"], None),
    ("YAML syntax error", [], ("common:\n  batch_size: 32", "common:\n batch_size: 32\n  x: 1")),
    ("expected a mapping of sections", [], ("", "- a\n")),
    ("optimizer.options.lr: duplicate key", [], ("{lr: 1.0e-3, weight_decay: 1.0e-4}", "\n    lr: 1.0e-3\n    weight_decay: 1.0e-4\n    lr: 1.0e-3")),
    ("optimizer.options.lr: AdamW refuses", ["optimizer.options.lr=-0.1"], None),
    ("callbacks.0.options.mode:", ["callbacks.0.options.mode=maximum"], None),
    ("trainer.strategy:", ["trainer.strategy=nope"], None),
    ("command line: override", ["x"], None),
    ("command line: callbacks.5:", ["callbacks.5.options.x=1"], None),
]


def _as_pattern(line: str) -> str:
    """The page's line as a regular expression: `...` stands for anything, a number for any number."""
    parts = [re.sub(r"\\d+", r"\\d+", re.sub(r"\d+", r"\\d+", re.escape(p))) for p in line.split("...")]
    return ".*?".join(parts)


@pytest.mark.parametrize("start,overrides,edit", TROUBLESHOOTING_CASES, ids=[c[0] for c in TROUBLESHOOTING_CASES])
def test_troubleshooting_lines_are_what_otter_check_prints(tmp_path, monkeypatch, capsys, start, overrides, edit):
    """Each config error the troubleshooting page quotes, made to happen: the page shows what Otter prints."""
    from otter.cli import main

    quoted = [line for line in troubleshooting_lines() if line.startswith(start)]
    assert len(quoted) == 1, f"the troubleshooting page should quote one line starting {start!r}: {quoted}"
    text = next(body for lang, body in code_blocks((DOCS / "config.md").read_text(encoding="utf-8")) if lang == "yaml")
    if edit:
        assert edit[0] in text or not edit[0]
        text = edit[1] if not edit[0] else text.replace(edit[0], edit[1], 1)
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("OTTER_NO_CACHE", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "c.yaml", *overrides]) == 2
    printed = capsys.readouterr().err.strip().splitlines()
    pattern = _as_pattern(quoted[0])
    assert any(re.search(pattern, line) for line in printed), f"the page says\n{quoted[0]}\nOtter prints\n" + "\n".join(printed)


def test_japanese_troubleshooting_quotes_the_same_lines():
    assert troubleshooting_lines(DOCS / "troubleshooting.ja.md") == troubleshooting_lines()


def test_japanese_paragraph_lines_join_without_a_space_and_blocks_stay():
    text = (
        "一行目で、\n二行目です。\n\n- 項目は\n  続く。\n\n!!! note \"場所\"\n    以下の\n    行。\n\n```bash\nの\nの\n```\nEnglish\nlines stay"
        "\n\n各クラスは\n1 つの\n`code`\nを使い\n(括弧)\nで、\nCPU\n「引用」\nです。"
    )
    joined = reference.join_cjk_lines(text)
    assert "一行目で、二行目です。" in joined
    # A half-width space between Japanese and Latin text, none next to Japanese punctuation.
    assert "各クラスは 1 つの `code` を使い (括弧) で、CPU「引用」です。" in joined
    assert "- 項目は続く。" in joined
    assert '!!! note "場所"\n    以下の行。' in joined
    assert "```bash\nの\nの\n```" in joined
    assert "English\nlines stay" in joined


# --------------------------------------------------------------------------- #
# Generated pages
# --------------------------------------------------------------------------- #


def _schema_fields(root) -> List[Tuple[str, str]]:
    """(model, field) of every model the schema reaches."""
    used, order = reference._walk(root)
    return [(m.__name__, f) for m in [root, *order] for f in m.model_fields]


@pytest.mark.parametrize("lang", reference.LANGS)
def test_config_reference_lists_every_key_of_the_schema(lang):
    root, module = reference.root_model()
    page = reference.config_reference(lang)
    assert module in page
    for model, name in _schema_fields(root):
        assert re.search(rf"^\| \[?`{re.escape(name)}`", page, re.M), f"{model}.{name} is missing"


def test_every_section_and_key_of_the_schema_has_its_description():
    """The reference's meaning column comes from the code: no section or key without one."""
    root, _ = reference.root_model()
    used, order = reference._walk(root)
    undescribed = []
    for model in [root, *order]:
        text, fields = reference._described(model)
        if not text:
            undescribed.append(model.__name__)
        undescribed += [f"{model.__name__}.{name}" for name, desc in fields.items() if not desc]
    assert not undescribed, f"give these a description in {root.__module__}: {undescribed}"
    for lang in reference.LANGS:
        rows = [line for line in reference.config_reference(lang).splitlines() if line.startswith("| `") or line.startswith("| [`")]
        assert rows and not [r for r in rows if r.rstrip().endswith("| — |")], lang


def test_the_japanese_config_reference_translates_every_description_as_the_code_has_it():
    """docs/_gen/config_ja.py holds, per key, the code's English and its translation: both current."""
    root, _ = reference.root_model()
    used, order = reference._walk(root)
    current = {}
    for model in [root, *order]:
        text, fields = reference._described(model)
        current[model.__name__] = reference._one_line(text)
        current.update({f"{model.__name__}.{name}": reference._one_line(desc) for name, desc in fields.items()})
    ja = reference.translations()
    stale = {k: (ja[k][0], v) for k, v in current.items() if k in ja and reference._one_line(ja[k][0]) != v}
    missing = sorted(set(current) - set(ja))
    assert not missing and not stale, f"update docs/_gen/config_ja.py: missing {missing}, English changed {stale}"
    assert not set(ja) - set(current), f"translations of keys the schema no longer has: {sorted(set(ja) - set(current))}"
    page = reference.config_reference("ja")
    assert ja["CommonSection.seed"][1] in page and current["CommonSection.seed"] not in page


def test_a_changed_description_shows_in_english_on_the_japanese_page_until_translated():
    from pydantic import BaseModel, Field

    class CommonSection(BaseModel):
        """Settings of the whole run: batch size, input size, seed, and what to restore from."""

        seed: int = Field(0, description="A meaning nobody has translated yet.")
        batch_size: int = Field(1, description=reference.translations()["CommonSection.batch_size"][0])

    class RootConfig(BaseModel):
        common: CommonSection = Field(description="Settings of the whole run: batch size, input size, seed, and what to restore from.")

    page = reference.config_reference("ja", RootConfig, "tests")
    assert "| `seed` | int | `0` | A meaning nobody has translated yet. |" in page
    assert reference.translations()["CommonSection.batch_size"][1] in page
    assert reference.translations()["CommonSection"][1] in page


def test_config_reference_changes_when_the_schema_changes():
    from pydantic import Field, create_model

    root, module = reference.root_model()
    common = root.model_fields["common"].annotation
    before = reference.config_reference("en", root, module)
    assert "warmup_ratio" not in before

    # A new key in a section, and a new section, each with a description; a key's
    # description edited.
    new_common = create_model(
        common.__name__,
        __base__=common,
        __doc__=common.__doc__,
        warmup_ratio=(float, Field(0.25, description="Fraction of the steps spent warming up.")),
        seed=(Optional[int], Field(None, description="A new meaning for the seed.")),
    )
    new_section = create_model("ProfilerSection", __doc__="What the profiler records.", enabled=(bool, Field(False, description="Turn it on.")))
    new_root = create_model(
        root.__name__,
        __base__=root,
        __module__=root.__module__,
        common=(new_common, Field(description=root.model_fields["common"].description)),
        profiler=(Optional[new_section], Field(None, description="Profile a few steps.")),
    )
    after = reference.config_reference("en", new_root, module)
    assert "| `warmup_ratio` | float | `0.25` | Fraction of the steps spent warming up. |" in after
    assert "| [`profiler`](#profiler) | [ProfilerSection](#profiler) | no | Profile a few steps. |" in after
    assert "| `enabled` | bool | `false` | Turn it on. |" in after
    assert "| `seed` | int | `null` | A new meaning for the seed. |" in after
    old_seed = [line for line in before.splitlines() if line.startswith("| `seed` |")]
    assert len(old_seed) == 1 and old_seed[0] not in after
    # Everything else stays as it was.
    assert [line for line in before.splitlines() if line not in after] == old_seed


def test_config_reference_reads_descriptions_docstrings_and_comments():
    from pydantic import BaseModel, ConfigDict, Field

    class Section(BaseModel):
        # What the section is for.
        model_config = ConfigDict(extra="forbid")

        size: int = 3  # pixels per side
        mode: str = Field("a", description="How it runs.")
        other: bool = False

    class Root(BaseModel):
        """The root."""

        section: Section

    page = reference.config_reference("en", Root, "tests")
    assert "| [`section`](#section) | [Section](#section) | yes | What the section is for. |" in page
    assert "| `size` | int | `3` | pixels per side |" in page
    assert '| `mode` | str | `"a"` | How it runs. |' in page
    assert "| `other` | bool | `false` | — |" in page


def test_cli_page_is_the_parsers_help():
    from otter.cli import build_parser

    page = reference.cli_reference("en")
    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subs.choices.items():
        assert f"$ otter {name} --help" in page
        for action in sub._actions:
            for option in action.option_strings:
                if action.help != "==SUPPRESS==":
                    assert option in page, f"otter {name} {option}"
    for command in ("train", "to_onnx", "check"):
        assert f"$ python -m MyProj.model {command} --help" in page
    assert "--cfg_name" in page


def test_api_page_documents_every_public_module():
    page = reference.api_reference("en")
    modules = [p.stem for p in (REPO / "otter").glob("*.py") if not p.stem.startswith("_")]
    assert modules
    for module in modules:
        assert f"::: otter.{module}\n" in page


def test_demo_figures_appear_when_present_and_a_note_when_not(tmp_path):
    assert "docs_assets.bash" in reference.demo_figures("classifier", "en", tmp_path)
    folder = tmp_path / "classifier"
    folder.mkdir()
    for name in ("valid_samples.png", "pca.png", "roc.png", "extra.jpg"):
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "tpr_fpr.txt").write_text("FPR TPR\n" + "".join(f"{i}\n" for i in range(40)))
    (folder / "run.json").write_text(
        '{"date": "2026-11-25", "otter_version": "9.9", "epochs": 3, "seed": 7, "figures": {"valid_samples.png": 0, "roc.png": 2},'
        ' "cropped": ["pca.png"], "metrics": {"valid_auc": 0.98765, "valid_field/sex": 0.5, "valid_field/name": 0.25}}'
    )
    block = reference.demo_figures("classifier", "ja", tmp_path, page_depth=1)
    assert "](../assets/demo/classifier/roc.png)" in block and "](../assets/demo/classifier/extra.jpg)" in block
    assert "| `valid_auc` | 0.9877 |" in block and "| `valid_field/*` | sex 0.5, name 0.25 |" in block
    assert "Otter 9.9" in block and "3 エポック" in block and "シード 7" in block
    # The task's order (ROC, PCA, samples), then the others; where a figure is not the last epoch's, or cropped, it says so.
    order = [block.index(f"classifier/{n}") for n in ("roc.png", "pca.png", "valid_samples.png", "extra.jpg")]
    assert order == sorted(order)
    assert "(エポック 0)" in block and "(先頭の数行)" in block
    assert '```text title="tpr_fpr.txt: ' in block and "\n22\n..." in block and "\n23\n" not in block
    top = reference.demo_figures("classifier", "en", tmp_path, page_depth=0, limit=2)
    assert "](assets/demo/classifier/roc.png)" in top and "pca.png" in top
    assert "valid_samples" not in top and "```" not in top


def test_docs_assets_copies_a_runs_previews_small_enough_to_commit(tmp_path):
    """A real run folder's previews and TensorBoard scalars -> docs/assets/demo/<task>/ and run.json."""
    import json

    import numpy as np
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "work" / "Demo" / "runs" / "default" / "2026-11-25-10-00-00"
    older = run.parent / "2026-11-24-10-00-00"
    for epoch in range(3):
        folder = run / "preview" / f"epoch_{epoch}"
        folder.mkdir(parents=True)
        plot = np.full((300, 400, 3), 255, np.uint8)
        plot[100:110, :, :] = (30, 90, 200)
        Image.fromarray(plot).save(folder / "roc.png")
        (folder / "tpr_fpr.txt").write_text(f"epoch {epoch}\n")
        if epoch == 0:
            # Noise does not compress: stored as a JPEG, shrunk and cropped to the size limits.
            noise = np.random.default_rng(0).integers(0, 255, (3000, 2000, 3), dtype=np.uint8)
            Image.fromarray(noise).save(folder / "valid_samples.png")
    (older / "preview" / "epoch_0").mkdir(parents=True)
    (run.parent / "2026-11-26-10-00-00" / "preview").mkdir(parents=True)  # a later run, still starting: no previews yet
    (run / "config.yaml").write_text("common:\n  seed: 42\n")
    writer = SummaryWriter(str(run / "logs"))
    for step, auc in enumerate((0.5, 0.75, 0.9)):
        writer.add_scalar("valid_auc", auc, step)
        writer.add_scalar("train_loss", 1.0 / (step + 1), step)
    writer.close()

    # The demo's --workdir is enough: its latest run is found.
    out = demo_assets.copy_run("classifier", tmp_path / "work", ["trainer.max_epochs=3"], assets=tmp_path / "assets")
    assert out == tmp_path / "assets" / "classifier"
    info = json.loads((out / "run.json").read_text())
    assert info["run_id"] == run.name and info["epochs"] == 3 and info["seed"] == 42
    assert info["metrics"] == {"valid_auc": 0.9} and info["overrides"] == ["trainer.max_epochs=3"]
    assert info["figures"] == {"roc.png": 2, "valid_samples.jpg": 0} and info["cropped"] == ["valid_samples.jpg"]
    assert (out / "tpr_fpr.txt").read_text() == "epoch 2\n"
    with Image.open(out / "valid_samples.jpg") as image:
        assert image.size == (demo_assets.MAX_WIDTH, demo_assets.MAX_HEIGHT)
    assert (out / "roc.png").stat().st_size < 20_000
    assert sum(f.stat().st_size for f in out.iterdir()) < 1_000_000
    with pytest.raises(SystemExit, match="no run folder"):
        demo_assets.copy_run("classifier", tmp_path / "assets", [], assets=tmp_path / "elsewhere")


# --------------------------------------------------------------------------- #
# The strict build
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The site, built with --strict (any warning fails it) as scripts/docs.bash builds it."""
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
        raise AssertionError("mkdocs build --strict failed:\n" + "\n".join(warnings or [result.stderr[-4000:]]))
    return out


def test_site_builds_strictly_in_both_languages(site):
    for page in hand_written_pages():
        rel = page.relative_to(DOCS).with_suffix("")
        html = "index.html" if rel.name == "index" else f"{rel.as_posix()}/index.html"
        html = html.replace("/index/index.html", "/index.html")
        assert (site / html).is_file(), html
        assert (site / "ja" / html).is_file(), f"ja/{html}"
    for sub in ("reference/config", "reference/cli", "reference/api"):
        assert (site / sub / "index.html").is_file()
        assert (site / "ja" / sub / "index.html").is_file()
    ja = (site / "ja" / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ja"' in ja and "チュートリアル" in ja
    # The language switcher links each page to its twin.
    assert 'hreflang="en"' in ja and 'hreflang="ja"' in ja
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="otter.config.load_config"' in api or 'id="otter.config' in api


# --------------------------------------------------------------------------- #
# The tutorial's commands
# --------------------------------------------------------------------------- #

# Commands the tutorial shows that cannot run here, and why; each is still checked
# against its parser where it has one.
NOT_RUN = {
    "git clone": "needs the network",
    "pip install": "the test runs in the installed environment",
    "cookiecutter gh:": "needs the network (the template is baked offline by `otter new` and tests/test_template.py)",
    "cookiecutter ./Otter": "needs an Otter checkout beside the project (tests/test_template.py bakes the template)",
    "tensorboard": "a server that does not exit",
    "bash Otter/docker/": "needs Docker (tests/test_docker.py)",
    "bash MyProj/docker/": "needs Docker (tests/test_docker.py)",
    "python -m MyProj.model train gpu": "needs a GPU",
    "python -m MyProj.model train default trainer.": "the same run as `train default` with an override; parsed, not trained twice",
}


def tutorial_commands(path: Path = DOCS / "tutorial.md") -> List[Tuple[str, Optional[str]]]:
    """(command, expected first output line or None) from the bash and console blocks."""
    commands: List[Tuple[str, Optional[str]]] = []
    for lang, body in code_blocks(path.read_text(encoding="utf-8")):
        if lang == "bash":
            body = body.replace("\\\n", " ")
            for line in body.splitlines():
                line = line.split(" #", 1)[0].strip()
                if line:
                    commands.append((line, None))
        elif lang == "console":
            lines = body.splitlines()
            for i, line in enumerate(lines):
                if line.startswith("$ "):
                    expected = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("$ ") else None
                    commands.append((line[2:], expected))
    return commands


def python_blocks(path: Path = DOCS / "tutorial.md") -> List[str]:
    return [body for lang, body in code_blocks(path.read_text(encoding="utf-8")) if lang == "python"]


def not_run_reason(command: str) -> Optional[str]:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


def _project_parse(argv: List[str]) -> Tuple[int, List[Any]]:
    """Parse a project command line with the project's parser, calling nothing."""
    from otter.cli import project_main

    calls: List[Any] = []

    def record(name):
        def fn(cfg_name, *overrides):
            calls.append((name, cfg_name, overrides))
            return 0

        return fn

    return project_main(f"python -m {PROJECT}.model", {n: record(n) for n in ("train", "to_onnx", "check")}, argv), calls


def test_every_tutorial_command_is_known_to_its_parser():
    """Each command parses; the ones that are not run are named with a reason."""
    from otter.cli import build_parser

    commands = tutorial_commands()
    assert len(commands) >= 15
    configs = {p.stem for p in (REPO / "template" / "{{cookiecutter.project_name}}" / "_tasks" / "classifier" / "config").glob("*.yaml")}
    for command, _ in commands:
        argv = shlex.split(command)
        if argv[0] == "otter":
            build_parser().parse_args(argv[1:])
        elif argv[:3] == ["python", "-m", f"{PROJECT}.model"]:
            rc, calls = _project_parse(argv[3:])
            assert rc == 0 and len(calls) == 1, command
            assert calls[0][1] in configs, f"{command}: no config {calls[0][1]}.yaml in the template"
            for override in calls[0][2]:
                assert re.fullmatch(r"[A-Za-z_][\w.@]*=.+", override), f"{command}: {override!r} is not key.path=value"
        elif argv[:3] == ["python", "-m", f"{PROJECT}.infer"]:
            assert "--register" in argv and argv[3].endswith(".onnx")
        else:
            assert not_run_reason(command), f"the tutorial shows {command!r}: run it in test_tutorial_runs, or say in NOT_RUN why not"


def _substitute(text: str, values: Dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


@pytest.mark.slow
def test_tutorial_runs(tmp_path):
    """Runs every tutorial command that works offline on a CPU, in order, as written.

    Training gets the overrides of a tiny run appended (tests/test_template.py's TINY): the
    command is the tutorial's, the run is small enough for a test.
    """
    from PIL import Image
    from test_template import TINY

    values: Dict[str, str] = {}
    for name in ("invoice", "receipt"):
        (tmp_path / "examples").mkdir(exist_ok=True)
        Image.new("RGB", (64, 48), (40, 90, 200) if name == "invoice" else (220, 60, 30)).save(tmp_path / "examples" / f"{name}.png")
    for i, color in ((1, (45, 95, 190)), (2, (210, 70, 40))):
        Image.new("RGB", (64, 48), color).save(tmp_path / f"photo{i}.jpg")

    ran: List[str] = []
    for command, expected in tutorial_commands():
        if not_run_reason(command):
            continue
        argv = shlex.split(_substitute(command, values))
        if argv[:3] == ["python", "-m", f"{PROJECT}.model"] and argv[3] in ("train", "to_onnx"):
            # Every run of the page, resumed, finetuned and exported, is the same tiny model.
            argv += TINY
        if argv[0] in ("python", "otter"):
            argv = [sys.executable, *argv[1:]] if argv[0] == "python" else [sys.executable, "-m", "otter.cli", *argv[1:]]
        result = subprocess.run(argv, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
        output = (result.stdout + result.stderr).strip()
        if expected is None:
            assert result.returncode == 0, f"{command}\n{output[-3000:]}"
        else:
            assert result.returncode == 2, f"{command}\n{output[-3000:]}"
            shown = expected.replace("/home/me/work", str(tmp_path))
            assert shown in output.splitlines(), f"{command}: the page shows\n{shown}\nit prints\n{output[-2000:]}"
        ran.append(command)
        if "to_onnx" in command:
            exported = sorted((tmp_path / PROJECT / "runs" / "default").glob("*/export/*.onnx"))
            assert exported, output
            values = {
                "<run_id>": exported[-1].parent.parent.name,
                "default_<date>_fp32.onnx": exported[-1].name,
            }
    assert any("to_onnx" in c for c in ran) and any(".infer" in c for c in ran) and any(c.startswith("otter new") for c in ran)

    # The Python example, with the same paths.
    for block in python_blocks():
        script = tmp_path / "example.py"
        script.write_text(_substitute(block, values), encoding="utf-8")
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{block}\n{result.stderr[-3000:]}"


# --------------------------------------------------------------------------- #
# A real browser
# --------------------------------------------------------------------------- #


def _chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _install_chromium() -> Tuple[Optional[str], str]:
    """Install Chromium from the Debian packages when allowed; (path, why not)."""
    if os.environ.get("OTTER_DOCS_INSTALL_BROWSER", "") in ("", "0"):
        return None, "no Chromium on PATH (`bash scripts/docs.bash browser` installs it: apt-get install chromium)"
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None, "no Chromium on PATH, and apt-get as root is not available to install it"
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"]):
        result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if result.returncode != 0:
            return None, f"installing Chromium failed: {' '.join(cmd)}: {result.stderr.strip()[-300:]}"
    return _chromium(), "apt-get install chromium did not put it on PATH"


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


PAGES = [
    # (file name of the screenshot, path, words the title holds, the switcher's other language)
    ("tutorial-en", "/tutorial/", "Tutorial", "日本語"),
    ("tutorial-ja", "/ja/tutorial/", "チュートリアル", "English"),
    ("home-en", "/", "Otter", "日本語"),
    ("home-ja", "/ja/", "Otter", "English"),
    ("classifier-en", "/tasks/classifier/", "Classifier", "日本語"),
    ("aligner-ja", "/ja/tasks/aligner/", "文書位置合わせ", "English"),
    ("mrz-en", "/tasks/mrz/", "MRZ", "日本語"),
    ("config-reference-en", "/reference/config/", "Config reference", "日本語"),
    ("config-reference-ja", "/ja/reference/config/", "設定リファレンス", "English"),
]
#: Pages shown whole in their screenshot (the others: the first screen).
FULL_PAGE = ("tutorial", "classifier", "aligner", "mrz", "config-reference")


@pytest.mark.browser
def test_pages_render_in_chromium(site):
    """Opens the built pages in headless Chromium: title, navigation, code, images, no console errors."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    browser_path = _chromium()
    if not browser_path:
        browser_path, why = _install_chromium()
        if not browser_path:
            pytest.skip(why)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    figures = {task: any((DOCS / "assets" / "demo" / task).glob("*.[pj][np]g")) for task in reference.TASKS}
    with serve(site) as base, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            for name, path, title, other in PAGES:
                for scheme in ("light", "dark") if name.startswith("tutorial") else ("light",):
                    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
                    # Only the site itself is served here: the repository badge asks GitHub's API for
                    # its stars, which this machine may not reach. Block other hosts and judge only
                    # what the site serves.
                    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
                    problems: List[str] = []

                    def on_console(message, p=problems):
                        if message.type == "error" and (message.location or {}).get("url", base).startswith(base):
                            p.append(f"console error: {message.text} ({(message.location or {}).get('url')})")

                    page.on("console", on_console)
                    page.on("pageerror", lambda e, p=problems: p.append(f"page error: {e}"))
                    page.on("requestfailed", lambda r, p=problems: p.append(f"request failed: {r.url}") if r.url.startswith(base) else None)
                    page.on("response", lambda r, p=problems: p.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
                    response = page.goto(base + path, wait_until="networkidle")
                    assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
                    # Lazy images load when scrolled to: scroll through the page first.
                    page.evaluate("async () => { for (let y = 0; y < document.body.scrollHeight; y += 600) { window.scrollTo(0, y); await new Promise(r => setTimeout(r, 30)); } window.scrollTo(0, 0); }")
                    page.wait_for_load_state("networkidle")
                    assert title in page.title() and "Otter" in page.title(), f"{path}: title {page.title()!r}"
                    assert page.locator("nav.md-nav--primary a.md-nav__link").count() >= 10, f"{path}: no navigation"
                    switcher = page.locator(".md-select a[hreflang]")
                    assert switcher.count() == 2 and other in " ".join(switcher.all_inner_texts() + [switcher.nth(i).get_attribute("title") or "" for i in range(2)]), path
                    images = page.evaluate("() => Array.from(document.images).map(i => [i.currentSrc, i.complete && i.naturalWidth > 0])")
                    broken = [src for src, ok in images if not ok]
                    assert not broken, f"{path}: images that did not load: {broken}"
                    if name.startswith("tutorial"):
                        assert page.locator("pre > code").count() >= 10, f"{path}: code blocks missing"
                        assert page.locator("pre button[data-md-type=copy], pre button.md-clipboard").count() >= 10, f"{path}: no copy buttons"
                        # The pipeline diagram always, and the demo run's figures when they are in docs/.
                        assert len(images) >= (3 if figures["classifier"] else 1), f"{path}: images missing: {images}"
                    task = next((t for t in reference.TASKS if f"/tasks/{t}/" in path), None)
                    if task and figures[task]:
                        shown = [src for src, _ in images if f"/assets/demo/{task}/" in src]
                        assert len(shown) >= 2, f"{path}: the demo run's figures are not on the page: {images}"
                    if "reference/config" in path:
                        meanings = page.locator("table td:last-child").all_inner_texts()
                        assert len(meanings) >= 30 and "—" not in meanings, f"{path}: keys without a description"
                    assert not problems, f"{path}: " + "; ".join(problems)
                    suffix = "" if scheme == "light" else "-dark"
                    page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=name.startswith(FULL_PAGE) and scheme == "light")
                    page.close()
        finally:
            browser.close()
    print(f"screenshots: {SCREENSHOTS}")
