"""Options as the caller wrote them, and options the callee does not know.

kdaug's settings reach it two ways: as command-line flags (`--text-column review`) and as Python keywords
(`kdaug.Recipe(text_column="review")`). A message about a setting names it the way its caller wrote it
(`option("text_column")`: `--text-column` under a command, `text_column=` from Python), and a setting the
callee does not know (a mistyped flag or keyword) fails before any work with the one it most likely meant.

Every kdaug command parses its own flags and (where it runs Beam) hands the rest to Beam as pipeline
options; a flag that is neither must not be dropped silently (`--sead 3` would run with the default
seed)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import functools
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

from kdaug.core.errors import KdaugError

# Who called: "python" (the default: the API, or kdaug's classes used directly) or "cli" (a kdaug command).
CALLER: ContextVar[str] = ContextVar("kdaug_caller", default="python")

# Settings whose flag is not their keyword spelled with hyphens.
FLAG_OF = {
    "source_datasets": "--source-dataset",
    "task_ids": "--task-id",
    "csv_header": "--no-csv-header",
    "augmented": "--no-augmented",
}


class UnknownFlagError(KdaugError, ValueError):
    """A flag the command does not know; the message suggests the closest one it does."""


class KeywordError(KdaugError, TypeError):
    """A keyword a kdaug function or class does not take (the message suggests the closest one it does), or
    one it needs and was not given.
    A TypeError too, as Python's own error for an unexpected keyword is."""


def option(name: str) -> str:
    """The setting `name` (a keyword, `text_column`) as the caller writes it: `--text-column` under a kdaug
    command, `text_column=` from Python."""
    key = name.lstrip("-").replace("-", "_")
    if CALLER.get() == "cli":
        return FLAG_OF.get(key, "--" + key.replace("_", "-"))
    return f"{key}="


def given(name: str, value: object) -> str:
    """A setting with its value, as the caller wrote it: `--split 'a b'`, or `split='a b'`."""
    sep = " " if CALLER.get() == "cli" else ""
    return f"{option(name)}{sep}{value!r}"


def switch(name: str) -> str:
    """A boolean setting turned on, as the caller writes it: `--restart`, or `restart=True`."""
    return option(name) if CALLER.get() == "cli" else f"{option(name)}True"


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within it, messages name settings as flags: a kdaug command's entry point runs inside it."""
    token = CALLER.set("cli")
    try:
        yield
    finally:
        CALLER.reset(token)


def flags_of(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]


def _closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to `name`; hyphens, underscores and case do not count (--seed ~ --see_d)."""
    by_key = {k.lstrip("-").replace("_", "-").lower(): k for k in known}
    close = difflib.get_close_matches(name.lstrip("-").replace("_", "-").lower(), list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


def reject_unknown(unknown: Iterable[str], known: Iterable[str], note: str = "") -> None:
    """Raises UnknownFlagError for the first of `unknown` (flags, or values left over), naming the
    closest of `known`."""
    unknown = [u for u in unknown if u]
    if not unknown:
        return
    flag = next((u for u in unknown if u.startswith("-")), unknown[0])
    name = flag.split("=", 1)[0]
    if not name.startswith("-"):
        raise UnknownFlagError(f"unexpected argument {flag!r}")
    close = _closest(name, set(known))
    hint = f"; did you mean {close}?" if close else ""
    raise UnknownFlagError(f"unknown flag {name}{note}{hint}")


def check_keywords(given: Iterable[str], known: Iterable[str], where: str) -> None:
    """Raises KeywordError naming each keyword of `given` that `where` (e.g. "kdaug.distill()")
    does not take, the closest it does take, and all it takes."""
    known = sorted(set(known))
    unknown = [k for k in given if k not in known]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = _closest(name, known)
        parts.append(f"{name!r}" + (f" (did you mean {close!r}?)" if close else ""))
    raise KeywordError(
        f"{where} got unknown keyword{'s' if len(unknown) > 1 else ''} {', '.join(parts)}; it takes: {', '.join(known)}"
    )


def keyword_checked(cls):
    """A dataclass decorator: calling the class with a keyword it does not have, or without a required
    one, raises KeywordError naming it (and the closest it has) instead of a bare TypeError."""
    init = cls.__init__
    params = [f for f in dataclasses.fields(cls) if f.init]
    known = [f.name for f in params]
    required = [f.name for f in params if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        check_keywords(kwargs, known, f"{cls.__name__}()")
        missing = [name for name in required[len(args) :] if name not in kwargs]
        if missing:
            raise KeywordError(
                f"{cls.__name__}() needs {', '.join(f'{n}=' for n in missing)} (it takes: {', '.join(sorted(known))})"
            )
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls
