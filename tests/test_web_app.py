"""The web app without a browser: a real node (real store) with the app served by Hypercorn
inside the test's trio run, driven over real HTTP by httpx. Fast enough for every ballot
method and for hypothesis over hostile text; the browser tests are in test_web.py."""

from __future__ import annotations

import functools
import re
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from node import Node
from node.service.web import WebConfig, login_url, read_or_create_token


@asynccontextmanager
async def app_node(tmp_path):
    async with Node.open(
        tmp_path / "n", insecure_plaintext=True, network=False, web=WebConfig()
    ) as node:
        cid = await node.create_community({"name": "Garden", "membership": {"rule": "open"}})
        async with httpx.AsyncClient(base_url=node.web_url, follow_redirects=True) as client:
            token = read_or_create_token(node.data_dir)
            r = await client.get(login_url(node.web_url, token))
            assert r.status_code == 200 and r.url.path == f"/c/{cid.hex()}"
            yield node, cid.hex(), client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def post(client, path: str, data: dict) -> httpx.Response:
    page = await client.get(path)
    return await client.post(path, data={"csrf": csrf_of(page.text), **data})


BALLOTS = [  # method, options, form fields, the choice the tally must show
    ("basic", "", {"choice": "yes"}, "yes"),
    ("consent", "", {"choice": "object"}, "object"),
    ("single", "A\nB", {"choice": "B"}, "B"),
    ("approval", "A\nB\nC", {"opt0": "1", "opt2": "1"}, ["A", "C"]),
    ("irv", "A\nB\nC", {"rank0": "2", "rank1": "", "rank2": "1"}, ["C", "A"]),
    ("schulze", "A\nB\nC", {"rank0": "3", "rank1": "1", "rank2": "2"}, ["B", "C", "A"]),
    ("score", "A\nB", {"n0": "5", "n1": "2"}, {"A": 5, "B": 2}),
    ("quadratic", "A\nB", {"n0": "3", "n1": "-2"}, {"A": 3, "B": -2}),
]


async def test_a_ballot_form_for_every_method(tmp_path):
    async with app_node(tmp_path) as (node, cid, client):
        for method, options, fields, want in BALLOTS:
            r = await post(
                client,
                f"/c/{cid}/proposals",
                {"title": f"By {method}", "method": method, "options": options, "closes": "+1h"},
            )
            assert "/proposal/" in r.url.path, (method, r.text[:400])
            pid = r.url.path.rsplit("/", 1)[1]
            assert 'id="ballot"' in r.text
            r = await client.post(
                f"/c/{cid}/proposal/{pid}/vote", data={"csrf": csrf_of(r.text), **fields}
            )
            assert "Your ballot is in" in r.text, (method, re.findall(r"flash[^<]+<", r.text))
            tally = node.query("proposal_tally", proposal=pid)
            me = node.identity.public_key.hex()
            assert [v["choice"] for v in tally["voters"] if v["member"] == me] == [want], method
            if method == "irv":
                assert "Instant-runoff rounds" in r.text
            if method == "schulze":
                assert "Schulze: pairwise preferences" in r.text


async def test_a_refused_ballot_says_why_and_changes_nothing(tmp_path):
    async with app_node(tmp_path) as (node, cid, client):
        r = await post(
            client,
            f"/c/{cid}/proposals",
            {"title": "Q", "method": "quadratic", "options": "A\nB", "closes": "+1h"},
        )
        pid = r.url.path.rsplit("/", 1)[1]
        over = {"csrf": csrf_of(r.text), "n0": "10", "n1": "1"}  # 101 credits of 100
        r = await client.post(f"/c/{cid}/proposal/{pid}/vote", data=over)
        assert 'class="flash error"' in r.text
        assert node.query("proposal_tally", proposal=pid)["voters"] == []
        tie = {"csrf": csrf_of(r.text), "n0": "x"}
        r = await client.post(f"/c/{cid}/proposal/{pid}/vote", data=tie)
        assert "a whole number" in r.text


