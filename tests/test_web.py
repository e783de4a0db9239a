"""The web app in a real browser: two members' daemons (`we daemon --web`, real processes),
one headless Chromium (Debian's `chromium` + `chromium-driver`) logged in to both.

Shared per module (the browser-test budget is 90 s): one pair of daemons, one browser, one
community. The tests run in file order and build on each other (the offer of one is the
reservation of the next). Screenshots of the main pages go to a temporary folder, or to the
folder ``WE_SHOTS`` names: ``WE_SHOTS=docs/screenshots make test`` renews the README's (a
plain test run leaves the checkout as it was).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import ROOT, Daemon, base_env, wait_until, we

SHOTS = Path(os.environ.get("WE_SHOTS") or Path(tempfile.gettempdir(), "we-screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
XSS = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


def _no_browser(why: str):
    msg = (
        f"BROWSER TESTS SKIPPED: {why}. Install Debian's `chromium` and `chromium-driver` "
        "(apt-get install -y chromium chromium-driver; .ci/run does it as root)."
    )
    warnings.warn(msg, stacklevel=2)
    pytest.skip(msg)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - the test extra installs it
    webdriver = None


class WebDaemon(Daemon):
    """`we daemon --web`: the same real process as the CLI tests, with the web app on."""

    def spawn(self) -> None:
        import subprocess
        import sys

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "--data-dir", str(self.home), "daemon", "--web"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=base_env(),
                cwd=ROOT,
            )

    def ready(self) -> dict:
        """Wait for daemon.json to name the web app (a file read a poll, no subprocess),
        then ask `we web` for the login link as a user would."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if "web" in json.loads((self.home / "daemon.json").read_text()):
                    r = we(self.home, "--json", "web")
                    assert r.code == 0, r.err
                    return r.json
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"daemon did not start:\n{self.log.read_text()}")


def json_of(home, *args):
    r = we(home, "--json", *args)
    assert r.code == 0, (args, r.err)
    return r.json


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if webdriver is None:
        _no_browser("selenium is not installed")
    if not CHROMIUM or not DRIVER:
        _no_browser("no chromium / chromedriver on PATH")
    root = tmp_path_factory.mktemp("web")
    alice, bob = root / "alice", root / "bob"
    for home in (alice, bob):
        assert we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0").code == 0
    daemons = [WebDaemon(alice), WebDaemon(bob)]
    browser = None
    try:
        for d in daemons:  # both start at once: most of a start is imports
            d.spawn()
        links = [d.ready() for d in daemons]
        cid = we(alice, "--json", "community", "create", "Tool library", "--vouches", "1").json
        cid = cid["id"]
        json_of(alice, "profile", "set", "--name", "Alice")
        line = json_of(alice, "community", "info")["line"]
        bob_id = json_of(bob, "community", "join", line)["member_id"]
        wait_until(
            lambda: any(m["member_id"] == bob_id for m in json_of(alice, "member", "list")),
            "join request",
        )
        json_of(alice, "member", "vouch", bob_id)
        wait_until(lambda: we(bob, "profile", "set", "--name", "Bob").code == 0, "bob admitted")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1000"):
            opts.add_argument(arg)
        try:
            browser = webdriver.Chrome(service=Service(DRIVER), options=opts)
        except Exception as exc:  # a broken install: say so loudly, never silently
            _no_browser(f"chromium would not start ({exc.__class__.__name__}: {exc})")
        tabs = {}
        for name, link in zip(("alice", "bob"), links, strict=True):
            if tabs:
                browser.switch_to.new_window("tab")
            browser.get(link["url"])  # the login link: session cookie, then home
            tabs[name] = browser.current_window_handle
        yield {
            "alice": alice,
            "bob": bob,
            "cid": cid,
            "web": {"alice": links[0]["web"], "bob": links[1]["web"]},
            "links": links,
            "browser": browser,
            "tabs": tabs,
        }
    finally:
        if browser is not None:
            browser.quit()
        for d in daemons:
            d.stop()


