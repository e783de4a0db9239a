"""The state every command shares: output mode, data dir, and the backend (opened lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


class Obj:
    def __init__(self) -> None:
        self.json = False
        self._data_dir: Path | None = None
        self._backend: Any = None
        self._closing = False  # close() is called when the command ends

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            from .config import default_data_dir

            self._data_dir = default_data_dir()
        return self._data_dir

    @data_dir.setter
    def data_dir(self, value: Path) -> None:
        self._data_dir = value

    def backend(self):
        """The daemon's control socket when it answers, else the local store."""
        if self._backend is None:
            from .backend import open_backend

            self._backend = open_backend(self.data_dir)
            if not self._closing:
                # closed when the command ends: the offline node closes its store and lock
                # (once: a command that closes and reopens it, as `we watch`, adds no more)
                click.get_current_context().find_root().call_on_close(self.close)
                self._closing = True
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def _root_obj(ctx: click.Context) -> Obj:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Obj()
    return root.obj


def _set_json(ctx: click.Context, _param: Any, value: bool) -> None:
    if value:
        _root_obj(ctx).json = True


def _set_data_dir(ctx: click.Context, _param: Any, value: str | None) -> None:
    if value:
        _root_obj(ctx).data_dir = Path(value).expanduser()


def common(f):
    """--json and --data-dir, accepted before or after any command name."""
    f = click.option(
        "--json",
        "json_",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_json,
        help="Print machine-readable JSON (stable output for scripts).",
    )(f)
    f = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        expose_value=False,
        is_eager=True,
        callback=_set_data_dir,
        help="Node data directory (default: $WE_HOME or the platform user data dir).",
    )(f)
    return f


pass_obj = click.make_pass_decorator(Obj, ensure=True)


def obj() -> Obj:
    return _root_obj(click.get_current_context())


class WeGroup(click.Group):
    """A group whose commands all get --json and --data-dir."""

    def command(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        parent = super()

        def deco(f):
            return parent.command(*args, **kwargs)(common(f))

        return deco

    def group(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        kwargs.setdefault("cls", WeGroup)
        parent = super()

        def deco(f):
            return parent.group(*args, **kwargs)(common(f))

        return deco


def group(name: str, help: str) -> WeGroup:
    """A top-level command group (used by the command modules): ``offer = group("offer", ...)``
    then ``@offer.command("add")``. A group does nothing by itself."""

    def nothing() -> None:
        pass

    return click.group(name, cls=WeGroup, help=help)(common(nothing))


def command(name: str, **kwargs: Any):
    """A top-level command (used by the command modules)."""

    def deco(f):
        return click.command(name, **kwargs)(common(f))

    return deco
