"""English word forms the synonym augmenter needs: plurals and third persons (regular, and irregular from
WordNet's exception lists), verb phrases inflected on their first word, and whether a candidate is a mere
derivation of the word it would replace."""

from __future__ import annotations

_THIRD_PERSON = {"be": "is", "have": "has"}


def unchanged(cand: str) -> str:
    """The reading that needs no inflection (the word is its own base form)."""
    return cand


_MAN_SINGULARS = ("human", "german", "roman", "shaman", "talisman", "caiman", "ottoman", "walkman", "doberman")


def regular_plural(word: str) -> str:
    if word.endswith("ies"):
        return word  # series, species: the same in the plural ("serieses" is no word)
    if word.endswith("man") and not word.endswith(_MAN_SINGULARS):
        return word[:-3] + "men"  # gentleman -> gentlemen
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def third_person(verb: str) -> str:
    """The third person singular present: "goes", "does", "watches", "tries", "is", "has"."""
    if verb in _THIRD_PERSON:
        return _THIRD_PERSON[verb]
    if verb.endswith("o") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb + "es"
    return regular_plural(verb)


def inflect_verb_phrase(cand: str) -> str:
    """Third person of a verb phrase: its first word ("take care" -> "takes care")."""
    first, _, rest = cand.partition(" ")
    return f"{third_person(first)} {rest}" if rest else third_person(first)


def derived(cand: str, word: str) -> bool:
    """Whether `cand` is a derivation of `word` rather than another word for it: WordNet lists "evilness"
    and "pridefulness" beside "evil" and "pride", "frailness" beside "frailty", "wondrous" beside
    "wondrously". They share the word's stem, and in its place they mostly break the sentence. Spelling
    variants ("humour", "marvellously") are not derivations."""
    if len(word) >= 3 and (cand.startswith(word) or word.startswith(cand)):
        return True
    shared = next((i for i, (a, b) in enumerate(zip(cand, word)) if a != b), min(len(cand), len(word)))
    return shared >= 5 and not _spelling_variant(cand, word)


def _spelling_variant(a: str, b: str) -> bool:
    """Within two edits of each other and at most one letter longer or shorter ("color" / "colour")."""
    if abs(len(a) - len(b)) > 1:
        return False
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1] <= 2


def verb_exceptions(wn) -> dict[str, list[str]]:
    """Verb -> its forms in WordNet's verb exception list ("find" -> ["found"], "stop" -> ["stopped",
    "stopping"]), without the third persons ("is", "has": third_person makes those)."""
    out: dict[str, list[str]] = {}
    for inflected, bases in sorted(wn._exception_map["v"].items()):
        for base in bases:
            if inflected != third_person(base):
                out.setdefault(base, []).append(inflected)
    return out


def irregular_forms(wn, pos: str) -> dict[str, str]:
    """Base -> its irregular plural, from WordNet's exception list (noun.exc: "men" -> "man"). Where a base
    has several, the regular one if listed, else the first in alphabetical order."""
    forms: dict[str, list[str]] = {}
    for inflected, bases in wn._exception_map[pos].items():
        for base in bases:
            forms.setdefault(base, []).append(inflected)
    out = {}
    for base, inflected in forms.items():
        regular = regular_plural(base)
        out[base] = regular if regular in inflected else sorted(inflected)[0]
    return out
