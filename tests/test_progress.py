"""Progress in logs (issue #7 item 10): plain lines at an interval when standard output is not a terminal."""

import io
import re

import tinyproj
from otter.callbacks import CustomTQDMProgressBar


def test_a_log_gets_a_few_plain_lines_with_images_per_second_and_metrics(project, capsys):
    # capsys: standard output is a pipe here, as in CI or `docker logs`.
    tinyproj.train(project, overrides=["trainer.max_epochs=2", "callbacks.1.options.line_every_percent=25"])
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    train = [line for line in lines if " img/s" in line]
    valid = [line for line in lines if "validation:" in line]
    # 8 batches an epoch, a line every 25%: batches 2, 4, 6, 8; one validation line an epoch.
    assert [re.match(r"epoch (\d)/2 (\d)/8 ", line).groups() for line in train] == [
        (e, b) for e in ("1", "2") for b in ("2", "4", "6", "8")
    ]
    assert all(re.search(r" step \d+ [\d.]+ img/s", line) for line in train)
    assert len(valid) == 2 and all(re.search(r"valid_acc=[\d.]+ .*valid_loss=[\d.]+", line) for line in valid)
    assert len(lines) == 10


def test_a_terminal_gets_the_bar(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    assert CustomTQDMProgressBar(unit_scale=4).lines is False
    monkeypatch.setattr("sys.stdout", io.StringIO())
    bar = CustomTQDMProgressBar(unit_scale=4)
    assert bar.lines is True and bar.is_disabled
    assert CustomTQDMProgressBar(unit_scale=4, lines=False).lines is False
