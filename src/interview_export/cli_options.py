"""Option table → click: each subcommand's options, grouped help, and one-line usage errors.

click alone is enough here (no cloup/rich-click): a `click.Command` subclass prints the options
under the table's headings, and the same class turns "no such option" into "--page-size does not
apply to inspect (it is an option of build, pdf)", which no help-formatting library does.
"""

from __future__ import annotations

from typing import Any, Callable

import click
from click.core import ParameterSource

from .errors import UsageError
from .options import GROUPS, ROWS, Opt, flag_names, rows_of

FROM_DEFAULT = (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


def _callback(row: Opt) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def parse(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if ctx.get_parameter_source(param.name or "") in FROM_DEFAULT:
            return row.default
        if row.kind == "flag":                      # a lone flag switches its default
            return value if "/" in row.flags[0] else not row.default
        try:
            return row.parse(list(value) if isinstance(value, tuple) else value)
        except (ValueError, UsageError) as exc:
            raise click.BadParameter(str(getattr(exc, "message", exc)), ctx=ctx, param=param) from None
    return parse


class _Choice(click.ParamType):
    """Completes a choice row's values; checking stays with the row (one message everywhere)."""

    name = "choice"

    def __init__(self, choices: tuple[str, ...]):
        self.choices = choices

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete.lower())]


def click_option(row: Opt) -> click.Option:
    """One row → its click option (the parameter is named after the row's field)."""
    kw: dict[str, Any] = {"help": row.help, "callback": _callback(row), "expose_value": True}
    if row.kind == "flag":
        kw.update(is_flag=True, default=row.default if "/" in row.flags[0] else False)
    elif row.kind == "count":
        kw.update(count=True)
    else:
        kw.update(multiple=row.many or row.kind == "format", metavar=row.metavar)
        if row.kind == "choice":
            kw.update(type=_Choice(row.choices), metavar="[" + "|".join(row.choices) + "]")
        elif row.kind in ("file", "font", "output"):
            kw.update(type=click.Path())
        elif row.kind == "dir":
            kw.update(type=click.Path(file_okay=False))
    option = click.Option([*row.flags, row.name], **kw)
    option.group = row.group  # type: ignore[attr-defined]
    return option


class TableCommand(click.Command):
    """A subcommand whose options come from the table: help grouped under the table's headings,
    and an option of another subcommand is named as such (a usage error, exit 2)."""

    _own: list[click.Parameter]
    _table_added = False

    @property
    def params(self) -> list[click.Parameter]:
        """The table's options for this command, then its own (INPUT…): the options are made when
        first asked for, so a run makes only its own command's (~0.5 ms each, five commands)."""
        if not self._table_added:
            self._table_added = True
            self._own[:0] = [click_option(row) for row in rows_of(self.name or "")]
        return self._own

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._own = value

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """--help lists this command's options in their groups."""
        groups: dict[str, list[tuple[str, str]]] = {name: [] for name in GROUPS}
        for param in self.get_params(ctx):
            if isinstance(param, click.Argument):        # INPUT... is in the usage line
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                groups.setdefault(getattr(param, "group", "Settings"), []).append(record)
        for name, records in groups.items():
            if records:
                with formatter.section(name):
                    formatter.write_dl(records)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse, turning an option of another subcommand into a usage error that says where it belongs."""
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            owners = sorted({cmd for row in ROWS if exc.option_name in flag_names(row) for cmd in row.commands})
            if owners:
                raise click.UsageError(f"{exc.option_name} does not apply to {self.name} "
                                       f"(it is an option of {', '.join(owners)})", ctx=ctx) from None
            raise


def table_command(group: click.Group, name: str, **kw: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """`@table_command(cli, "epub", short_help=…)`: a subcommand with the table's options for `name`."""
    def decorate(func: Callable[..., Any]) -> click.Command:
        return group.command(name, cls=TableCommand, **kw)(func)
    return decorate


class SuggestingGroup(click.Group):
    """A mistyped subcommand gets the closest one suggested."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """The subcommand; an unknown one is a usage error suggesting the closest command."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"the commands are {', '.join(self.list_commands(ctx))}"
            raise click.UsageError(f"no such command {name!r}; {hint}", ctx=ctx)
        return super().resolve_command(ctx, args)


def usage_line(exc: click.UsageError, prog: str) -> str:
    """A click usage error → one line: what is wrong, and where the help is."""
    where = exc.ctx.command_path if exc.ctx is not None else prog
    message = " ".join(exc.format_message().split())
    return f"{prog}: error: {message} (see '{where} --help')"
