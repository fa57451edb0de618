"""The option table: every row reaches its field from the command line and from the config file;
each subcommand shows and accepts only its own rows; usage errors name the option's commands."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_export import api, batch, cli, pipeline
from interview_export.options import CONFIG_KEYS, ROWS, Options, rows_of

COMMANDS = ("epub", "pdf", "build", "inspect", "preview")
OPTION_FIELDS = {f.name for f in dataclasses.fields(Options)}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.md").write_text("# 标题\n\n正文。\n", encoding="utf-8")
    (tmp_path / "extra.css").write_text("p{}", encoding="utf-8")
    (tmp_path / "settings.toml").write_text("", encoding="utf-8")
    (tmp_path / "res").mkdir()
    return tmp_path


@pytest.fixture
def captured(monkeypatch):
    """The Settings each run builds; no conversion runs (api.convert_planned and api.load are stand-ins)."""
    seen: list[cli.Settings] = []
    real = cli.build_settings

    def build_settings(ctx):
        seen.append(real(ctx))
        return seen[-1]

    monkeypatch.setattr(cli, "build_settings", build_settings)
    monkeypatch.setattr(api, "convert_planned", lambda plan, options, **_: [])

    def no_load(*args, **kwargs):
        raise api.InputError("stand-in: not read")

    monkeypatch.setattr(api, "load", no_load)
    _no_preview_server(monkeypatch)
    return seen


class _NoServer:
    """`preview`'s server, stood in: nothing is bound, served, watched or opened."""

    def __init__(self, preview, port):
        self.server_address = ("127.0.0.1", port or 1)

    def serve_forever(self):
        pass

    shutdown = server_close = serve_forever


def _no_preview_server(monkeypatch):
    from interview_export import preview

    monkeypatch.setattr(preview, "serve", _NoServer)
    monkeypatch.setattr(preview.Preview, "watch", lambda self, stop: None)
    monkeypatch.setattr("webbrowser.open", lambda url: True)


def sample(row, workdir: Path) -> tuple[list[str], object, object]:
    """(command-line words, config value, expected field value) for a non-default value of `row`."""
    flag = "--" + row.config_key if row.kind == "flag" else row.label
    named = {"config": "settings.toml", "report": "r.json"}.get(row.name, "out")
    by_kind = {
        "flag": lambda: ([flag], True, not row.default),
        "count": lambda: ([flag, flag], None, 2),
        "int": lambda: ([flag, row.example or "3"], int(row.example or 3), int(row.example or 3)),
        "choice": lambda: ([flag, row.choices[-1].upper()], row.choices[-1], row.choices[-1]),
        "file": lambda: ([flag, "extra.css"], "extra.css", Path("extra.css")),
        "dir": lambda: ([flag, "res"], "res", Path("res")),
        "font": lambda: ([flag, "x.ttc#1"], "/abs/x.ttc#1", "x.ttc#1"),
        "output": lambda: ([flag, named], "/abs/out", named),
        "pair": lambda: ([flag, "title=T=1"], {"title": "T=1"}, (("title", "T=1"),)),
        "format": lambda: ([flag, "pdf"], "pdf", ("pdf",)),
        "text": lambda: ([flag, row.example or "x"], row.example or "x", row.example or "x"),
    }
    words, config_value, expected = by_kind[row.kind]()
    if row.many and row.kind in ("file", "dir", "text"):
        expected = (expected,)
    return words, config_value, expected


def field_of(settings: cli.Settings, name: str):
    return getattr(settings.options if name in OPTION_FIELDS else settings.run, name)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_each_command_reaches_its_field(workdir, captured, command):
    runner = CliRunner()
    rows = rows_of(command)
    assert rows, command
    for row in rows:
        words, _, expected = sample(row, workdir)
        result = runner.invoke(cli.cli, [command, "a.md", *words])
        assert result.exit_code in (0, 1), (row.name, result.stderr)
        assert field_of(captured[-1], row.name) == expected, row.name
        assert expected != row.default, f"{row.name}: the sample must differ from the default"
    # and with no options at all, every field has the table's default
    runner.invoke(cli.cli, [command, "a.md"])
    for row in ROWS:
        assert field_of(captured[-1], row.name) == row.default, row.name


