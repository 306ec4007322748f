"""Markdown tables, written one way for every page kdaug writes (the dataset card, the results of demo,
compare, search and sweep)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str) -> list[str]:
    """The lines of a Markdown table: `align` has one letter a column, l (text) or r (numbers, right)."""
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r} needs one of l/r for each of the {len(header)} columns")
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [_row(header), rule] + [_row(r) for r in rows]


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"  # a "|" in a cell is escaped