def on(world, who: str):
    """Switch the browser to ``who``'s tab; returns the driver."""
    b = world["browser"]
    b.switch_to.window(world["tabs"][who])
    return b


def go(world, who: str, path: str):
    b = on(world, who)
    b.get(world["web"][who] + f"c/{world['cid']}" + path)
    return b


def until(b, probe, what: str, timeout: float = 20):
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )

    def look(d):
        try:
            return probe(d)
        except WebDriverException as exc:
            # the same race as a stale element, as Chromium sometimes words it
            if "does not belong to the document" in str(exc):
                return False
            raise

    try:  # a live update may swap an element between finding and reading it: look again
        wait = WebDriverWait(
            b, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        )
        return wait.until(look, what)
    except TimeoutException:
        name = f"failed-{what.replace(' ', '-')}"
        shot(b, name)
        main = b.find_element(By.TAG_NAME, "main").text[:1500]
        raise AssertionError(
            f"{what}: not seen at {b.current_url} (screenshot {SHOTS / name}.png)\n{main}"
        ) from None


def click(b, css: str) -> None:
    """Click the element ``css`` names, found afresh if a live update replaced it."""
    until(b, lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True, f"click {css}")


def shot(b, name: str) -> None:
    """The whole page (not only the window), by Chrome's DevTools protocol."""
    import base64

    SHOTS.mkdir(parents=True, exist_ok=True)
    size = b.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 4000), "scale": 1}
    data = b.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )["data"]
    (SHOTS / f"{name}.png").write_bytes(base64.b64decode(data))


def flash(b) -> str:
    return " ".join(e.text for e in b.find_elements(By.CSS_SELECTOR, ".flash"))


def test_login_link_opens_the_community(world):
    from test_cli_schema import SCHEMA, check

    for link in world["links"]:  # `we web --json`, as the fixture got them
        check(link, SCHEMA["commands"]["web"], "web")
        assert link["url"].startswith(link["web"] + "login?token=")
    b = on(world, "alice")
    assert f"/c/{world['cid']}" in b.current_url  # one community: straight to it
    assert "token=" not in b.current_url  # the secret left the address bar
    cookies = b.get_cookies()
    mine = [c for c in cookies if c["name"].startswith("we_session_")]
    assert len(mine) == 2 and all(c["httpOnly"] and c["sameSite"] == "Strict" for c in mine)
    assert "Tool library" in b.find_element(By.TAG_NAME, "h1").text
    assert "Bob" in b.find_element(By.ID, "members").text
    token = world["alice"] / "web.token"
    assert token.stat().st_mode & 0o777 == 0o600
    bad = world["web"]["alice"] + "login?token=" + "x" * 43
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=10)
    assert err.value.code == 403


