"""`we daemon`: run the node service in the foreground until Ctrl-C / SIGTERM; or detached
(``--detach``: the passphrase is asked here, then handed to a child in its own session
through a pipe, never the environment), and ``we daemon stop``."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

from .backend import daemon_answers, require_identity
from .config import check_addrs, load_config
from .errors import EXIT_AUTH, EXIT_DAEMON, UserError, unavailable

LOG_FILE = "daemon.log"
INFO_FILE = "daemon.json"


def run_daemon(
    o,
    listen: list[str],
    bootstrap: list[str],
    mdns: bool | None = None,
    relay: bool | None = None,
    passphrase_fd: int | None = None,
    web: bool = False,
) -> None:
    cfg = load_config(o.data_dir)  # a broken config is reported before anything starts
    require_identity(o.data_dir)
    if daemon_answers(o.data_dir):
        raise UserError(
            f"a daemon is already running for {o.data_dir}",
            hint="stop it first (Ctrl-C in its terminal), or use another --data-dir",
            code="daemon_running",
        )
    listen = check_addrs(listen, "--listen") or cfg.listen
    bootstrap = list(dict.fromkeys([*cfg.bootstrap, *check_addrs(bootstrap, "--bootstrap")]))
    _ports_free(listen)
    web_cfg = _web_config(cfg, web)
    try:
        from node.daemon import run as service_run
        from node.identity import Identity
    except ImportError as exc:
        raise unavailable("the daemon (node.daemon)", str(exc)) from exc
    with _claim(o.data_dir):
        # Open the key here first (asking once for the passphrase if it is encrypted and
        # WE_PASSPHRASE is unset): a wrong passphrase is a clear error, not a daemon crash.
        if passphrase_fd is not None:
            passphrase = _read_fd(passphrase_fd)
        else:
            passphrase = _passphrase(o.data_dir / "identity.json")
        Identity.load(o.data_dir / "identity.json", passphrase)
        service_run(
            o.data_dir,
            listen=listen,
            bootstrap=bootstrap,
            passphrase=passphrase,
            mdns=mdns,
            relay_service=relay,
            web=web_cfg,
        )


def _web_config(cfg, web: bool):
    """The web app's settings, or None when it stays off (no port in the config and no
    ``--web``); a host beyond loopback without allow_remote is refused before the start."""
    if not web and not cfg.web_port:
        return None
    from node.service.web import WebConfig

    wc = WebConfig(host=cfg.web_host, port=cfg.web_port, allow_remote=cfg.web_allow_remote)
    try:
        wc.check()
    except ValueError as exc:
        raise UserError(str(exc), code="web_config") from None
    if wc.allow_remote:
        print(
            f"WARNING: the web app will listen on {wc.host}, beyond this machine; anyone who "
            "can reach it and holds the login link acts as you",
            file=sys.stderr,
            flush=True,
        )
    return wc


def _claim(data_dir, wait: float = 10.0) -> ExitStack:
    """The data dir for this daemon, from now until it exits (``Node.open`` uses this claim);
    an offline command still running gets ``wait`` seconds to finish."""
    from node.api import DataDirBusy, claim_data_dir

    held = ExitStack()
    try:
        held.enter_context(claim_data_dir(data_dir, wait=wait))
    except DataDirBusy:
        raise UserError(
            f"another `we` process is using {data_dir}",
            hint="is a daemon already running for it? (`we status`)",
            code="data_dir_busy",
        ) from None
    return held


def _is_plaintext(path) -> bool:
    import json

    from node.identity.keyfile import PLAINTEXT

    try:
        return json.loads(path.read_text()).get("protection") == PLAINTEXT
    except (OSError, ValueError, AttributeError):
        return False  # let Identity.load say what is wrong with the file


def _in_background() -> bool:
    """Started with `&` from a shell: reading the terminal would stop the job (SIGTTIN)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) != os.getpgrp()
    except OSError:
        return False


def _passphrase(path):
    from node.identity.passphrase import PASSPHRASE_ENV, resolve_passphrase

    if _is_plaintext(path):
        return None
    if not os.environ.get(PASSPHRASE_ENV) and sys.stdin.isatty() and _in_background():
        raise UserError(
            "the key is encrypted and this daemon runs in the background: it cannot ask for "
            "the passphrase (the job would stop at the prompt)",
            hint="run `we daemon --detach` (it asks first, then goes to the background), "
            f"or set {PASSPHRASE_ENV}",
            code="passphrase_required",
            exit_code=EXIT_AUTH,
        )
    return resolve_passphrase(path, None, confirm=False)


def _read_fd(fd: int) -> str:
    with os.fdopen(fd, "rb") as f:
        return f.read().decode("utf-8")


