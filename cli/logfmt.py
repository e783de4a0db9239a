"""The daemon's log: one line per event, with time (UTC, ms) and level, as text or JSON.

libp2p and trio log multi-line messages and tracebacks; a line per event keeps the log
greppable and safe to show (newlines and control characters are escaped, a traceback is
reduced to its last frame and the exception). ``--log-format json`` writes one JSON object a
line: {"ts", "level", "logger", "msg"} and, with an exception, "exc" (and "where")."""

from __future__ import annotations

import json
import logging
import time
import traceback

from .output import safe_text


def _when(record: logging.LogRecord) -> str:
    t = time.gmtime(record.created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


def _exception(record: logging.LogRecord) -> dict[str, str]:
    if not record.exc_info or record.exc_info[0] is None:
        return {}
    etype, exc, tb = record.exc_info
    out = {"exc": f"{etype.__name__}: {exc}"}
    frames = traceback.extract_tb(tb) if tb else []
    if frames:
        last = frames[-1]
        out["where"] = f"{last.filename}:{last.lineno} in {last.name}"
    return out


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = _exception(record)
        parts = [_when(record), f"{record.levelname:<7}", record.name, record.getMessage()]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return safe_text(" ".join(parts))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": _when(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_exception(record),
        }
        return json.dumps(doc, ensure_ascii=True)  # one line: every control is \u-escaped


class LineLogger:
    """A text stream whose every line becomes a log record: what the service prints
    (``listening ...``, ``stopped``) and what a library writes to stderr get a time and a
    level like every other line of the log."""

    def __init__(self, logger: logging.Logger, level: int):
        self.logger, self.level, self.buf = logger, level, ""

    def write(self, text: str) -> int:
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if line.strip():
                self.logger.log(self.level, line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def setup(level: int, fmt: str = "text") -> None:
    """Route every logger (ours, libp2p's, trio's) through one handler on stderr, and what
    the service prints on stdout through it too."""
    import sys

    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LineFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("we").setLevel(level)
    # libraries that add their own handlers would print twice, in their own format
    for name in list(logging.root.manager.loggerDict):
        lg = logging.getLogger(name)
        if lg.handlers and not name.startswith("we"):
            lg.handlers.clear()
            lg.propagate = True
    logging.captureWarnings(True)
    daemon_log = logging.getLogger("we.daemon")
    daemon_log.setLevel(min(level, logging.INFO))
    # stderr stays as it is: an error before the start (a second daemon, a wrong
    # passphrase) is the one line `we` always prints, JSON with --json
    sys.stdout = LineLogger(daemon_log, logging.INFO)  # type: ignore[assignment]