def test_post_an_offer_and_reserve_it_from_the_other_page(world):
    bob = go(world, "bob", "/offers")  # open before the offer exists: it arrives live
    alice = go(world, "alice", "/offers")
    form = alice.find_element(By.CSS_SELECTOR, "form[method=post]")
    form.find_element(By.NAME, "title").send_keys("Cordless drill " + XSS)
    form.find_element(By.NAME, "description").send_keys("18 V, two batteries")
    form.find_element(By.NAME, "category").send_keys("tools/power/drill")
    form.find_element(By.NAME, "tags").send_keys("drill, diy")
    form.find_element(By.NAME, "category").send_keys(Keys.ENTER)  # keyboard submit
    until(alice, lambda d: "Posted offer" in flash(d), "offer posted")
    link = alice.find_element(By.CSS_SELECTOR, "#list a.title")
    assert link.text == "Cordless drill " + XSS  # shown as text, not markup
    shot(alice, "offers")

    bob = on(world, "bob")  # no reload: the server-sent event brought it
    until(bob, lambda d: d.find_elements(By.CSS_SELECTOR, "#list a.title"), "offer on bob's page")
    assert bob.find_element(By.CSS_SELECTOR, "#list a.title").text.endswith(XSS)
    assert bob.title != "pwned" and not bob.find_elements(By.CSS_SELECTOR, "#list img")
    click(bob, "#list a.title")
    day = datetime.now(UTC).date() + timedelta(days=1)
    bob.execute_script(
        "document.querySelector('[name=from]').value = arguments[0];"
        "document.querySelector('[name=until]').value = arguments[1];",
        day.isoformat(),
        (day + timedelta(days=1)).isoformat(),
    )
    bob.find_element(By.CSS_SELECTOR, "#reserve-form button").click()
    until(bob, lambda d: "Asked to reserve" in flash(d), "reservation asked")
    assert bob.find_element(By.CSS_SELECTOR, ".reservation .status").text == "requested"

    alice = on(world, "alice")
    click(alice, "#list a.title")
    until(alice, lambda d: d.find_elements(By.CSS_SELECTOR, ".reservation"), "request on alice")
    click(alice, ".reservation button[value=accept]")
    until(alice, lambda d: "accept recorded" in flash(d), "accepted")
    cell = alice.find_element(By.CSS_SELECTOR, f"td[data-day='{day.isoformat()}']")
    assert "held" in cell.get_attribute("class")
    shot(alice, "offer-calendar")
    bob = on(world, "bob")  # bob's page follows by itself
    until(
        bob,
        lambda d: d.find_element(By.CSS_SELECTOR, ".reservation .status").text == "accepted",
        "accepted on bob's page",
    )
    assert bob.title != "pwned"


def _cookie(world, who: str) -> str:
    b = on(world, who)
    return "; ".join(f"{c['name']}={c['value']}" for c in b.get_cookies())


def _post(url: str, data: dict, cookie: str | None) -> int:
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_forged_post_is_refused_and_changes_nothing(world):
    url = world["web"]["alice"] + f"c/{world['cid']}/offers"
    before = json_of(world["alice"], "offer", "list")
    fields = {"title": "Forged", "category": "tools", "expires": "+30d"}
    b = go(world, "alice", "/offers")
    csrf = b.find_element(By.NAME, "csrf").get_attribute("value")
    assert _post(url, fields, _cookie(world, "alice")) == 403  # the session, no CSRF field
    assert _post(url, {**fields, "csrf": "x" * 43}, _cookie(world, "alice")) == 403  # wrong one
    assert _post(url, {**fields, "csrf": csrf}, None) == 403  # the field, no session
    assert json_of(world["alice"], "offer", "list") == before
    # a page without the session is refused too, and so is a foreign Host (DNS rebinding)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(world["web"]["alice"], timeout=10)
    assert err.value.code == 403
    req = urllib.request.Request(world["web"]["alice"], headers={"Host": "evil.example"})
    req.add_header("Cookie", _cookie(world, "alice"))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403


def _vote(b, ranks: dict[str, int]) -> None:
    for item in b.find_elements(By.CSS_SELECTOR, "#rank-list li"):
        name = item.find_element(By.TAG_NAME, "span").text
        box = item.find_element(By.CSS_SELECTOR, "input.rank")
        box.clear()
        if name in ranks:
            box.send_keys(str(ranks[name]))  # ranking by numbers, with the keyboard
    b.find_element(By.CSS_SELECTOR, "#ballot button:not([name])").click()
    until(b, lambda d: "ballot is in" in flash(d), "ballot cast")


def _has_discussion() -> bool:
    from node.service.control import views

    return "threads" in views()


HAS_DISCUSSION = _has_discussion()