async def test_a_post_without_the_csrf_field_is_refused(tmp_path):
    async with app_node(tmp_path) as (node, cid, client):
        before = node.query("offers", community=cid)
        fields = {"title": "Forged", "category": "tools", "expires": "+30d"}
        r = await client.post(f"/c/{cid}/offers", data=fields)
        assert r.status_code == 403
        other = httpx.AsyncClient(base_url=node.web_url)  # no session: the field is not enough
        page = await client.get(f"/c/{cid}/offers")
        r = await other.post(f"/c/{cid}/offers", data={**fields, "csrf": csrf_of(page.text)})
        assert r.status_code == 403
        await other.aclose()
        assert node.query("offers", community=cid) == before
        r = await post(client, f"/c/{cid}/offers", fields)
        assert "Posted offer" in r.text and len(node.query("offers", community=cid)) == 1


async def test_pages_carry_security_headers_and_the_cookie_flags(tmp_path):
    async with app_node(tmp_path) as (node, cid, client):
        r = await client.get(f"/c/{cid}")
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        fresh = httpx.AsyncClient(base_url=node.web_url)
        token = read_or_create_token(node.data_dir)
        r = await fresh.get(login_url(node.web_url, token))
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        await fresh.aclose()
        assert (node.data_dir / "web.token").stat().st_mode & 0o777 == 0o600


async def test_the_event_stream_tells_of_a_new_op(tmp_path):
    async with app_node(tmp_path) as (node, cid, client):
        got = trio.Event()

        async def listen():
            async with client.stream("GET", f"/c/{cid}/events") as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                async for line in resp.aiter_lines():
                    if line.startswith("data:") and "offer.create" in line:
                        got.set()
                        return

        async with trio.open_nursery() as n:
            n.start_soon(listen)
            await trio.sleep(0.2)  # the stream subscribes when its request arrives
            for _ in range(50):  # each offer is one more chance to be seen
                await post(client, f"/c/{cid}/offers", {"title": "Spade", "category": "tools"})
                with trio.move_on_after(0.5):
                    await got.wait()
                if got.is_set():
                    break
            n.cancel_scope.cancel()
        assert got.is_set()


HOSTILE = st.text(
    alphabet=st.sampled_from(list("<>&\"'/= abimgonerror()\n")), min_size=1, max_size=40
)
TAG = re.compile(r"<(/?[a-zA-Z][^\s>/]*)")


def _pages(env, title: str, name: str, option: str) -> str:
    from node.service.web import pages

    common = {
        "cid": "c" * 64,
        "info": {"charter": {"name": name, "witnesses": []}},
        "who": {"a" * 64: name},
        "members": [{"member": "a" * 64, "status": "member"}],
        "csrf": "x",
        "flashes": [("error", title)],
        "me": "b" * 64,
        "member_id": "12D3KooW",
    }
    row = {"id": "d" * 64, "title": title, "description": title, "author": "a" * 64}
    page = env.get_template("listings.html").render(
        family="offer", rows=[row], filters={"text": title}, error=title, actions=[], **common
    )
    p = {"id": "e" * 64, "title": title, "text": title, "method": "irv", "phase": "open"}
    tally = {"status": "final", "winner": option, "tied": [], "voters": [], "seals": []}
    return page + env.get_template("proposal.html").render(
        p={**p, "weights": {"base": "equal"}, "author": "a" * 64, "closes": 0},
        t={**tally, "participation": "1", "eligible": "1", "needed_seals": 1},
        choices=[option, "B"],
        chart=pages.bars({option: "1", "B": "0"}, option),
        rounds=[],
        matrix=None,
        credits=100,
        max_score=5,
        witnesses=[],
        i_witness=False,
        my_choice=None,
        voted=False,
        **common,
    )


@settings(max_examples=60, deadline=None)
@given(title=HOSTILE, name=HOSTILE, option=HOSTILE)
def test_member_text_never_adds_markup(title, name, option):
    """Whatever members write (titles, names, options), the pages have exactly the tags they
    have with plain words in those places: member text is escaped, in text and attributes."""
    from node.service.web.app import environment

    env = environment()
    plain = TAG.findall(_pages(env, "title", "name", "option"))
    assert TAG.findall(_pages(env, title, name, option)) == plain


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "example.org"])
def test_web_config_refuses_beyond_loopback(host):
    with pytest.raises(ValueError, match="allow_remote"):
        WebConfig(host=host).check()
    WebConfig(host=host, allow_remote=True).check()


