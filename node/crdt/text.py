"""Which characters member-written text may not hold: the one list, shared by the records'
plain-text rule (``records/schema.py``) and the CLI (its input check and output escaping).

C0 controls (ESC starts terminal escape sequences; CR, BS and friends rewrite a line), DEL,
C1 controls (0x9b is a one-byte CSI on some terminals), the Unicode line/paragraph separators
and the bidirectional overrides, embeddings, isolates and marks (Trojan Source). Line breaks
and tabs are allowed only where a field is multi-line.

A leaf module (no imports): the CLI loads it on every start. Also how a message counts
things (:func:`counted`), which the rules' messages and the CLI share.
"""

from __future__ import annotations

UNSAFE = frozenset(
    [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029]
    + [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
MULTILINE_ALLOWED = "\n\t"


def first_unsafe(text: str, allowed: str = "") -> str | None:
    """The first character of ``text`` in :data:`UNSAFE` and not in ``allowed``, or None."""
    for ch in text:
        if ord(ch) in UNSAFE and ch not in allowed:
            return ch
    return None


def counted(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one: "1 vouch", "2 vouches", "0 ops". The
    one place messages count things, so no message says "needs 1 vouches"."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}{'es' if word.endswith(('s', 'sh', 'ch', 'x', 'z')) else 's'}"