def _discuss(world, pid: str) -> None:
    """Alice opens a thread on the proposal, Bob answers (with markup in his words): each
    sees the other's part arrive without a reload."""
    alice = on(world, "alice")
    start = alice.find_element(By.CSS_SELECTOR, "details.start-thread")
    if not start.get_attribute("open"):  # open by itself while there is no thread
        start.find_element(By.TAG_NAME, "summary").click()
    form = alice.find_element(By.CSS_SELECTOR, "form.thread-form")
    form.find_element(By.NAME, "title").send_keys("Ladder first?")
    form.find_element(By.NAME, "text").send_keys("The old one is broken.")
    form.find_element(By.CSS_SELECTOR, "button").click()
    until(alice, lambda d: "Opened the thread" in flash(d), "thread opened")
    bob = on(world, "bob")
    until(bob, lambda d: "Ladder first?" in d.find_element(By.ID, "threads").text, "thread live")
    bob.refresh()  # the comment form of a new thread comes with the page (forms are not live)
    box = bob.find_element(By.CSS_SELECTOR, "form.comment-form textarea")
    box.send_keys("Yes, @Alice " + XSS)
    bob.find_element(By.CSS_SELECTOR, "form.comment-form button").click()
    until(bob, lambda d: "comment is posted" in flash(d), "comment posted")
    alice = on(world, "alice")
    until(
        alice,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#threads .comment .text"),
        "bob's comment live on alice's page",
    )
    assert alice.find_element(By.CSS_SELECTOR, "#threads .comment .text").text.endswith(XSS)
    assert alice.title != "pwned"
    click(alice, "#threads .comment button[value=agree]")
    until(alice, lambda d: "Reaction: agree" in flash(d), "reaction")
    shot(alice, "proposal-discussion")


def test_ranked_vote_seal_and_the_same_final_chart_on_both_pages(world):
    alice = go(world, "alice", "/proposals")
    form = alice.find_element(By.ID, "proposal-form")
    form.find_element(By.NAME, "title").send_keys("Which tool do we buy next?")
    form.find_element(By.NAME, "text").send_keys("We have 300 € left this year. " + XSS)
    Select(form.find_element(By.NAME, "method")).select_by_visible_text("irv")
    form.find_element(By.NAME, "options").send_keys("Ladder\nPressure washer\nTile cutter")
    closes = form.find_element(By.NAME, "closes")
    closes.clear()
    closes.send_keys("+12s")
    opened = time.monotonic()
    form.find_element(By.CSS_SELECTOR, "button").click()
    until(alice, lambda d: "/proposal/" in d.current_url, "proposal page")
    pid = alice.current_url.rsplit("/", 1)[1]
    assert alice.find_element(By.CSS_SELECTOR, ".ptext").text.endswith(XSS)
    _vote(alice, {"Ladder": 1, "Tile cutter": 2})
    shot(alice, "proposal-open")

    bob = go(world, "bob", f"/proposal/{pid}")
    until(bob, lambda d: d.find_elements(By.ID, "ballot"), "proposal on bob's node", 15)
    _vote(bob, {"Pressure washer": 1, "Ladder": 2})
    alice = on(world, "alice")  # bob's ballot reaches alice's tally live
    until(
        alice, lambda d: "Ballots counted (2)" in d.find_element(By.ID, "tally").text, "2 ballots"
    )

    if HAS_DISCUSSION:  # talk it through while the vote runs
        _discuss(world, pid)
    time.sleep(max(0.0, 12.5 - (time.monotonic() - opened)))  # the vote closes by wall time
    # the page looks again by itself when the vote closes: the seal button comes, no reload
    until(alice, lambda d: d.find_elements(By.ID, "seal"), "seal button")
    click(alice, "#seal")
    until(alice, lambda d: "Sealed" in flash(d), "sealed")
    tally = alice.find_element(By.ID, "tally")
    assert tally.get_attribute("data-status") == "final"
    assert (
        "Final result" in tally.text
        and "Ladder" in tally.find_element(By.CSS_SELECTOR, ".winner").text
    )
    assert "Round 1" in tally.text  # the IRV rounds are shown
    shot(alice, "proposal-final")
    bob = on(world, "bob")
    until(
        bob,
        lambda d: d.find_element(By.ID, "tally").get_attribute("data-status") == "final",
        "final on bob's page (live)",
    )
    charts = [
        until(
            on(world, who),
            lambda d: d.find_element(By.ID, "chart").get_attribute("innerHTML"),
            "the chart",
        )
        for who in ("alice", "bob")
    ]
    assert charts[0] == charts[1] and "<rect" in charts[0]