needs_discussion = pytest.mark.skipif(
    "threads" not in __import__("node.service.control", fromlist=["views"]).views(),
    reason="this build has no discussion records (branch disc not merged yet)",
)


@needs_discussion
async def test_discuss_a_proposal_reply_react_edit_retract(tmp_path):
    async with app_node(tmp_path) as (node, cid, client):
        await node.publish(bytes.fromhex(cid), "profile.set", {"display_name": "Ann"})
        r = await post(
            client,
            f"/c/{cid}/proposals",
            {"title": "Paint the shed", "method": "basic", "closes": "+1h"},
        )
        pid = r.url.path.rsplit("/", 1)[1]
        assert "No discussion yet." in r.text
        back = f"/c/{cid}/proposal/{pid}"
        r = await client.post(
            f"/c/{cid}/threads",
            data={
                "csrf": csrf_of(r.text),
                "title": "Which colour?",
                "text": "Green <b>or</b> red?",
                "target": pid,
                "back": back,
            },
        )
        assert r.url.path == back and "Which colour?" in r.text
        assert "Green &lt;b&gt;or&lt;/b&gt; red?" in r.text
        [t] = node.query("threads", community=cid, target=pid)
        tid = t["id"]
        comment = {"csrf": csrf_of(r.text), "text": "Green, says @Ann", "back": back}
        r = await client.post(f"/c/{cid}/thread/{tid}/comment", data=comment)
        assert "Your comment is posted." in r.text
        [c] = node.query("thread", thread_id=tid)["comments"]
        assert c["mentions"] == [node.identity.public_key.hex()]  # "@Ann" named a member
        reply = {**comment, "text": "Agreed", "reply_to": c["id"]}
        r = await client.post(f"/c/{cid}/thread/{tid}/comment", data=reply)
        assert 'class="comment depth1"' in r.text
        r = await client.post(
            f"/c/{cid}/react/{c['id']}",
            data={"csrf": csrf_of(r.text), "stance": "agree", "back": back},
        )
        assert node.query("thread", thread_id=tid)["comments"][0]["reactions"]["agree"] == 1
        r = await client.post(  # pressed again: the button sends "" and clears it
            f"/c/{cid}/react/{c['id']}", data={"csrf": csrf_of(r.text), "stance": "", "back": back}
        )
        assert node.query("thread", thread_id=tid)["comments"][0]["reactions"]["agree"] == 0
        edit = {"csrf": csrf_of(r.text), "text": "Dark green", "back": back}
        r = await client.post(f"/c/{cid}/comment/{c['id']}/edit", data=edit)
        assert "Dark green" in r.text and "Earlier versions (1)" in r.text
        r = await client.post(
            f"/c/{cid}/comment/{c['id']}/retract", data={"csrf": csrf_of(r.text), "back": back}
        )
        assert "(retracted by its author)" in r.text
        # a back address elsewhere is not followed
        evil = {"csrf": csrf_of(r.text), "text": "x", "back": "//evil.example/"}
        r = await client.post(f"/c/{cid}/thread/{tid}/comment", data=evil, follow_redirects=False)
        assert r.headers["location"] == f"/c/{cid}/threads"
        r = await client.get(f"/c/{cid}/threads")
        assert "Which colour?" in r.text and f"/c/{cid}/thread/{tid}" in r.text
        # a thread's page reads that thread, not every thread about its target (nor every
        # thread of the community for a community thread) with all their comments
        from node.service.control import views

        for i in range(3):
            node.store.append(node.identity.signing_key, bytes.fromhex(cid), "thread.create",
                              {"title": f"other {i}", "text": "", "target": bytes.fromhex(pid)},
                              deps=[bytes.fromhex(pid)])  # fmt: skip
        table, read = views(), []
        real = table["thread"]

        @functools.wraps(real)  # the same parameters, which the control API converts by
        def counting(*args, **kw):
            read.append(1)
            return real(*args, **kw)

        table["thread"] = counting
        try:
            r = await client.get(f"/c/{cid}/thread/{tid}")
        finally:
            table["thread"] = real
        assert r.status_code == 200 and "Agreed" in r.text and "other 0" not in r.text
        assert len(read) == 1
        r = await client.get(f"/c/{cid}/thread/{'00' * 32}")
        assert r.status_code == 404


