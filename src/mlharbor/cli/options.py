"""Command-line options made from a workflow's request, so that they are declared once.

:func:`request_options` gives a command one ``--option`` per field of a request (its
description as the help, its default shown). The values given reach the command in one
``options`` dict (numbers as numbers, other values as the text typed), and the request
validates them as it validates a REST body: a bad value gets the same message at the
command line as anywhere else, as one red line.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection, Mapping
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

F = TypeVar("F", bound=Callable[..., Any])
METAVARS = {int: "INTEGER", float: "FLOAT", str: "TEXT"}


def _inner(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kinds[0] if len(kinds) == 1 else str
    return annotation


def _default(field: FieldInfo) -> str | bool:
    """The request's default, as ``--help`` shows it (the option's own default is None:
    an option not given is left to the request)."""
    if field.is_required():
        return False
    default = field.get_default(call_default_factory=True)
    if default in (None, [], {}):
        return False
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default.value if isinstance(default, Enum) else default)


def _typed(kind: Any, text: Any) -> Any:
    """A number option's text as the number it spells (as a JSON body would carry it), so
    that the request's message names the value alike at every door; other text as it is."""
    if kind not in (int, float) or not isinstance(text, str):
        return text
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            continue
    return text


def _option(name: str, field: FieldInfo, flag: str) -> inspect.Parameter:
    kind = _inner(field.annotation)
    required = field.is_required()
    default: Any = ... if required else None
    if kind is bool:
        negative = "--no-" + flag.removeprefix("--")
        info = typer.Option(
            f"{flag}/{negative}", help=field.description, show_default=_default(field)
        )
        annotation: Any = Annotated[bool | None, info]
    elif typing.get_origin(kind) is list:
        info = typer.Option(
            flag, help=f"{field.description} Repeatable.", metavar="TEXT", show_default=False
        )
        annotation = Annotated[list[str] | None, info]
    else:
        if isinstance(kind, type) and issubclass(kind, Enum):
            metavar = "[" + "|".join(str(m.value) for m in kind) + "]"
        else:
            metavar = METAVARS.get(kind, "TEXT")
        info = typer.Option(
            flag, help=field.description, metavar=metavar, show_default=_default(field)
        )
        annotation = Annotated[str, info] if required else Annotated[str | None, info]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def request_options(
    request: type[BaseModel],
    *,
    skip: Collection[str] = (),
    flags: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Add an option per field of ``request`` to a Typer command.

    The command declares an ``options: dict`` parameter, which receives the options the
    user gave (as text; unset ones are left out, so the request's defaults apply).

    Parameters
    ----------
    request : pydantic model class
        The workflow's request.
    skip : collection of str
        Fields the command takes otherwise (as arguments, or built from other options).
    flags : mapping
        Field → option name where it differs from ``--field-name`` (``--budget``).
    """
    flags = dict(flags or {})

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "options"]
        taken = {p.name for p in own}
        added = [
            _option(name, field, flags.get(name, "--" + name.replace("_", "-")))
            for name, field in request.model_fields.items()
            if name not in skip and name not in taken
        ]
        kinds = {p.name: _inner(request.model_fields[p.name].annotation) for p in added}

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name, None) for name in kinds}
            options = {
                k: _typed(kinds[k], v) for k, v in given.items() if v is not None and v != []
            }
            return command(*args, options=options, **kwargs)

        parameters = sorted([*own, *added], key=lambda p: p.kind == inspect.Parameter.KEYWORD_ONLY)
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper  # type: ignore[return-value]

    return decorate
