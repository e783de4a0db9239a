"""Discussion as data (specs/records.md §12): threads, comments, edits with history, retraction,
reactions and mentions, through a real SQLite store and the Node API; every rule against a
hostile key (stranger, another member, another community, oversize or disguised text)."""

from __future__ import annotations

import pytest
from test_records_support import KEYS, PERMISSIVE, PUB, T0, World, offer_body, view_without

from node import Node
from node.crdt.records import mentions, thread, threads
from node.crdt.state import Rejected
from node.store import Store


class Talk:
    """A store with one open community: founder 0, members 1..3; key 5 is a stranger."""

    def __init__(self, path):
        self.path = path
        self.store = Store.open(path)
        self.ts = T0
        genesis = self.store.create_community(KEYS[0], {**PERMISSIVE, "name": "Talk"})
        self.c = genesis.id
        for i in (1, 2, 3):
            self.ok(i, "member.join", {})

    def ok(self, who: int, kind: str, body: dict, deps=(), community=None):
        self.ts += 1000
        return self.store.append(KEYS[who], community or self.c, kind, body, deps=deps, ts=self.ts)

    def no(self, who: int, kind: str, body: dict, reason: str, deps=(), community=None):
        before = sorted(self.store.state.items(), key=lambda t: (t[0], t[1]))
        with pytest.raises(Rejected) as err:
            self.ok(who, kind, body, deps, community)
        assert err.value.reason == reason, err.value
        assert sorted(self.store.state.items(), key=lambda t: (t[0], t[1])) == before

    @property
    def state(self):
        return self.store.state


@pytest.fixture
def talk(tmp_path):
    t = Talk(tmp_path / "store.db")
    yield t
    t.store.close()


def test_a_thread_on_an_offer_with_replies_edits_retraction_and_reactions(talk):
    offer = talk.ok(1, "offer.create", offer_body())
    th = talk.ok(0, "thread.create", {"title": "Lend the drill?", "text": "", "target": offer.id})
    a = talk.ok(1, "comment.create", {"thread": th.id, "text": "yes\n\tgladly"})
    b = talk.ok(2, "comment.create", {"thread": th.id, "text": "when?", "reply_to": a.id})
    talk.ok(1, "comment.edit", {"comment": a.id, "text": "yes, from Monday"})
    talk.ok(1, "comment.edit", {"comment": a.id, "text": "yes, from Tuesday"})
    talk.ok(2, "comment.retract", {"comment": b.id})
    c = talk.ok(3, "comment.create", {"thread": th.id, "text": "me too", "reply_to": b.id})
    talk.ok(0, "reaction.set", {"target": th.id, "stance": "agree"})
    talk.ok(1, "reaction.set", {"target": th.id, "stance": "question"})
    talk.ok(1, "reaction.set", {"target": th.id, "stance": "agree"})  # the latest wins
    talk.ok(2, "reaction.set", {"target": a.id, "stance": "disagree"})
    talk.ok(3, "reaction.set", {"target": a.id, "stance": "question"})
    talk.ok(2, "reaction.set", {"target": a.id, "stance": None})  # cleared
    free = talk.ok(2, "thread.create", {"title": "Garden day", "text": "Saturday?"})

    listed = threads(talk.state, talk.c)
    assert [t["id"] for t in listed] == [free.id, th.id]  # newest activity first
    assert listed[1] == {
        "id": th.id,
        "author": PUB[0],
        "title": "Lend the drill?",
        "target": offer.id,
        "target_kind": "offer",
        "ts": th.ts,
        "comments": 2,  # the retracted one no longer counts
        "last_activity_ts": c.ts,
        "reactions": {"agree": 2, "disagree": 0, "question": 0},
    }
    assert [t["id"] for t in threads(talk.state, talk.c, target=offer.id)] == [th.id]
    assert threads(talk.state, talk.c, target=free.id) == []
    assert [t["id"] for t in threads(talk.state, talk.c, limit=1, offset=1)] == [th.id]

    view = thread(talk.state, th.id, member=PUB[1])
    assert (view["title"], view["mine"], view["my_stance"]) == ("Lend the drill?", False, "agree")
    assert [x["id"] for x in view["comments"]] == [a.id, b.id, c.id]  # causal order
    first, second, third = view["comments"]
    assert first["text"] == "yes, from Tuesday" and first["edited"] and first["mine"]
    assert [h["text"] for h in first["history"]] == ["yes\n\tgladly", "yes, from Monday"]
    assert first["history"][0]["ts"] == a.ts
    assert first["reactions"] == {"agree": 0, "disagree": 0, "question": 1}
    assert second["retracted"] and second["text"] is None and second["history"] == []
    assert second["reply_to"] == a.id and third["reply_to"] == b.id  # replies keep parents
    assert not third["edited"] and third["edited_ts"] is None and not third["mine"]
    assert "mine" not in thread(talk.state, th.id)["comments"][0]
    assert thread(talk.state, b"\x01" * 32) is None

    talk.store.close()  # the rows are persisted: reopening replays nothing and agrees
    talk.store = Store.open(talk.path)
    assert thread(talk.state, th.id, member=PUB[1]) == view
    assert threads(talk.state, talk.c) == listed