def test_contribution_and_attestation_buttons(world):
    bob = go(world, "bob", "/projects")
    form = bob.find_element(By.CSS_SELECTOR, "form[action$='/projects']")
    form.find_element(By.NAME, "name").send_keys("Repair café")
    form.find_element(By.NAME, "name").submit()
    until(bob, lambda d: "Created project" in flash(d), "project created")
    form = bob.find_element(By.CSS_SELECTOR, "form[action$='/contribute']")
    Select(form.find_element(By.NAME, "project")).select_by_visible_text("Repair café")
    form.find_element(By.NAME, "hours").send_keys("2.5")
    form.find_element(By.NAME, "note").send_keys("Fixed three toasters")
    form.find_element(By.NAME, "note").submit()
    until(bob, lambda d: "Recorded contribution" in flash(d), "contribution recorded")
    alice = go(world, "alice", "/projects")
    until(alice, lambda d: "toasters" in d.find_element(By.ID, "contributions").text, "on alice")
    click(alice, "#contributions button[value=confirm]")
    until(alice, lambda d: "Confirmed contribution" in flash(d), "attested")
    row = alice.find_element(By.CSS_SELECTOR, "#contributions tbody tr")
    assert "2h30" in row.text and "Fixed three toasters" in row.text
    assert row.find_element(By.CSS_SELECTOR, "button[value=confirm]").get_attribute("aria-pressed")


def test_a_need_shows_the_matching_offer(world):
    bob = go(world, "bob", "/needs")
    form = bob.find_element(By.CSS_SELECTOR, "form[method=post]")
    form.find_element(By.NAME, "title").send_keys("Something to drill holes")
    form.find_element(By.NAME, "category").send_keys("tools/power")
    form.find_element(By.NAME, "title").submit()
    until(bob, lambda d: "Posted need" in flash(d), "need posted")
    found = bob.find_element(By.ID, "matches").text  # alice's drill: another member's offer
    assert "Something to drill holes" in found and "Cordless drill" in found


def test_every_page_renders_and_screenshots(world):
    for path, name in (
        ("", "home"),
        ("/projects", "projects"),
        ("/scores", "scores"),
        ("/delegation", "delegation"),
        ("/proposals", "proposals"),
        ("/needs", "needs"),
    ):
        b = go(world, "alice", path)
        assert b.find_element(By.TAG_NAME, "h1").text, path
        assert "pwned" not in b.title
        shot(b, name)
    b.set_window_size(400, 800)  # a phone: the layout still fits
    go(world, "alice", "")
    width = b.execute_script("return document.documentElement.scrollWidth")
    assert width <= 420
    shot(b, "home-phone")
    b.set_window_size(1100, 1000)


def _outward_address() -> str | None:
    """This machine's address towards the outside (no packet is sent: UDP connect only
    picks the route); None when it has none but loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_the_app_is_not_reachable_beyond_loopback(world):
    port = int(world["web"]["alice"].rstrip("/").rsplit(":", 1)[1])
    ip = _outward_address()
    if ip is None:
        pytest.skip("this machine has no address but loopback to try from")
    with pytest.raises(OSError):
        socket.create_connection((ip, port), timeout=5).close()
    info = json.loads((world["alice"] / "daemon.json").read_text())
    assert info["web"].startswith("http://127.0.0.1:")


def test_listening_beyond_loopback_needs_allow_remote(tmp_path):
    from node.service.web import WebConfig

    with pytest.raises(ValueError, match="allow_remote"):
        WebConfig(host="0.0.0.0").check()
    WebConfig(host="0.0.0.0", allow_remote=True).check()
    WebConfig(host="::1").check()
    assert we(tmp_path, "init", "--plaintext").code == 0
    (tmp_path / "config.toml").write_text('[web]\nhost = "0.0.0.0"\n')
    r = we(tmp_path, "--json", "daemon", "--web")
    assert r.code != 0 and r.error["code"] == "web_config", r.err
    assert "allow_remote" in r.error["message"]
