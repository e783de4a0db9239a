"""The pages and forms (Starlette). Each page reads the node's views; each form builds one op
body and hands it to ``Node.publish`` (or ``Node.seal``); the node's rules say yes or no, and
the answer comes back as a message on the next page.

    /login?token=            trade the secret link for a session
    /                        the communities this node holds (one: straight to it)
    /c/{c}                   home: charter, members, what needs me, recent activity
    /c/{c}/offers|needs      search, filter by category / text / place, post a new one
    /c/{c}/offer/{id}        one offer: calendar of its reservations, reserve; answer requests
    /c/{c}/projects          projects, contributions, attest; record a contribution
    /c/{c}/scores            contribution scores and their curve over 90 days
    /c/{c}/proposals         proposals, create one
    /c/{c}/proposal/{id}     ballot form for its method, live tally, breakdown, seals
    /c/{c}/delegation        delegate / revoke
    /c/{c}/threads           discussion: every thread, open a community thread
    /c/{c}/thread/{id}       one thread: comments and replies, reactions, edit, retract
                             (threads about an offer or a proposal show on its page too)
    /c/{c}/events            server-sent events: one per op applied in this community
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jinja2
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..words import member_label
from . import pages
from .auth import COOKIE, Sessions

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
METHODS = ["basic", "single", "approval", "irv", "schulze", "score", "quadratic", "consent"]
ACTIONS = ["lend", "give", "share-use", "service", "work"]
THREADS_PAGE = 30  # threads a page of the discussion lists, latest activity first
CONTRIBUTIONS_PAGE = 50  # contributions a page of the projects page lists, latest work first
PROJECTS_PAGE = 30  # projects a page of the projects page lists, the latest started first
STEPS = {  # reservation step -> who may take it (the node checks; this only picks buttons)
    "accept": ("owner", ("requested",)),
    "decline": ("owner", ("requested",)),
    "cancel": ("either", ("requested", "accepted")),
    "handover": ("requester", ("accepted",)),
    "return": ("owner", ("handed_over",)),
}
# What the id in each part of an address names. Every path parameter is an id except WORDS;
# a page whose address holds a malformed id is a page that does not exist (404), found in
# ``page`` before any view is asked (the node refuses such an id as a bad argument).
IDS = {"cid": "community", "oid": "offer or need", "pid": "proposal", "tid": "thread"}
WORDS = {"family", "step"}
ID_RE = re.compile(r"[0-9a-fA-F]{64}")


class Forbidden(Exception):
    pass


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every member-written text is escaped, in attributes too
    )
    env.globals.update(when=pages.when, num=pages.number_text)
    env.filters["member"] = lambda key_hex, who: member_label(who, key_hex)
    return env


def create_app(node: Any, token: str) -> Starlette:
    env = environment()
    sessions = Sessions(token)
    # Browsers share cookies across the ports of one host: each node's cookie has its own
    # name, so one browser can be logged in to two local nodes (two members, or tests).
    cookie = f"{COOKIE}_{node.member_id[-10:]}"
    flashes: dict[str, list[tuple[str, str]]] = {}

    # ---- plumbing -------------------------------------------------------------------------
    def guard(request: Request) -> str:
        allowed = getattr(app.state, "allowed_hosts", None)
        if allowed is not None and request.headers.get("host") not in allowed:
            raise Forbidden("unknown Host")
        sid = request.cookies.get(cookie)
        if sessions.csrf(sid) is None:
            raise Forbidden("no session")
        return sid

    def render(request: Request, sid: str, name: str, status: int = 200, **ctx: Any) -> Response:
        ctx.setdefault("cid", None)
        html = env.get_template(name).render(
            request=request,
            csrf=sessions.csrf(sid),
            flashes=flashes.pop(sid, []),
            me=node.member_key.hex(),
            member_id=_member_id(node.member_key),  # the member's, on a device too
            **ctx,
        )
        return HTMLResponse(html, status_code=status, headers=_headers())

    def flash(sid: str, text: str, kind: str = "ok") -> None:
        kept = flashes.setdefault(sid, [])
        del kept[:-9]  # a tab that never reloads does not pile them up
        kept.append((kind, text))

    def q(view: str, **args: Any) -> Any:
        return node.query(view, **args)

    def community(cid: str) -> dict:
        info = q("community_info", community=cid)
        if info is None:
            raise LookupError(f"this node holds no community {cid[:12]}")
        return info

    def base(cid: str) -> dict:
        info = community(cid)
        members = q("members", community=cid)
        return {"cid": cid, "info": info, "who": pages.names(members), "members": members}

    def page_number(request: Request, what: str, param: str = "page") -> int:
        """The page the address asks for in ``param`` (1 without one)."""
        number = request.query_params.get(param, "1")
        # (digits only, and few: int() refuses thousands of digits with an error of its own)
        if not number.isdigit() or len(number) > 9 or int(number) < 1:
            raise LookupError(f"no page {number[:20]!r} of {what}: pages count from 1")
        return int(number)

    def has_discussion() -> bool:
        from node.service.control import views

        return "threads" in views() and "thread" in views()

    def discussion(cid: str, target: str | None) -> list[dict] | None:
        """The threads about ``target`` (None: all of the community), each with its comments
        and their reply depth; None when this build has no discussion records."""
        if not has_discussion():
            return None
        me = node.member_key.hex()
        args = {"community": cid} if target is None else {"community": cid, "target": target}
        out = []
        for summary in q("threads", **args):
            t = q("thread", thread_id=summary["id"], member=me)
            if t is not None:
                out.append(with_depth(t))
        return out

    def with_depth(t: dict) -> dict:
        """The thread with each comment's reply depth (0: on the thread itself)."""
        depth: dict[str, int] = {}
        for c in t["comments"]:  # causal order: a parent comes before its replies
            c["depth"] = depth[c["id"]] = depth.get(c.get("reply_to") or "", -1) + 1
        return t

    def mentioned(cid: str, text: str) -> list[bytes]:
        """Members named as @Name (their display name) or @<start of member id> in ``text``."""
        if "@" not in text:
            return []
        from node.identity import member_id

        found = []
        for m in q("members", community=cid, include_pending=False):
            names_ = {pages.names([m])[m["member"]], member_id(bytes.fromhex(m["member"]))}
            if any(f"@{n}" in text for n in names_ if n):
                found.append(bytes.fromhex(m["member"]))
        return found[:16]

    def page(fn):
        async def endpoint(request: Request) -> Response:
            try:
                sid = guard(request)
            except Forbidden as exc:
                return _forbidden(str(exc))
            try:
                _check_ids(request.path_params)
                return await fn(request, sid)
            except LookupError as exc:
                return render(request, sid, "error.html", 404, message=str(exc))

        return endpoint

    def action(fn, back):
        """A POST: CSRF checked first, then ``fn`` publishes; any refusal becomes a message."""

        async def endpoint(request: Request) -> Response:
            try:
                sid = guard(request)
            except Forbidden as exc:
                return _forbidden(str(exc))
            form = await request.form()
            if not sessions.check_csrf(sid, form.get("csrf")):
                return _forbidden("missing or wrong CSRF token: reload the page and try again")
            where = back(request, form)
            try:
                done = await fn(request, form)
                if isinstance(done, tuple):  # (message, the page of what was made)
                    done, where = done
                flash(sid, done)
            except Exception as exc:  # the node's verdict (or a bad field): say it, keep going
                flash(sid, _say(exc), "error")
            return RedirectResponse(where, status_code=303)

        return endpoint

    # ---- login and index ------------------------------------------------------------------
    async def login(request: Request) -> Response:
        allowed = getattr(app.state, "allowed_hosts", None)
        if allowed is not None and request.headers.get("host") not in allowed:
            return _forbidden("unknown Host")
        if not sessions.check_token(request.query_params.get("token", "")):
            return _forbidden("this login link is not valid: run `we web` for the current one")
        sid = sessions.open()
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(cookie, sid, httponly=True, samesite="strict", path="/")
        return resp

    async def index(request: Request, sid: str) -> Response:
        from node.service.control import to_json

        rows = [{"id": c["id"], "name": c["name"]} for c in to_json(node.status()["communities"])]
        if len(rows) == 1:
            return RedirectResponse(f"/c/{rows[0]['id']}", status_code=303)
        return render(request, sid, "index.html", communities=rows)

    # ---- home -----------------------------------------------------------------------------
    async def home(request: Request, sid: str) -> Response:
        cid = request.path_params["cid"]
        ctx = base(cid)
        from ..inbox import activity, needs_me  # the lists `we inbox` and `we activity` show

        me = node.member_key.hex()
        inbox = needs_me(node.query, cid, me, node.public_key.hex())
        if any(i["kind"] == "mention" for i in inbox):
            where = {m["id"]: m["thread"] for m in q("mentions", community=cid, member=me)}
            for i in inbox:
                i["thread"] = where.get(i["id"])
        return render(
            request,
            sid,
            "home.html",
            inbox=inbox,
            activity=activity(node.query, cid, 30),
            **ctx,
        )

    # ---- offers and needs -----------------------------------------------------------------
    async def listings(request: Request, sid: str) -> Response:
        cid, family = request.path_params["cid"], request.path_params["family"]
        if family not in ("offers", "needs"):
            raise LookupError(f"no page {family}")
        qp = request.query_params
        args: dict[str, Any] = {"community": cid, "status": qp.get("status") or "active"}
        for name in ("text", "category", "near"):
            if qp.get(name, "").strip():
                args[name] = qp[name].strip().lower() if name != "text" else qp[name].strip()
        if qp.get("within_km", "").strip().isdigit() and "near" in args:
            args["within_m"] = int(qp["within_km"]) * 1000
        error = ""
        try:
            rows = q(family, **args)
        except Exception as exc:
            rows, error = [], _say(exc)
        return render(
            request,
            sid,
            "listings.html",
            family=family[:-1],
            rows=rows,
            matches=my_matches(cid, family[:-1]),
            filters=dict(qp),
            error=error,
            actions=ACTIONS,
            **base(cid),
        )

    def my_matches(cid: str, family: str) -> list[dict]:
        """The node's ranked matches for this member's own active offers or needs (the
        ``matches`` view: computed here, announced, committing nobody)."""
        me = node.member_key.hex()
        other = "offer" if family == "need" else "need"
        out = []
        for mine in q(f"{family}s", community=cid, author=me):
            for m in q("matches", community=cid, **{family: mine["id"]}, limit=5):
                rec = q("listing", listing_id=m[other]) or {}
                out.append({"mine": mine, "other": rec, "kind": other, **m})
        return out

    async def listing_create(request: Request, form: Any) -> str:
        from ..parse import parse_category, parse_expiry, parse_geohash

        cid, family = request.path_params["cid"], request.path_params["family"]
        if family not in ("offers", "needs"):
            raise LookupError(family)
        body: dict[str, Any] = {
            "title": form.get("title", "").strip(),
            "description": form.get("description", ""),
            "category": parse_category(form.get("category", ""), "category"),
            "action": form.get("action") or "lend",
            "tags": [t.strip() for t in form.get("tags", "").split(",") if t.strip()],
            "quantity": {"amount": int(form.get("quantity") or 1), "unit": "item"},
            "windows": [],
            "expires": parse_expiry(form.get("expires") or "+30d", "expires"),
        }
        if form.get("geohash", "").strip():
            body["geohash"] = parse_geohash(form["geohash"], "place")
            body["radius_m"] = int(form.get("radius_m") or 0)
        elif form.get("remote"):
            body["remote"] = True
        op = await node.publish(_b(cid), f"{family[:-1]}.create", body)
        return f"Posted {family[:-1]} {op.id.hex()[:10]}: {body['title']}"

    async def offer(request: Request, sid: str) -> Response:
        cid, oid = request.path_params["cid"], request.path_params["oid"]
        rec = q("listing", listing_id=oid)
        if rec is None:
            raise LookupError(f"no offer or need {oid[:12]}")
        res = q("reservations", community=cid, offer=oid)
        me = node.member_key.hex()
        for r in res:
            role = "owner" if r["owner"] == me else "requester" if r["requester"] == me else ""
            r["can"] = [
                s
                for s, (who, states) in STEPS.items()
                if role and r["status"] in states and who in (role, "either")
            ]
        grid = pages.month_grid(request.query_params.get("month"), rec, res)
        return render(request, sid, "offer.html", rec=rec, reservations=res, grid=grid, **base(cid))

    async def reserve(request: Request, form: Any) -> str:
        cid, oid = request.path_params["cid"], request.path_params["oid"]
        start, end = pages.day_ms(form["from"]), pages.day_ms(form["until"]) + pages.DAY_MS
        if end <= start:
            raise ValueError("the last day must not be before the first")
        body: dict[str, Any] = {
            "offer": _b(oid),
            "window": [start, end],
            "quantity": int(form.get("quantity") or 1),
        }
        if form.get("note", "").strip():
            body["note"] = form["note"].strip()
        op = await node.publish(_b(cid), "reservation.request", body, deps=[_b(oid)])
        return f"Asked to reserve it ({op.id.hex()[:10]}); the owner answers."

    async def reservation_step(request: Request, form: Any) -> str:
        cid, rid, step = (request.path_params[k] for k in ("cid", "rid", "step"))
        if step not in STEPS:
            raise ValueError(f"no step {step!r}")
        await node.publish(_b(cid), f"reservation.{step}", {"reservation": _b(rid)}, deps=[_b(rid)])
        return f"Reservation {rid[:10]}: {step} recorded."

    # ---- projects, contributions, scores --------------------------------------------------
    async def projects(request: Request, sid: str) -> Response:
        cid = request.path_params["cid"]
        me = node.member_key.hex()
        n = page_number(request, "contributions")
        # the latest work first, a page at a time (read from the community's time line), and
        # one more: whether there is an older page
        shown = q("contributions", community=cid, newest=n * CONTRIBUTIONS_PAGE + 1)
        contribs = shown[(n - 1) * CONTRIBUTIONS_PAGE : n * CONTRIBUTIONS_PAGE]
        for c in contribs:  # my latest verdict on each shown (not every attestation)
            c["my_verdict"] = next(
                (
                    a["verdict"]
                    for a in q("attestations", community=cid, contribution=c["id"])
                    if a["attester"] == me and a["latest"]
                ),
                None,
            )
        # the latest started projects a page at a time (``?projects=``), and for the form the
        # projects the viewer runs, then the latest ones
        m = page_number(request, "projects", "projects")
        latest = q("projects", community=cid, newest=m * PROJECTS_PAGE + 1)
        menu = {p["id"]: p for p in q("projects", community=cid, runner=me)}
        for p in latest[:PROJECTS_PAGE]:
            menu.setdefault(p["id"], p)
        return render(
            request,
            sid,
            "projects.html",
            projects=latest[(m - 1) * PROJECTS_PAGE : m * PROJECTS_PAGE],
            projects_page=m,
            earlier_projects=len(latest) > m * PROJECTS_PAGE,
            menu=list(menu.values()),
            contributions=contribs,
            page=n,
            older=len(shown) > n * CONTRIBUTIONS_PAGE,
            **base(cid),
        )

    async def project_create(request: Request, form: Any) -> str:
        cid = request.path_params["cid"]
        body = {"name": form.get("name", "").strip(), "description": form.get("description", "")}
        op = await node.publish(_b(cid), "project.create", body)
        return f"Created project {op.id.hex()[:10]}: {body['name']}"

    async def contribute(request: Request, form: Any) -> str:
        from ..parse import parse_hours

        cid = request.path_params["cid"]
        body: dict[str, Any] = {
            "action": "work",
            "effort_minutes": parse_hours(form.get("hours", "")),
            "evidence": [],
            "at": pages.now_ms(),
        }
        deps = []
        if form.get("project"):
            body["project"] = _b(form["project"])
            deps.append(body["project"])
        if form.get("note", "").strip():
            body["note"] = form["note"].strip()
        op = await node.publish(_b(cid), "contribution.record", body, deps=deps)
        return f"Recorded contribution {op.id.hex()[:10]}: a peer can now attest it."

    async def attest(request: Request, form: Any) -> str:
        cid, kid = request.path_params["cid"], request.path_params["kid"]
        verdict = "dispute" if form.get("verdict") == "dispute" else "confirm"
        body = {"contribution": _b(kid), "verdict": verdict}
        await node.publish(_b(cid), "attestation.set", body, deps=[_b(kid)])
        done = "Confirmed" if verdict == "confirm" else "Disputed"
        return f"{done} contribution {kid[:10]}."

    async def scores(request: Request, sid: str) -> Response:
        cid = request.path_params["cid"]
        now = pages.now_ms()
        current = q("scores", community=cid, now=now)
        top = [r["member"] for r in current[:6]]
        series: dict[str, list] = {m: [] for m in top}
        for t in pages.score_times(now):
            # each point from the work done by then (work of later days would count whole)
            then = q("scores", community=cid, now=t, done_by_now=True)
            at = {r["member"]: pages.frac(r["score"]) for r in then}
            for m in top:
                series[m].append((t, at.get(m, pages.frac(0))))
        ctx = base(cid)
        chart = pages.score_lines({ctx["who"].get(m, m[:8]): s for m, s in series.items()})
        return render(request, sid, "scores.html", scores=current, chart=chart, **ctx)

    # ---- proposals ------------------------------------------------------------------------
    async def proposals(request: Request, sid: str) -> Response:
        cid = request.path_params["cid"]
        return render(
            request,
            sid,
            "proposals.html",
            proposals=q("proposals", community=cid),
            methods=METHODS,
            **base(cid),
        )

    async def proposal_create(request: Request, form: Any) -> str:
        from ..parse import parse_share, parse_when

        cid = request.path_params["cid"]
        method = form.get("method", "basic")
        options = [o.strip() for o in form.get("options", "").splitlines() if o.strip()]
        if method in pages.FIXED:
            options = []
        opens = pages.now_ms()
        closes = parse_when(form.get("closes") or "+7d")
        body: dict[str, Any] = {
            "title": form.get("title", "").strip(),
            "text": form.get("text", ""),
            "options": options,
            "method": method,
            "weights": {"base": form.get("weights") or "equal"},
            "quorum": parse_share(form.get("quorum") or "0"),
            "threshold": parse_share(form.get("threshold") or "1/2"),
            "opens": opens,
            "closes": closes,
        }
        op = await node.publish(_b(cid), "proposal.create", body)
        where = f"/c/{cid}/proposal/{op.id.hex()}"
        return f"Proposal {op.id.hex()[:10]} is open until {pages.when(closes)}.", where

    def proposal_data(cid: str, pid: str) -> dict:
        p = next((x for x in q("proposals", community=cid) if x["id"] == pid), None)
        if p is None:
            raise LookupError(f"no proposal {pid[:12]}")
        t = q("proposal_tally", proposal=pid)
        info = community(cid)
        witnesses = p.get("witnesses") or info["charter"].get("witnesses") or []
        detail = t.get("detail") or {}
        matrix = None
        if "d" in detail:
            opts = list(detail["d"])
            matrix = {
                "options": opts,
                "rows": [[None if a == b else detail["d"][a][b] for b in opts] for a in opts],
                "wins": [
                    [
                        a != b and pages.frac(detail["d"][a][b]) > pages.frac(detail["d"][b][a])
                        for b in opts
                    ]
                    for a in opts
                ],
            }
        me = node.member_key.hex()
        return {
            "p": p,
            "t": t,
            "choices": pages.choices(p),
            "chart": pages.bars(t.get("totals") or {}, t.get("winner")),
            "rounds": [{**r, "chart": pages.bars(r["counts"])} for r in detail.get("rounds", [])],
            "matrix": matrix,
            # the view fills in the method's defaults (governance/choices.method_params)
            "credits": detail.get("credits") or (p.get("params") or {}).get("credits"),
            "max_score": (p.get("params") or {}).get("max_score"),
            "witnesses": witnesses,
            "i_witness": me in witnesses,
            "my_choice": next(
                (v["choice"] for v in t.get("voters", []) if v["member"] == me), None
            ),
            "voted": me in (t.get("counted") or {}),
        }

    async def proposal(request: Request, sid: str) -> Response:
        cid, pid = request.path_params["cid"], request.path_params["pid"]
        return render(
            request,
            sid,
            "proposal.html",
            discussion=discussion(cid, pid),
            back=f"/c/{cid}/proposal/{pid}",
            **proposal_data(cid, pid),
            **base(cid),
        )

    async def vote(request: Request, form: Any) -> str:
        cid, pid = request.path_params["cid"], request.path_params["pid"]
        p = next((x for x in q("proposals", community=cid) if x["id"] == pid), None)
        if p is None:
            raise LookupError(f"no proposal {pid[:12]}")
        value = pages.ballot_value(p, form)
        await node.publish(
            _b(cid), "ballot.cast", {"proposal": _b(pid), "choice": value}, deps=[_b(pid)]
        )
        return "Your ballot is in (a later one replaces it)."

    async def seal(request: Request, form: Any) -> str:
        cid, pid = request.path_params["cid"], request.path_params["pid"]
        ops = await node.seal(_b(cid), _b(pid))
        return f"Sealed ({sum(len(o.body['heads']) for o in ops)} heads named)."

    # ---- delegation -----------------------------------------------------------------------
    async def delegation(request: Request, sid: str) -> Response:
        cid = request.path_params["cid"]
        d = q("delegations", community=cid, member=node.member_key.hex())
        return render(request, sid, "delegation.html", d=d, **base(cid))

    async def delegate(request: Request, form: Any) -> str:
        cid = request.path_params["cid"]
        topic = form.get("topic", "").strip()
        if form.get("revoke"):
            await node.publish(_b(cid), "delegation.revoke", {"topic": topic} if topic else {})
            return "Delegation revoked."
        body: dict[str, Any] = {"delegate": _b(form.get("delegate", ""))}
        if topic:
            body["topic"] = topic
        await node.publish(_b(cid), "delegation.set", body)
        return "Delegated."

    # ---- discussion -----------------------------------------------------------------------
    async def threads_page(request: Request, sid: str) -> Response:
        cid = request.path_params["cid"]
        ok = has_discussion()
        n = page_number(request, "threads")
        # a page, and one more thread: whether there is an older page
        at = (n - 1) * THREADS_PAGE
        found = q("threads", community=cid, limit=THREADS_PAGE + 1, offset=at) if ok else []
        return render(
            request,
            sid,
            "threads.html",
            available=ok,
            all=found[:THREADS_PAGE],
            page=n,
            older=len(found) > THREADS_PAGE,
            threads=[],  # the list above; the form below opens a community thread
            target=None,
            back=f"/c/{cid}/threads",
            **base(cid),
        )

    async def thread_page(request: Request, sid: str) -> Response:
        cid, tid = request.path_params["cid"], request.path_params["tid"]
        t = q("thread", thread_id=tid, member=node.member_key.hex()) if (has_discussion()) else None
        if t is None or t["community"] != cid:
            raise LookupError(f"no thread {tid[:12]}")
        # this thread alone (it was every thread about its target, each with its comments,
        # read to keep one: all of the community's for a community thread)
        return render(
            request,
            sid,
            "thread.html",
            threads=[with_depth(t)],
            target=t["target"],
            back=f"/c/{cid}/thread/{tid}",
            **base(cid),
        )

    async def thread_create(request: Request, form: Any) -> Any:
        cid = request.path_params["cid"]
        text = form.get("text", "")
        body: dict[str, Any] = {"title": form.get("title", "").strip(), "text": text}
        deps = []
        if form.get("target"):
            body["target"] = _b(form["target"])
            deps.append(body["target"])
        if who := mentioned(cid, text):
            body["mentions"] = who
        op = await node.publish(_b(cid), "thread.create", body, deps=deps)
        where = back_to(request, form) if deps else f"/c/{cid}/thread/{op.id.hex()}"
        return f"Opened the thread “{body['title']}”.", where

    async def comment_create(request: Request, form: Any) -> str:
        cid, tid = request.path_params["cid"], request.path_params["tid"]
        text = form.get("text", "")
        body: dict[str, Any] = {"thread": _b(tid), "text": text}
        deps = [body["thread"]]
        if form.get("reply_to"):
            body["reply_to"] = _b(form["reply_to"])
            deps.append(body["reply_to"])
        if who := mentioned(cid, text):
            body["mentions"] = who
        await node.publish(_b(cid), "comment.create", body, deps=deps)
        return "Your comment is posted."

    async def comment_edit(request: Request, form: Any) -> str:
        cid, kid = request.path_params["cid"], request.path_params["kid"]
        body = {"comment": _b(kid), "text": form.get("text", "")}
        await node.publish(_b(cid), "comment.edit", body, deps=[_b(kid)])
        return "Comment edited (the earlier text stays in its history)."

    async def comment_retract(request: Request, form: Any) -> str:
        cid, kid = request.path_params["cid"], request.path_params["kid"]
        await node.publish(_b(cid), "comment.retract", {"comment": _b(kid)}, deps=[_b(kid)])
        return "Comment retracted."

    async def react(request: Request, form: Any) -> str:
        cid, ref = request.path_params["cid"], request.path_params["ref"]
        stance = form.get("stance") or None  # the pressed stance again: clear it
        body = {"target": _b(ref), "stance": stance}
        await node.publish(_b(cid), "reaction.set", body, deps=[_b(ref)])
        return f"Reaction: {stance}." if stance else "Reaction cleared."

    def back_to(request: Request, form: Any) -> str:
        """The page a discussion form came from (only a page of this community: never a
        redirect elsewhere)."""
        cid = request.path_params["cid"]
        back = form.get("back", "")
        ok = back.startswith(f"/c/{cid}/") and "//" not in back and "\\" not in back
        return back if ok else f"/c/{cid}/threads"

    # ---- live -----------------------------------------------------------------------------
    async def events(request: Request, sid: str) -> Response:
        community(request.path_params["cid"])  # a community this node holds, or 404
        cid = _b(request.path_params["cid"])
        recv = node.service.subscribe(256)

        async def stream():
            async with recv:
                yield "retry: 2000\n\n"
                while True:
                    with trio.move_on_after(15) as idle:
                        event = await recv.receive()
                    if idle.cancelled_caught:
                        yield ": still here\n\n"  # finds a closed tab; keeps proxies open
                        continue
                    if event.kind == "op" and event.community == cid:
                        data = json.dumps({"kind": event.op_kind, "op": event.op_id.hex()})
                        yield f"event: op\ndata: {data}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers=_headers())

    def to_community(request: Request, form: Any, tail: str = "") -> str:
        return f"/c/{request.path_params['cid']}{tail}"

    def cpath(tail):
        return lambda request, form: to_community(request, form, tail)

    def back_family(request, form):
        return to_community(request, form, f"/{request.path_params['family']}")

    def back_offer(request, form):
        return to_community(request, form, f"/offer/{request.path_params['oid']}")

    def back_reservation(request, form):
        return to_community(request, form, f"/offer/{form.get('offer', '')}")

    def back_proposal(request, form):
        return to_community(request, form, f"/proposal/{request.path_params['pid']}")

    C = "/c/{cid:str}"
    routes = [
        Route("/login", login),
        Route("/", page(index)),
        Route(C, page(home)),
        Route(C + "/events", page(events)),
        Route(C + "/offer/{oid:str}", page(offer)),
        Route(C + "/offer/{oid:str}/reserve", action(reserve, back_offer), methods=["POST"]),
        Route(
            C + "/reservation/{rid:str}/{step:str}",
            action(reservation_step, back_reservation),
            methods=["POST"],
        ),
        Route(C + "/projects", page(projects)),
        Route(C + "/projects", action(project_create, cpath("/projects")), methods=["POST"]),
        Route(C + "/contribute", action(contribute, cpath("/projects")), methods=["POST"]),
        Route(C + "/attest/{kid:str}", action(attest, cpath("/projects")), methods=["POST"]),
        Route(C + "/scores", page(scores)),
        Route(C + "/proposals", page(proposals)),
        Route(C + "/proposals", action(proposal_create, cpath("/proposals")), methods=["POST"]),
        Route(C + "/proposal/{pid:str}", page(proposal)),
        Route(C + "/proposal/{pid:str}/vote", action(vote, back_proposal), methods=["POST"]),
        Route(C + "/proposal/{pid:str}/seal", action(seal, back_proposal), methods=["POST"]),
        Route(C + "/threads", page(threads_page)),
        Route(C + "/threads", action(thread_create, back_to), methods=["POST"]),
        Route(C + "/thread/{tid:str}", page(thread_page)),
        Route(C + "/thread/{tid:str}/comment", action(comment_create, back_to), methods=["POST"]),
        Route(C + "/comment/{kid:str}/edit", action(comment_edit, back_to), methods=["POST"]),
        Route(C + "/comment/{kid:str}/retract", action(comment_retract, back_to), methods=["POST"]),
        Route(C + "/react/{ref:str}", action(react, back_to), methods=["POST"]),
        Route(C + "/delegation", page(delegation)),
        Route(C + "/delegation", action(delegate, cpath("/delegation")), methods=["POST"]),
        Route(C + "/{family:str}", page(listings)),
        Route(C + "/{family:str}", action(listing_create, back_family), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.allowed_hosts = set()  # nobody until serve() knows the address it listens on
    return app


def _check_ids(params: dict[str, str]) -> None:
    """Raise LookupError (a 404) for the first path parameter that is not a whole id."""
    for name, value in params.items():
        if name not in WORDS and not ID_RE.fullmatch(value):
            what = IDS.get(name, "record")
            raise LookupError(
                f"no {what} {value[:16]!r}: an address names it by its whole id "
                "(64 hex characters; follow a link, or `we` shows the ids with --json)"
            )


def _b(hex_text: str) -> bytes:
    try:
        b = bytes.fromhex(hex_text)
    except (TypeError, ValueError):
        b = b""
    if len(b) != 32:
        raise ValueError("that is not an id (64 hex characters)")
    return b


def _say(exc: BaseException) -> str:
    """What went wrong, in the words the CLI uses (its hint included)."""
    from ..words import explain

    err = explain(exc)
    if err is not None:
        return err.message + (f" ({err.hint})" if err.hint else "")
    return str(exc) or type(exc).__name__


def _headers() -> dict[str, str]:
    return {
        "Cache-Control": "no-store",  # member data: never kept by the browser's caches
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def _forbidden(why: str) -> Response:
    text = f"403 Forbidden: {why}. Open the web app with the link `we web` prints."
    return Response(text, status_code=403, media_type="text/plain", headers=_headers())


def _member_id(key: bytes) -> str:
    from node.identity import member_id

    return member_id(key)
