"""Locating the assets kdaug needs at run time (WordNet, stopwords, the demo corpus and encoder),
each with one clear error that says what to install when it is missing."""

from importlib import resources

from kdaug.core.errors import KdaugError


class MissingAssetError(KdaugError, RuntimeError):
    """An asset kdaug needs is not installed; the message says how to install it."""


def read_packaged_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def load_stopwords() -> frozenset[str]:
    lines = read_packaged_text("stopwords_en.txt").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def load_function_expressions() -> frozenset[tuple[str, ...]]:
    """Closed-class fixed expressions ("each other", "because of") as tuples of lower-case words."""
    lines = read_packaged_text("function_expressions.txt").splitlines()
    return frozenset(tuple(line.split()) for line in lines if line.strip() and not line.startswith("#"))


def load_function_word_substitutes(risky: bool = False) -> dict[str, list[str]]:
    """Stopword -> its safe substitutes (or, with `risky`, the ones right in some contexts only)."""
    table = {}
    for line in read_packaged_text("function_words.tsv").splitlines():
        if line.strip() and not line.startswith("#"):
            word, safe, unsafe = line.split("\t")
            table[word] = [s for s in (unsafe if risky else safe).split(",") if s.isalpha()]
    return table


def check_main(description: str, check, argv: list[str] | None = None) -> int:
    """The `python -m kdaug.core.assets.X --check` entry point: runs `check` (which returns a line to
    print), or prints the MissingAssetError's install hint and returns 1."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="load the asset and say where it came from")
    parser.parse_args(argv)
    try:
        print(check())
    except MissingAssetError as err:
        print(err, file=sys.stderr)
        return 1
    return 0
