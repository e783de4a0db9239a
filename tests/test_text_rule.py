"""The records' one text rule (specs/records.md §2 "Text"): no control character or
bidirectional override in any text a key signs, line feeds and tabs only in multi-line
fields, required texts not only whitespace. Checked where every node checks it (the replica's
handlers, the governance schema), with any text hypothesis can make; and what is accepted is
stored unchanged and printed inert by the CLI."""

from __future__ import annotations

import io
import re
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from test_records_support import DAY, T0, World, offer_body

from node.crdt.records import listing_views
from node.crdt.records.schema import LINE_BREAKS, UNSAFE, text
from node.crdt.state import Rejected
from node.governance.proposal import check_proposal

_CODE = re.compile(r"U\+([0-9A-F]{4})")

any_char = st.characters(codec="utf-8", exclude_categories=("Cs",))
unsafe_char = st.sampled_from(sorted(chr(c) for c in UNSAFE))
# Mostly ordinary text, often with a refused character (or a line break) somewhere in it.
texts = st.lists(st.one_of(any_char, any_char, unsafe_char), max_size=30).map("".join) | (
    st.sampled_from(["Line1\nLine2", "a\x1b[31mRED", "\u202eevil", "x\x9b2J", " \t ", "ok"])
)


def _refused_char(detail: str, value: str) -> str | None:
    m = _CODE.search(detail)
    return None if m is None else chr(int(m.group(1), 16))


def _rendered(title: str, description: str, tty: bool) -> str:
    """What `we offer list` and `we offer show` write for such a listing."""
    from cli import output

    class Out(io.StringIO):
        def isatty(self):
            return tty

    class Ctx:
        json = False

    row = {"id": "ab" * 32, "title": title, "description": description}
    buf = Out()
    with mock.patch("sys.stdout", buf):
        for as_json in (False, True):
            Ctx.json = as_json
            output.emit_table(Ctx, [row], ["id", "title"], lambda r: [r["id"], r["title"]])
            output.emit(Ctx, row, lambda c, d: c.print(output.safe_markup(d["description"])))
    return re.sub("\x1b\\[[0-9;]*m", "", buf.getvalue())  # rich's own styles


@settings(max_examples=150, deadline=None)
@given(title=texts, description=texts, tty=st.booleans())
def test_any_text_is_refused_clearly_or_kept_unchanged_and_shown_inert(title, description, tty):
    w = World()
    w.join(1)
    body = offer_body(title=title, description=description)
    op, out = w.do(1, "offer.create", body)
    bad_title = any(ord(c) in UNSAFE for c in title) or not title.strip() or len(title) > 200
    bad_desc = any(ord(c) in UNSAFE - LINE_BREAKS for c in description)
    if out.status == "rejected":
        assert out.reason == "bad_body" and (bad_title or bad_desc), (out, title, description)
        field = "title" if bad_title else "description"
        assert f"field {field!r}" in out.detail, out.detail
        refused = _refused_char(out.detail, title if bad_title else description)
        if refused is not None:  # a refused character is named by its code point
            assert ord(refused) in UNSAFE and refused in (title if bad_title else description)
        else:
            assert "whitespace" in out.detail or "length" in out.detail
        return
    assert out.status == "applied" and not bad_title and not bad_desc
    stored = listing_views.listing(w.state, op.id, T0)
    assert (stored["title"], stored["description"]) == (title, description)  # unchanged
    shown = _rendered(title, description, tty)
    assert not [c for c in shown if ord(c) in UNSAFE and c != "\n"], repr(shown)


@settings(max_examples=100, deadline=None)
@given(value=texts, lines=st.booleans(), required=st.booleans())
def test_the_one_rule_is_the_same_for_every_field(value, lines, required):
    """``text(n, lines=...)`` refuses exactly the rule's characters, whatever the field."""
    check = text(10_000, min_len=1 if required else 0, lines=lines)
    refused = UNSAFE - LINE_BREAKS if lines else UNSAFE
    expect_bad = any(ord(c) in refused for c in value) or (required and not value.strip())
    assert (check(value) is not None) == expect_bad


def _proposal(**kw) -> dict:
    body = {"title": "Paint the shed", "method": "single", "options": ["red", "blue"]}
    return {**body, "opens": T0, "closes": T0 + DAY, **kw}


def test_proposal_texts_follow_the_rule():
    """Governance texts are checked by the same rule on every node."""
    check_proposal(_proposal(text="why:\n\tbecause"))
    for bad in (
        {"title": "Paint\x1b]0;pwned\x07"},
        {"title": "   "},
        {"text": "a\rb"},
        {"options": ["red", "bl\u202eue"]},
        {"options": ["red", "two\nlines"]},
        {"topic": "\u2066x"},
    ):
        try:
            check_proposal(_proposal(**bad))
        except Rejected as e:
            assert e.reason == "bad_body" and next(iter(bad)) in e.detail, e.detail
        else:
            raise AssertionError(f"accepted {bad}")


def test_a_hostile_members_escape_sequence_is_rejected_by_the_replica():
    """Not only the CLI: an op signed by another client carrying an escape never applies."""
    w = World()
    w.join(1)
    for kind, body in (
        ("profile.set", {"display_name": "Bob\x1b]0;pwned\x07\x1b[2J"}),
        ("offer.create", offer_body(tags=["\x1b[2J"])),
        ("need.create", offer_body(quantity={"amount": 1, "unit": "kg\u202e"})),
        ("project.create", {"name": "Shed\x00"}),
        ("member.leave", {"note": "bye\x08\x08\x08"}),
    ):
        w.rejected(1, kind, body, "bad_body")


def test_skill_tags_in_any_script_but_no_space_capital_or_control():
    from node.crdt.records.schema import skill

    for ok in ("carpentry", "bike-repair", "électronique", "木工", "tools/power", "3d-print"):
        assert skill(ok) is None, ok
    for bad in ("", "Carpentry", "bike repair", "-x", "/x", "_x", "a\u202eb", "x\x1b", "a" * 65, 3):
        assert skill(bad) is not None, bad