@pytest.mark.skipif(
    "threads" not in __import__("node.service.control", fromlist=["views"]).views(),
    reason="this build has no discussion records",
)
async def test_the_threads_page_comes_in_pages(tmp_path):
    """A community's discussion lists its threads a page at a time, latest activity first,
    with links to the older and newer pages; a page that is no number is refused with a
    reason, and nothing is lost past the last page."""
    from node.service.web.app import THREADS_PAGE

    async with app_node(tmp_path) as (node, cid, client):
        total = THREADS_PAGE + 5
        for i in range(total):
            node.store.append(node.identity.signing_key, bytes.fromhex(cid), "thread.create",
                              {"title": f"topic {i}", "text": ""})  # fmt: skip
        titles = []
        for n, rows, links in ((1, THREADS_PAGE, ["Older"]), (2, 5, ["Newer"])):
            r = await client.get(f"/c/{cid}/threads?page={n}")
            found = re.findall(r'class="thread-title">(topic \d+)<', r.text)
            assert len(found) == rows
            assert [w for w in ("Newer", "Older") if f"{w} threads" in r.text] == links
            titles += found
        whole = [t["title"] for t in node.query("threads", community=cid)]  # latest first
        assert titles == whole and len(set(whole)) == total
        r = await client.get(f"/c/{cid}/threads?page=3")
        assert "No threads on this page." in r.text and "Newer threads" in r.text
        for bad in ("0", "x", "-1", "9" * 5000):  # (int() alone refuses 5,000 digits)
            r = await client.get(f"/c/{cid}/threads?page={bad}")
            assert r.status_code == 404 and "pages count from 1" in r.text


async def test_the_projects_page_lists_the_latest_work_a_page_at_a_time(tmp_path):
    """The projects page shows the latest contributions a page at a time (read from the
    community's time line, not every contribution with every attestation), each with the
    viewer's own verdict on it; earlier work is a page further."""
    import nacl.signing

    from node.service.web import pages
    from node.service.web.app import CONTRIBUTIONS_PAGE

    async with app_node(tmp_path) as (node, cid, client):
        c, other = bytes.fromhex(cid), nacl.signing.SigningKey.generate()
        node.store.append(other, c, "member.join", {})
        now = pages.now_ms()
        made = [
            node.store.append(
                other,
                c,
                "contribution.record",
                {"action": "work", "effort_minutes": 30, "at": now - i * 1000, "note": f"job {i}"},
            )  # fmt: skip
            for i in range(CONTRIBUTIONS_PAGE + 3)
        ]
        r = await client.get(f"/c/{cid}/projects")
        action = f"/c/{cid}/attest/{made[1].id.hex()}"
        r = await client.post(action, data={"csrf": csrf_of(r.text), "verdict": "dispute"})
        assert "Disputed contribution" in r.text
        jobs = []
        for n, rows in ((1, CONTRIBUTIONS_PAGE), (2, 3)):
            r = await client.get(f"/c/{cid}/projects?page={n}")
            found = re.findall(r"<td>(job \d+)</td>", r.text)
            assert len(found) == rows
            jobs += found
        assert jobs == [f"job {i}" for i in range(CONTRIBUTIONS_PAGE + 3)]  # latest first
        r = await client.get(f"/c/{cid}/projects")
        row = r.text[r.text.index(f'id="k{made[1].id.hex()}"') :]
        row = row[: row.index("</tr>")]
        assert 'value="dispute" aria-pressed="true"' in row and "Earlier work" in r.text
        r = await client.get(f"/c/{cid}/projects?page=x")
        assert r.status_code == 404 and "pages count from 1" in r.text