def test_every_build_option_reaches_its_field_through_a_task(workdir, monkeypatch):
    """The same through the real path into batch.Task (what the workers get)."""
    tasks: list[batch.Task] = []
    monkeypatch.setattr(batch, "run", lambda t, **_: tasks.extend(t) or [])
    for row in rows_of("build"):
        if row.name not in OPTION_FIELDS:
            continue
        words, _, expected = sample(row, workdir)
        tasks.clear()
        result = CliRunner().invoke(cli.cli, ["build", "a.md", *words])
        assert result.exit_code == 0, (row.name, result.stderr)
        assert getattr(tasks[0].options, row.name) == expected, row.name


def test_every_config_key_reaches_its_field(workdir, captured):
    for key, row in CONFIG_KEYS.items():
        _, value, expected = sample(row, workdir)
        if row.kind in ("font", "output"):
            expected = value                                  # absolute: kept as it is
        elif row.kind in ("file", "dir"):                     # relative to the config file's folder
            expected = (workdir / value,) if row.many else workdir / value
        text = (f"[{key}]\n" + "".join(f'{k} = "{v}"\n' for k, v in value.items())) if isinstance(value, dict) \
            else f"{key} = {_toml(value)}\n"
        (workdir / "interview-export.toml").write_text(text, encoding="utf-8")
        # named with --config: a file only found in the folder may not widen access (mirror, …)
        result = CliRunner().invoke(cli.cli, ["build", "a.md", "--config", str(workdir / "interview-export.toml")])
        assert result.exit_code in (0, 1), (key, result.stderr)
        assert field_of(captured[-1], row.name) == expected, key


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f'"{value}"'


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_only_the_commands_own_options_under_headings(command):
    text = CliRunner().invoke(cli.cli, [command, "--help"]).output
    for row in ROWS:
        shown = any(f"{name}" in text.replace(",", " ").split() or f"{name} " in text
                    for name in row.flags[0].split("/"))
        assert shown == (command in row.commands), (command, row.flags)
    for heading in {row.group for row in rows_of(command)}:
        assert f"\n{heading}:\n" in text
    assert "x>=1" not in text and "e.g. pdf" not in text


def test_choices_are_listed():
    text = CliRunner().invoke(cli.cli, ["pdf", "--help"], terminal_width=200).output
    assert "--pdf-variant [pdf/a-1b|pdf/a-2b|pdf/a-3b|" in text and "|pdf/ua-2]" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_an_option_of_another_command_is_a_usage_error_naming_it(workdir, command):
    for row in ROWS:
        if command in row.commands:
            continue
        flag = row.flags[0].split("/")[0]
        words = [flag] if row.kind in ("flag", "count") else [flag, "x"]
        result = CliRunner().invoke(cli.cli, [command, *words, "a.md"])
        owners = ", ".join(sorted(row.commands))
        assert result.exit_code == 2, (command, flag)
        assert result.stderr == (f"interview-export: error: {flag} does not apply to {command} "
                                 f"(it is an option of {owners}) (see 'interview-export {command} --help')\n")


def test_inspect_page_size_exits_2(workdir):
    result = CliRunner().invoke(cli.cli, ["inspect", "--page-size", "A5", "x.md"])
    assert result.exit_code == 2
    assert "--page-size does not apply to inspect (it is an option of build, pdf)" in result.stderr


def test_a_mistyped_command_gets_a_suggestion():
    result = CliRunner().invoke(cli.cli, ["ebup", "a.md"])
    assert result.exit_code == 2
    assert result.stderr == ("interview-export: error: no such command 'ebup'; did you mean 'epub'? "
                             "(see 'interview-export --help')\n")
    result = CliRunner().invoke(cli.cli, ["zzzz"])
    assert result.exit_code == 2 and "the commands are build, epub, inspect, pdf, preview" in result.stderr


