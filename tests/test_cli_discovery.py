"""`we community join we:<community id>` with no address, through real daemons (issue 14).

Three `we daemon` processes on loopback: a bootstrap node started with `--relay` (so it
serves rendezvous; it follows no community), a member who knows only the bootstrap node, and a
newcomer who knows only the bootstrap node too. The member registers under the community's
namespace at the bootstrap node; the newcomer's join line names the community and nothing
else, and the join succeeds because the newcomer finds the member there."""

from __future__ import annotations

from cli_helpers import Daemon, wait_until, we


def DaemonWith(home, *args: str) -> Daemon:
    return Daemon(home, *args, timeout=60)  # three daemons start at once here


def test_join_by_community_id_alone(tmp_path):
    boot, alice, carol = (tmp_path / n for n in ("boot", "alice", "carol"))
    for home in (boot, alice, carol):
        r = we(home, "init", "--plaintext", "--listen", "/ip4/127.0.0.1/tcp/0")
        assert r.code == 0, r.err
    daemons = [DaemonWith(boot, "--relay")]
    try:
        st = daemons[0].start()
        boot_addr = st["listen_addrs"][0]
        for home in (alice, carol):
            daemons.append(DaemonWith(home, "--bootstrap", boot_addr))
            daemons[-1].start()
        cid = we(alice, "--json", "community", "create", "Tools").json["id"]
        # alice registers under the community's namespace at boot (which follows nothing)
        r = we(carol, "--json", "community", "join", f"we:{cid}", "--timeout", "60")
        assert r.code == 0, r.err
        carol_id = r.json["member_id"]
        assert we(boot, "--json", "status").json["communities"] == []

        def carol_asked():
            r = we(alice, "--json", "member", "list", "--community", cid)
            return r.code == 0 and carol_id in r.out

        wait_until(carol_asked, "alice sees carol's join", 60)
    finally:
        for d in daemons:
            d.stop()
