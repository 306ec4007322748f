"""WordNet for nltk, found in this order: nltk's data path, then a system WordNet 3.0 install
(Debian/Ubuntu `wordnet-base` puts it in /usr/share/wordnet), else one clear error.

A system install lacks the `lexnames` file nltk's reader needs; we carry its 45 fixed rows and
assemble an nltk-shaped directory in kdaug's cache by copying the files once (about 30 MB): nltk's
hardened reader refuses both symlinks and hard links that could point outside its data root.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
from pathlib import Path

from kdaug.core.assets import MissingAssetError, check_main, read_packaged_text

SYSTEM_WORDNET_DIRS = (
    "/usr/share/wordnet",
    "/usr/local/share/wordnet",
    "/usr/share/WordNet-3.0/dict",
    "/usr/local/WordNet-3.0/dict",
    "/opt/homebrew/share/wordnet",
)
REQUIRED_FILES = tuple(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv"))
INSTALL_HINT = (
    "WordNet is not installed. Install it one of these ways:\n"
    "  online:          python -m nltk.downloader wordnet\n"
    "  Debian/Ubuntu:   apt-get install wordnet-base   (kdaug adds the lexnames file nltk needs)\n"
    "  elsewhere:       set WNHOME or KDAUG_WORDNET_DIR to a WordNet 3.0 dict directory"
)

_lock = threading.Lock()
_wordnet = None
_lemma_counts: dict[str, int] | None = None


def cache_dir() -> Path:
    root = os.environ.get("KDAUG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kdaug"
    )
    return Path(root)


def _system_candidates() -> list[Path]:
    dirs = []
    for var in ("KDAUG_WORDNET_DIR", "WNSEARCHDIR"):
        if os.environ.get(var):
            dirs.append(Path(os.environ[var]))
    if os.environ.get("WNHOME"):
        dirs += [Path(os.environ["WNHOME"]) / "dict", Path(os.environ["WNHOME"])]
    return dirs + [Path(d) for d in SYSTEM_WORDNET_DIRS]


def find_system_wordnet() -> Path | None:
    for d in _system_candidates():
        if all((d / f).is_file() for f in REQUIRED_FILES):
            return d
    return None


def nltk_dir_from_system(system_dir: Path, root: Path | None = None) -> Path:
    """Builds `<root>/corpora/wordnet` from a system WordNet dir; returns `<root>` for nltk.data.path."""
    root = root or cache_dir() / "nltk_data"
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for src in system_dir.iterdir():
        if src.is_file():
            dest = target / src.name
            if dest.exists():
                continue
            tmp = target / f".{src.name}.{os.getpid()}"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)  # atomic: concurrent worker processes may race here
    index_sense = target / "index.sense"
    if not index_sense.exists():
        # Debian ships index.sense in a separate package; nltk opens it only to map synsets for the
        # Open Multilingual WordNet, which kdaug does not use, so an empty file stands in for it.
        index_sense.touch()
    lexnames = target / "lexnames"
    if not lexnames.exists():
        tmp = target / f".lexnames.{os.getpid()}"
        tmp.write_text(read_packaged_text("wordnet_lexnames.tsv"), encoding="utf-8")
        os.replace(tmp, lexnames)
    return root


def _nltk_has_wordnet() -> bool:
    import nltk

    for name in ("corpora/wordnet", "corpora/wordnet.zip"):
        try:
            nltk.data.find(name)
            return True
        except LookupError:
            continue
    return False


def find_wordnet() -> None:
    """Puts WordNet where nltk looks (nltk's data path, else a system install assembled in kdaug's
    cache), without loading it; MissingAssetError with install instructions when there is none."""
    import nltk

    if _nltk_has_wordnet():
        return
    system_dir = find_system_wordnet()
    if system_dir is None:
        raise MissingAssetError(INSTALL_HINT)
    root = str(nltk_dir_from_system(system_dir))
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)


def check_wordnet() -> None:
    """MissingAssetError (with install instructions) unless WordNet can be loaded. A system WordNet is
    found without importing nltk, whose import alone takes over a second (it pulls in scikit-learn and
    SciPy where they are installed): this check runs in the job's launcher, before any work."""
    if find_system_wordnet() is None and not _nltk_has_wordnet():
        raise MissingAssetError(INSTALL_HINT)


def load_wordnet():
    """Returns nltk's WordNet corpus reader, loaded once per process."""
    global _wordnet
    with _lock:
        if _wordnet is not None:
            return _wordnet
        find_wordnet()
        from nltk.corpus import wordnet as wn

        wn.ensure_loaded()
        _wordnet = wn
        return wn


def lemma_counts() -> dict[str, int]:
    """Sense-tagged corpus counts by lemma key (what `Lemma.count()` returns), read once per process.
    nltk answers each count() by a binary search of `cntlist.rev` on disk, which made most of the cost
    of a cold synonym lookup; a dict answers the same from memory. Empty when the file is absent
    (every count is then 0, as nltk's own reader gives for an unknown key)."""
    global _lemma_counts
    wn = load_wordnet()
    with _lock:
        if _lemma_counts is None:
            counts: dict[str, int] = {}
            try:
                stream = wn.open("cntlist.rev")
            except (OSError, LookupError):
                stream = []
            for line in stream:
                key, _, count = line.rstrip().partition(" ")
                if key not in counts:  # nltk's search returns the first line of a key
                    counts[key] = int(count.rsplit(" ", 1)[-1])
            _lemma_counts = counts
        return _lemma_counts


# WordNet's usage labels for words a copy must never bring in: a source may hold them, a copy never adds one.
OFFENSIVE_USAGE = ("vulgarism.n.01", "obscenity.n.02", "ethnic_slur.n.01", "disparagement.n.01")


@functools.cache
def offensive_words() -> frozenset[str]:
    """Lower-cased words that WordNet labels vulgar, obscene or a slur in at least half of their senses
    ("fuck", "wop"); a word with mostly other senses ("tool", "boy") is not one. Built once per process."""
    wn = load_wordnet()
    labelled: set = set()
    for domain in OFFENSIVE_USAGE:
        for synset in wn.synset(domain).in_usage_domains():
            labelled.add(synset)
    names = {lem.name().lower() for s in labelled for lem in s.lemmas()}
    out = set()
    for name in names:
        senses = wn.synsets(name)
        if 2 * sum(s in labelled for s in senses) >= len(senses):
            out.add(name.replace("_", " "))
    return frozenset(out)


def describe() -> str:
    wn = load_wordnet()
    return f"WordNet {wn.get_version()} from {wn.root}: dog.n.01 = {wn.synset('dog.n.01').definition()!r}"


if __name__ == "__main__":
    sys.exit(check_main("Check that WordNet is usable by kdaug.", describe))
