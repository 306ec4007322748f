"""Locating the assets kdaug needs at run time (WordNet, stopwords, the demo corpus and encoder),
each with one clear error that says what to install when it is missing."""

from importlib import resources


class MissingAssetError(RuntimeError):
    """An asset kdaug needs is not installed; the message says how to install it."""


def read_packaged_text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def load_stopwords() -> frozenset[str]:
    lines = read_packaged_text("stopwords_en.txt").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))
