"""What every project answers the same way, whatever its task: its configs check, a bad value is one line."""


def test_shipped_configs_pass_check(project, capsys, monkeypatch):
    configs = sorted(p.stem for p in (project.dir / "config").glob("*.yaml"))
    assert "default" in configs
    for cfg in configs:
        out = project.in_process(capsys, monkeypatch, "check", cfg)
        assert out.returncode == 0, (cfg, out.stderr)
        assert out.stdout.strip().endswith(": OK"), out.stdout


def test_bad_override_is_one_line_exit_2(project):
    # A separate process: the whole of stderr is the one line a user sees.
    out = project.run("check", "default", "optimizer.options.lr=fast")
    assert out.returncode == 2
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, out.stderr
    # e.g. ".../config/default.yaml: optimizer.options.lr: AdamW expects float or Tensor, got 'fast'"
    file, key, message = line.split(": ", 2)
    assert file.endswith("default.yaml") and key == "optimizer.options.lr" and message.endswith("'fast'"), line