async def test_the_projects_page_lists_the_latest_projects_a_page_at_a_time(tmp_path):
    """The projects page lists the latest started projects a page at a time (from the
    community's time line, not every project), and the form offers the projects the viewer
    runs, however old, then the latest ones."""
    import nacl.signing

    from node.service.web.app import PROJECTS_PAGE

    async with app_node(tmp_path) as (node, cid, client):
        c, other = bytes.fromhex(cid), nacl.signing.SigningKey.generate()
        node.store.append(other, c, "member.join", {})
        mine = node.store.append(node.identity.signing_key, c, "project.create", {"name": "mine"})
        for i in range(PROJECTS_PAGE + 2):
            node.store.append(other, c, "project.create", {"name": f"proj {i}"})
        names = []
        for n, rows in ((1, PROJECTS_PAGE), (2, 3)):
            r = await client.get(f"/c/{cid}/projects?projects={n}")
            listed = r.text[: r.text.index('id="contributions"')]
            found = re.findall(r"<li><b>(mine|proj \d+)</b>", listed)
            assert len(found) == rows
            names += found
            menu = re.findall(r'<option value="([0-9a-f]+)">', r.text)
            assert mine.id.hex() in menu and len(menu) == PROJECTS_PAGE + 1  # mine + latest
        whole = [p["name"] for p in node.query("projects", community=cid)]  # oldest first
        assert names == whole[::-1] and len(set(names)) == PROJECTS_PAGE + 3
        assert "Later projects" in r.text and "Earlier projects" not in r.text
        r = await client.get(f"/c/{cid}/projects?projects=0")
        assert r.status_code == 404 and "pages count from 1" in r.text


async def test_a_malformed_or_unknown_id_in_any_address_is_a_404_page(tmp_path):
    """Every page whose address holds an id answers a malformed one (a prefix, too short, not
    hex) or one this node does not hold with the 404 page that says so, never a 500."""
    from starlette.routing import Route

    from node.service.web.app import create_app

    async with app_node(tmp_path) as (node, cid, client):
        pages = [
            r
            for r in create_app(node, "unused").routes
            if isinstance(r, Route) and "GET" in (r.methods or ()) and r.param_convertors
        ]
        assert len(pages) >= 10  # every page of a community
        good = {"cid": cid, "family": "offers"}
        tried = []
        for route in pages:
            ids = [p for p in route.param_convertors if p != "family"]  # (a word, not an id)
            for name in ids:
                for bad in ("abc", "a0064a5a", "zz", "g" * 64, "00" * 32):
                    fill = {p: good.get(p, "11" * 32) for p in route.param_convertors}
                    path = route.path.replace(":str}", "}").format(**{**fill, name: bad})
                    r = await client.get(path)
                    assert r.status_code == 404, (path, r.status_code, r.text[:300])
                    assert "Not here" in r.text and "Back to the start" in r.text, path
                    tried.append(path)
        assert f"/c/{cid}/proposal/a0064a5a" in tried and "/c/zz/offers" in tried
        r = await client.get(f"/c/{cid}/proposal/a0064a5a")
        assert "whole id" in r.text


def test_a_name_shaped_like_a_member_id_cannot_pass_for_that_member_on_a_page():
    """The pages showed a member's display name bare: one named after another member's id
    read as that member (the CLI had been told apart already)."""
    import nacl.signing

    from node.identity import member_id
    from node.service.web import pages

    bob, carol, dan, eve = (bytes(nacl.signing.SigningKey.generate().verify_key) for _ in "1234")
    bobs = member_id(bob)
    members = [
        {"member": bob.hex(), "profile": {}},
        {"member": carol.hex(), "profile": {"display_name": bobs}},
        {"member": dan.hex(), "profile": {"display_name": "Sam"}},
        {"member": eve.hex(), "profile": {"display_name": "sam"}},
    ]
    who = pages.names(members)
    assert who[bob.hex()] == bobs[:14]
    assert who[carol.hex()] == f'{member_id(carol)[:14]} (named "{bobs}")'
    assert who[dan.hex()] == f"Sam ({member_id(dan)[:14]})"  # two of one name: each with its id
    assert who[eve.hex()] == f"sam ({member_id(eve)[:14]})"


def test_a_key_no_member_has_is_shown_by_member_id_on_a_page():
    """Pages fell back to a key's first 8 hex characters (a form nothing a person types
    takes) where a key had no entry in the members list."""
    import nacl.signing

    from node.identity import member_id
    from node.service.web.app import environment

    stranger = bytes(nacl.signing.SigningKey.generate().verify_key)
    shown = environment().from_string("{{ k|member(who) }}").render(k=stranger.hex(), who={})
    assert shown == member_id(stranger)[:14]
    named = environment().from_string("{{ k|member(who) }}")
    assert named.render(k=stranger.hex(), who={stranger.hex(): "Ann"}) == "Ann"
