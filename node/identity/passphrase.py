"""Where a keystore's passphrase comes from: the ``passphrase`` argument, else the
``WE_PASSPHRASE`` environment variable, else an interactive prompt (getpass) when stdin is a
terminal. A new passphrase (``we key passwd``, ``we key export``) comes from the argument,
else ``WE_NEW_PASSPHRASE``, else is asked twice."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from getpass import getpass
from pathlib import Path

from .keyfile import KeystoreError

PASSPHRASE_ENV = "WE_PASSPHRASE"
NEW_PASSPHRASE_ENV = "WE_NEW_PASSPHRASE"  # the new one for `we key passwd` / `we key export`


class PassphraseUnavailableError(KeystoreError):
    """No passphrase was given, ``var`` (``WE_PASSPHRASE`` or ``WE_NEW_PASSPHRASE``) is unset
    and there is no terminal to ask on."""

    def __init__(self, path: Path, var: str):
        super().__init__(path, f"no passphrase: set {var} or run in a terminal to be asked")
        self.var = var


def resolve_passphrase(
    path: Path,
    passphrase: str | bytes | None,
    *,
    confirm: bool,
    env: Mapping[str, str] = os.environ,
    var: str = PASSPHRASE_ENV,
) -> str | bytes:
    """Explicit argument, else the environment variable ``var``, else a prompt on a
    terminal."""
    if passphrase is not None:
        return passphrase
    if env.get(var):
        return env[var]
    if not sys.stdin.isatty():
        raise PassphraseUnavailableError(path, var)
    first = getpass(f"Passphrase for {path}: ")
    if confirm and getpass("Repeat the passphrase: ") != first:
        raise KeystoreError(path, "the two passphrases differ; try again")
    return first


def passphrase_bytes(path: Path, passphrase: str | bytes | None, *, confirm: bool) -> bytes:
    secret = resolve_passphrase(path, passphrase, confirm=confirm)
    secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not secret:
        raise KeystoreError(
            path, "empty passphrase; give one (or use insecure_plaintext for tests and demos)"
        )
    return secret


def new_passphrase(path: Path, passphrase: str | bytes | None = None) -> bytes:
    """A new passphrase: the argument, else ``WE_NEW_PASSPHRASE``, else asked twice."""
    if passphrase is None and not os.environ.get(NEW_PASSPHRASE_ENV) and sys.stdin.isatty():
        first = getpass(f"New passphrase for {path}: ")
        if getpass("Repeat the new passphrase: ") != first:
            raise KeystoreError(path, "the two passphrases differ; try again")
        passphrase = first
    secret = resolve_passphrase(path, passphrase, confirm=False, var=NEW_PASSPHRASE_ENV)
    if not secret:
        raise KeystoreError(path, f"empty passphrase; give one ({NEW_PASSPHRASE_ENV})")
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