def detach_daemon(o, params: dict) -> None:
    """Start ``we daemon`` in its own session, logging to DATA_DIR/daemon.log; return once
    its control socket answers (or say why it did not start)."""
    import subprocess
    import time

    from node.identity import Identity
    from node.spawn import python_module

    from .output import emit

    data_dir = o.data_dir
    load_config(data_dir)
    require_identity(data_dir)
    if daemon_answers(data_dir):
        raise UserError(
            f"a daemon is already running for {data_dir}",
            hint="stop it with `we daemon stop`",
            code="daemon_running",
        )
    key = data_dir / "identity.json"
    passphrase = _passphrase(key)
    Identity.load(key, passphrase)  # a wrong passphrase is said here, not in the log
    env = {k: v for k, v in os.environ.items() if k != "WE_PASSPHRASE"}
    command, env = python_module("cli.main", env)  # never the working directory's `cli`
    args = [*command, "--data-dir", str(data_dir), "daemon"]
    for a in params.get("listen") or ():
        args += ["--listen", a]
    for a in params.get("bootstrap") or ():
        args += ["--bootstrap", a]
    if params.get("web"):
        args.append("--web")
    if params.get("mdns") is not None:
        args.append("--mdns" if params["mdns"] else "--no-mdns")
    if params.get("relay") is not None:
        args.append("--relay" if params["relay"] else "--no-relay")
    args += ["-v"] * (params.get("verbose") or 0)
    args += ["--log-format", params.get("log_format") or "text"]
    log_path = data_dir / LOG_FILE
    start = log_path.stat().st_size if log_path.exists() else 0  # this run's lines follow
    read = write = None
    if passphrase is not None:
        read, write = os.pipe()
        args += ["--passphrase-fd", str(read)]
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            pass_fds=() if read is None else (read,),
            start_new_session=True,  # no SIGINT/SIGHUP from this terminal
        )
    if read is not None:
        os.close(read)
        with os.fdopen(write, "wb") as w:
            w.write(passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise _stopped_at_once(child.returncode, log_path, start)
        if daemon_answers(data_dir):
            break
        time.sleep(0.2)
    else:
        raise UserError(
            "the daemon did not answer within 120 s",
            hint=f"see {log_path}; stop it with `we daemon stop`",
            code="daemon_timeout",
            exit_code=EXIT_DAEMON,
        )
    data = {"pid": child.pid, "log": str(log_path), "data_dir": str(data_dir)}
    emit(
        o,
        data,
        lambda c, d: c.print(
            f"Daemon running in the background (pid {d['pid']}); log: {d['log']}. "
            "Stop it with `we daemon stop`."
        ),
    )


def _stopped_at_once(returncode: int, log_path: Path, start: int) -> UserError:
    """The error of a daemon that exited before it answered: its own ``Error:`` and
    ``Hint:`` lines from this run's part of the log (not earlier runs'), with its exit code."""
    with open(log_path, "rb") as f:
        f.seek(start)
        lines = f.read().decode("utf-8", errors="replace").splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("Error: ")]
    if not errors:  # not one of our errors (a crash): its last lines, as they are
        last = " | ".join(line.strip() for line in lines[-3:] if line.strip())
        return UserError(
            f"the daemon stopped at once (exit {returncode}): {last or 'nothing in its log'}",
            hint=f"see {log_path}",
            code="daemon_failed",
            exit_code=EXIT_DAEMON,
        )
    i = errors[-1]
    hints = [line.removeprefix("Hint: ") for line in lines[i + 1 :] if line.startswith("Hint: ")]
    return UserError(
        f"the daemon stopped at once: {lines[i].removeprefix('Error: ')}",
        hint="; ".join([*hints, f"its log: {log_path}"]),
        code="daemon_failed",
        exit_code=returncode if returncode > 0 else EXIT_DAEMON,  # the daemon's own verdict
    )


def stop_daemon(data_dir: Path, timeout: float) -> dict:
    """SIGTERM to the daemon named in DATA_DIR/daemon.json, then wait for it to be gone."""
    import json
    import signal
    import time

    info = data_dir / INFO_FILE
    try:
        pid = int(json.loads(info.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        pid = None
    if pid is None or not daemon_answers(data_dir):
        raise UserError(
            f"no daemon is running for {data_dir}",
            hint="nothing to stop; `we status` shows what runs",
            code="daemon_not_running",
            exit_code=EXIT_DAEMON,
        )
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if not info.exists() and not daemon_answers(data_dir):
            break  # it cleaned up; the process is finishing
        time.sleep(0.1)
    else:
        raise UserError(
            f"the daemon (pid {pid}) did not stop within {timeout:.0f} s",
            hint=f"wait, or end it with `kill {pid}`",
            code="daemon_timeout",
            exit_code=EXIT_DAEMON,
        )
    return {"pid": pid, "stopped": True}


def _ports_free(listen: list[str]) -> None:
    """Refuse a TCP port something already listens on. libp2p binds with SO_REUSEPORT, so a
    second daemon on a taken port used to start "fine" and share it: the kernel then handed
    each incoming connection to one of the two nodes at random. A probe without SO_REUSEPORT
    fails while any socket listens there (SO_REUSEADDR still ignores TIME_WAIT leftovers)."""
    import errno
    import socket

    for addr in listen:
        parts = addr.split("/")
        if len(parts) < 5 or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
            continue
        host, port = parts[2], int(parts[4])
        if port == 0:
            continue
        family = socket.AF_INET if parts[1] == "ip4" else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    continue  # not ours to judge here (e.g. an address this machine lacks)
                raise UserError(
                    f"port {port} on {host} is already in use (another `we daemon`?)",
                    hint="give this node a port of its own: `we daemon --listen "
                    f"/{parts[1]}/{host}/tcp/PORT`, or `listen` in config.toml",
                    code="port_in_use",
                ) from None