def test_hostile_discussion_ops_are_rejected_and_change_nothing(talk):
    th = talk.ok(1, "thread.create", {"title": "Tools", "text": "which ones?"})
    other = talk.ok(1, "thread.create", {"title": "Seeds", "text": ""})
    a = talk.ok(1, "comment.create", {"thread": th.id, "text": "a drill"})
    elsewhere = talk.ok(2, "comment.create", {"thread": other.id, "text": "tomatoes"})
    # a stranger (never joined) comments, reacts, opens a thread
    talk.no(5, "comment.create", {"thread": th.id, "text": "buy now!"}, "not_member", [th.id])
    talk.no(5, "reaction.set", {"target": th.id, "stance": "agree"}, "not_member", [th.id])
    talk.no(5, "thread.create", {"title": "spam", "text": "x"}, "not_member", [th.id])
    # another member edits or retracts someone else's comment
    talk.no(2, "comment.edit", {"comment": a.id, "text": "a hammer"}, "not_author")
    talk.no(2, "comment.retract", {"comment": a.id}, "not_author")
    # a reply to a comment of another thread
    body = {"thread": th.id, "text": "?", "reply_to": elsewhere.id}
    talk.no(3, "comment.create", body, "wrong_thread")
    # a target that is not a discussable record: a thread, a join, the genesis
    talk.no(2, "thread.create", {"title": "t", "text": "", "target": th.id}, "bad_target")
    talk.no(2, "thread.create", {"title": "t", "text": "", "target": talk.c}, "bad_target")
    talk.no(2, "reaction.set", {"target": talk.c, "stance": "agree"}, "bad_target")
    # a target, a thread or a comment in another community (never in this op's causal past)
    g2 = talk.store.create_community(KEYS[2], {**PERMISSIVE, "name": "Elsewhere"})
    talk.ok(1, "member.join", {}, community=g2.id)
    far_offer = talk.ok(2, "offer.create", offer_body(), community=g2.id)
    far_thread = talk.ok(2, "thread.create", {"title": "far", "text": ""}, community=g2.id)
    bad = {"title": "t", "text": "", "target": far_offer.id}
    talk.no(1, "thread.create", bad, "unknown_ref")
    talk.no(1, "comment.create", {"thread": far_thread.id, "text": "hi"}, "unknown_ref")
    talk.no(1, "reaction.set", {"target": far_thread.id, "stance": "agree"}, "unknown_ref")
    # sizes: 9 KB of text, a 201-character title, 17 mentions
    talk.no(1, "comment.create", {"thread": th.id, "text": "x" * 9000}, "bad_body")
    talk.no(1, "thread.create", {"title": "t" * 201, "text": ""}, "bad_body")
    many = {"thread": th.id, "text": "all of you", "mentions": [bytes([i]) * 32 for i in range(17)]}
    talk.no(1, "comment.create", many, "bad_body")
    # disguised or terminal-controlling text; a title on more than one line
    for text in ("rm -rf \x1b[2J", "evil\u202egnp.exe", "a\rb", "\x00", "a\u2066b"):
        talk.no(1, "comment.create", {"thread": th.id, "text": text}, "bad_body")
        talk.no(1, "thread.create", {"title": "t", "text": text}, "bad_body")
    talk.no(1, "thread.create", {"title": "two\nlines", "text": ""}, "bad_body")
    talk.no(1, "comment.create", {"thread": th.id, "text": ""}, "bad_body")
    # a mention of a key that is not a member (the stranger), or a repeated mention
    body = {"thread": th.id, "text": "hey", "mentions": [PUB[5]]}
    talk.no(1, "comment.create", body, "bad_mention")
    body = {"title": "t", "text": "", "mentions": [PUB[2], PUB[2]]}
    talk.no(1, "thread.create", body, "bad_body")
    # stances are the three named ones (or null)
    talk.no(1, "reaction.set", {"target": th.id, "stance": "love"}, "bad_body")
    # after a retraction the comment is final
    talk.ok(1, "comment.retract", {"comment": a.id})
    talk.no(1, "comment.edit", {"comment": a.id, "text": "back"}, "retracted")
    talk.no(1, "comment.retract", {"comment": a.id}, "retracted")
    # replies to a retracted comment still work: the row stays
    talk.ok(2, "comment.create", {"thread": th.id, "text": "what was it?", "reply_to": a.id})
    assert thread(talk.state, th.id)["comment_count"] == 1


