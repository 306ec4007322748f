"""Unknown command-line flags: a mistyped flag fails before any work, with the flag it most likely meant.

Every kdaug command parses its own flags and (where it runs Beam) hands the rest to Beam as pipeline
options; a flag that is neither must not be dropped silently (`--sead 3` would run with the default
seed)."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable

from kdaug.core.errors import KdaugError


class UnknownFlagError(KdaugError, ValueError):
    """A flag the command does not know; the message suggests the closest one it does."""


def flags_of(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]


def reject_unknown(unknown: Iterable[str], known: Iterable[str], note: str = "") -> None:
    """Raises UnknownFlagError for the first of `unknown` (flags, or values left over), naming the
    closest of `known`; hyphens and underscores are alike when matching (--seed ~ --see_d)."""
    unknown = [u for u in unknown if u]
    if not unknown:
        return
    known = sorted(set(known))
    flag = next((u for u in unknown if u.startswith("-")), unknown[0])
    name = flag.split("=", 1)[0]
    if not name.startswith("-"):
        raise UnknownFlagError(f"unexpected argument {flag!r}")
    by_key = {k.lstrip("-").replace("_", "-").lower(): k for k in known}
    close = difflib.get_close_matches(name.lstrip("-").replace("_", "-").lower(), list(by_key), n=1, cutoff=0.6)
    hint = f"; did you mean {by_key[close[0]]}?" if close else ""
    raise UnknownFlagError(f"unknown flag {name}{note}{hint}")
