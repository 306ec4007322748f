"""Word tokens: the unit in which semantic shift is measured and augmentations are counted.

A word token is a maximal run of letters or digits, optionally joined by inner apostrophes or hyphens
("he's", "co-writer", "21st"). Punctuation is not a word. Tokens keep their character spans so that an
augmenter can replace a word in place and leave spacing and punctuation exactly as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Zero-width characters (space, non-joiner, joiner, word joiner, soft hyphen) inside a word are part of it:
# "enquire\u200bful" is one word, not two to replace.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u00ad"
WORD_RE = re.compile(rf"[^\W_]+(?:(?:['\u2019\-]|[{ZERO_WIDTH}]+)[^\W_]+)*")
# Text that is not prose: markup tags and entities, URLs, e-mail addresses. Words in them never change
# (`</script>` must not become `</handwriting>`).
PROTECTED_RE = re.compile(
    r"</?[A-Za-z][^<>]{0,500}?>|&(?:[A-Za-z]{2,10}|#\d{1,7}|#x[0-9A-Fa-f]{1,6});"
    r"|(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
)


@dataclass(frozen=True)
class WordToken:
    text: str
    start: int
    end: int


def word_tokens(text: str) -> list[WordToken]:
    return [WordToken(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(text)]


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def protected(text: str, tokens: list[WordToken]) -> list[bool]:
    """For each token, whether it lies in markup, a URL or an e-mail address (PROTECTED_RE)."""
    spans = [m.span() for m in PROTECTED_RE.finditer(text)]
    out, j = [], 0
    for tok in tokens:  # tokens and spans are both in text order: one merge pass
        while j < len(spans) and spans[j][1] <= tok.start:
            j += 1
        out.append(j < len(spans) and spans[j][0] < tok.end)
    return out


def replace_spans(text: str, replacements: dict[int, str], tokens: list[WordToken]) -> str:
    """Returns `text` with token i replaced by replacements[i]; everything else kept byte for byte."""
    out, cursor = [], 0
    for i in sorted(replacements):
        tok = tokens[i]
        out.append(text[cursor : tok.start])
        out.append(replacements[i])
        cursor = tok.end
    out.append(text[cursor:])
    return "".join(out)


def match_case(template: str, word: str) -> str:
    """Gives `word` the casing pattern of `template` (lower, Title or UPPER)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


SENTENCE_END = frozenset(".!?")

# Number words never change: "three" -> "iii" or "one" -> "peerless" changes what a sentence says, not how.
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds "
    "thousand thousands million millions billion billions trillion dozen dozens first second third fourth "
    "fifth sixth seventh eighth ninth tenth twentieth hundredth thousandth once twice thrice half"
)
NUMBER_WORDS = frozenset(_NUMBER_WORDS.split())
# Modal verbs never change either: WordNet knows "may" as a month and a shrub, "might" as power.
MODAL_VERBS = frozenset(["may", "might", "must", "shall", "should", "would", "could", "ought"])


def sentence_initial(text: str, token: WordToken) -> bool:
    """True when only spaces, quotes or brackets stand between the token and a sentence start."""
    before = text[: token.start].rstrip(" \t\n\"'([{\u201c\u2018")
    return not before or before[-1] in SENTENCE_END
