"""The local web app: the node's face for members who do not live in a terminal.

It runs inside the daemon's own trio process (``Node.open(..., web=WebConfig(...))`` or
``we daemon --web``) under Hypercorn's trio worker, and talks to the node in-process: reads
through ``Node.query`` (the views the control socket serves), writes through ``Node.publish``
and ``Node.seal``. No rule of the community lives here: a form becomes an op body, and the
node accepts or rejects it.

Security (a browser is a hostile neighbour: any page it shows may try to reach us):
- it listens on 127.0.0.1 only; another address needs ``allow_remote`` and is logged loudly;
- login by a secret link: ``<data_dir>/web.token`` (mode 0600) is the key; ``/login?token=``
  trades it for a session cookie (HttpOnly, SameSite=Strict) and forgets it from the URL;
- every POST carries the session's CSRF token in a hidden field, checked before anything runs;
- the Host header must name the address we listen on (no DNS rebinding).
See ``auth.py`` for the details and ``app.py`` for the pages.
"""

from __future__ import annotations

from .auth import TOKEN_FILE, login_url, read_or_create_token
from .server import WebConfig, serve

__all__ = ["TOKEN_FILE", "WebConfig", "login_url", "read_or_create_token", "serve"]