def test_a_thread_on_each_kind_of_record():
    w = World()
    w.join(1, 2)
    offer = w.ok(1, "offer.create", offer_body())
    need = w.ok(2, "need.create", offer_body(title="ladder"))
    project = w.ok(1, "project.create", {"name": "Repair cafe"})
    window = [T0 + 10_000_000, T0 + 20_000_000]
    res = w.ok(2, "reservation.request", {"offer": offer.id, "window": window})
    for target, kind in (
        (offer, "offer"),
        (need, "need"),
        (project, "project"),
        (res, "reservation"),
    ):
        th = w.ok(1, "thread.create", {"title": kind, "text": "", "target": target.id})
        assert thread(w.state, th.id)["target_kind"] == kind
    # a reference the op has not seen is unknown, whatever this node holds
    unseen = w.ok(2, "project.create", {"name": "later"})
    r = view_without(w, {unseen.id})
    op = r.compose(
        KEYS[1],
        w.community,
        "thread.create",
        {"title": "t", "text": "", "target": unseen.id},
        ts=w.ts + 1,
    )
    assert (w.ingest(op).status, w.replica.rejections[op.id]) == ("rejected", "unknown_ref")


def test_mentions_reach_the_inbox_until_the_member_answers():
    w = World()
    w.join(1, 2, 3)
    th = w.ok(1, "thread.create", {"title": "Roof", "text": "leaks", "mentions": [PUB[2]]})
    ask = w.ok(
        3,
        "comment.create",
        {"thread": th.id, "text": "can you fix it?", "mentions": [PUB[2], PUB[3]]},
    )
    pending = mentions(w.state, w.replica.causal, w.community, PUB[2], pending=True)
    assert [(m["id"], m["kind"], m["thread"], m["author"]) for m in pending] == [
        (ask.id, "comment", th.id, PUB[3]),
        (th.id, "thread", th.id, PUB[1]),
    ]
    assert pending[0]["title"] == "Roof" and pending[0]["text"] == "can you fix it?"
    assert mentions(w.state, w.replica.causal, w.community, PUB[3]) == []  # not by oneself
    # a comment written without having seen the question does not answer it
    r = view_without(w, {ask.id})
    blind = r.compose(
        KEYS[2], w.community, "comment.create", {"thread": th.id, "text": "on it"}, ts=w.ts + 1
    )
    w.ingest(blind)
    assert [
        m["id"] for m in mentions(w.state, w.replica.causal, w.community, PUB[2], pending=True)
    ] == [ask.id]
    w.ok(2, "reaction.set", {"target": ask.id, "stance": "agree"}, deps=[ask.id])
    assert mentions(w.state, w.replica.causal, w.community, PUB[2], pending=True) == []
    assert all(m["answered"] for m in mentions(w.state, w.replica.causal, w.community, PUB[2]))
    # a retracted comment's mention leaves the inbox
    again = w.ok(1, "comment.create", {"thread": th.id, "text": "ping", "mentions": [PUB[3]]})
    assert [m["id"] for m in mentions(w.state, w.replica.causal, w.community, PUB[3])] == [again.id]
    w.ok(1, "comment.retract", {"comment": again.id})
    assert mentions(w.state, w.replica.causal, w.community, PUB[3]) == []


async def test_node_query_serves_the_discussion_views_as_json(tmp_path):
    async with Node.open(tmp_path / "n", insecure_plaintext=True, network=False) as node:
        cid = await node.create_community({"name": "Talk", "membership": {"rule": "open"}})
        me = node.public_key
        th = await node.publish(
            cid, "thread.create", {"title": "Hello", "text": "first", "mentions": [me]}
        )
        com = await node.publish(cid, "comment.create", {"thread": th.id, "text": "second"})
        await node.publish(cid, "reaction.set", {"target": com.id, "stance": "agree"})
        listed = node.query("threads", community=cid.hex())
        assert listed == [
            {
                "id": th.id.hex(),
                "author": me.hex(),
                "title": "Hello",
                "target": None,
                "target_kind": None,
                "ts": th.ts,
                "comments": 1,
                "last_activity_ts": com.ts,
                "reactions": {"agree": 0, "disagree": 0, "question": 0},
            }
        ]
        view = node.query("thread", thread_id=th.id.hex(), member=node.member_id)
        assert view["mentions"] == [me.hex()] and view["mine"] is True
        (c,) = view["comments"]
        assert (c["id"], c["text"], c["my_stance"], c["reactions"]["agree"]) == (
            com.id.hex(),
            "second",
            "agree",
            1,
        )
        # one's own mention of oneself is not news
        assert node.query("mentions", community=cid.hex(), member=me.hex()) == []