def test_the_same_check_for_command_line_and_config(workdir, captured):
    for words, toml, message in [(["--page-size", "A99"], 'page-size = "A99"', "page size 'A99'"),
                                 (["--jobs", "0"], "jobs = 0", "0 is not a positive whole number"),
                                 (["--pdf-variant", "pdf/x"], 'pdf-variant = "pdf/x"', "expected one of pdf/a-1b")]:
        result = CliRunner().invoke(cli.cli, ["build", "a.md", *words])
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        (workdir / "interview-export.toml").write_text(toml + "\n", encoding="utf-8")
        result = CliRunner().invoke(cli.cli, ["build", "a.md"])
        assert result.exit_code == 2 and message in result.stderr and "interview-export.toml" in result.stderr
        (workdir / "interview-export.toml").unlink()


def test_unknown_metadata_keys_warn_naming_the_accepted_ones(workdir, captured):
    result = CliRunner().invoke(cli.cli, ["epub", "a.md", "--metadata", "colour=red", "--metadata", "作者=某"])
    assert result.exit_code == 0, result.stderr
    [line] = [l for l in result.stderr.splitlines() if "colour" in l]
    assert line.startswith("interview-export: warning: --metadata colour: unknown metadata key, ignored")
    from interview_export.meta import KEY_ALIASES

    assert "accepted: title, subtitle, " in line
    assert all(f" {name}," in line or f" {name};" in line for name in set(KEY_ALIASES.values()))
    assert "作者" not in result.stderr.replace(line, ""), "a known (alias) key gives no warning"
    (workdir / "interview-export.toml").write_text("[metadata]\nflavour = \"x\"\n", encoding="utf-8")
    result = CliRunner().invoke(cli.cli, ["epub", "a.md"])
    assert "interview-export.toml: [metadata] flavour: unknown metadata key" in result.stderr


def test_dash_o_dash_writes_only_the_book_to_stdout(workdir, monkeypatch):
    def convert_file(source, targets, options, *, overwrite=True):
        return api.ConversionResult(source, {f: api.write_atomic(p, b"%PDF-book") for f, p in targets.items()})

    monkeypatch.setattr(pipeline, "convert_file", convert_file)
    result = CliRunner().invoke(cli.cli, ["pdf", "a.md", "-o", "-", "-j", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == b"%PDF-book"
    assert "→ <stdout>" in result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["a.md", "extra.css", "res", "settings.toml"]


def test_repeatable_options_add_to_the_config_list_or_replace_it(workdir, captured):
    """Pairs merge by key (the command line wins); lists add the command line's items after the
    config file's, unless the row says extend=False (then the command line's list replaces it)."""
    checked = 0
    for row in ROWS:
        if not (row.many and row.config and "build" in row.commands) or row.kind in ("file", "dir"):
            continue
        if row.kind == "pair":
            config, words, expected = {"a": "1", "b": "2"}, [row.label, "b=3"], (("b", "3"), ("a", "1"))
        else:
            config, words = ["from-config"], [row.label, "from-cli"]
            expected = ("from-cli",) if not row.extend else ("from-config", "from-cli")
        text = (f"[{row.config_key}]\n" + "".join(f'{k} = "{v}"\n' for k, v in config.items())) \
            if isinstance(config, dict) else f'{row.config_key} = ["{config[0]}"]\n'
        (workdir / "named.toml").write_text(text, encoding="utf-8")   # named: may widen access too
        result = CliRunner().invoke(cli.cli, ["build", "a.md", "--config", "named.toml", *words])
        assert result.exit_code in (0, 1), (row.name, result.stderr)
        assert field_of(captured[-1], row.name) == expected, row.name
        checked += 1
    assert checked >= 3
