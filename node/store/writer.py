"""Writing a batch's op rows on a second thread while the store's owner goes on.

At the end of a transaction that joined a span (``Store.batched``), inserting the batch's
op rows is SQLite's work alone, ~5 us an op of C (the rows and their two index entries): a
quarter of what a bulk ingest or a catch-up spends on its one thread. Handed to a writer
thread as ONE statement (the rows travel as one JSON array and two byte strings, so SQLite
runs the whole insert in one step, without Python's lock), it runs while the owner decodes
and checks the next batch.

The rule that keeps this invisible: the owner touches the connection only after the rows
are in. :class:`Connection` is the store's connection; every call on it first waits for the
rows written behind, so no query, transaction or commit of the owner can run around them,
whatever module makes it. The writer holds the batch's savepoint open and releases it after
the insert: if the insert fails (a full disk), the batch is undone as a whole (back to its
savepoint), the store reloads its replica from the file (``on_failure``), and the owner's next
call raises :class:`WriteFailed`: the same outcome as a batch whose own write failed, told
one call later. A crash loses what the span had not committed, as before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

Step = tuple[str, Any]  # (SQL, parameters)

# SQLite built to serialize a connection's use across threads (the usual build): a cursor the
# owner still reads from may then step while the writer inserts. Otherwise rows are not
# written behind.
SERIALIZED = sqlite3.threadsafety == 3


class WriteFailed(sqlite3.OperationalError):
    """The rows of the previous batch could not be written; that batch was undone."""


class Connection(sqlite3.Connection):
    """A store's connection (``sqlite3.connect(..., factory=Connection)``) that can run the
    tail of a transaction on a writer thread (:meth:`behind`); any other use waits for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.on_failure: Callable[[], None] | None = None  # told after a failed tail is undone

    def behind(self, steps: Sequence[Step], undo: Sequence[str]) -> None:
        """Run ``steps`` in order on a writer thread; if one fails, run ``undo`` there (each
        statement tried) and make the next call here raise :class:`WriteFailed`."""
        self.wait()
        self._writer = threading.Thread(
            target=self._run, args=(steps, undo), name="we-store-writer", daemon=True
        )
        self._writer.start()

    def _run(self, steps: Sequence[Step], undo: Sequence[str]) -> None:
        execute = super().execute  # not ours: ours would wait for this very thread
        try:
            for sql, params in steps:
                execute(sql, params)
        except BaseException as exc:
            self._failure = exc
            for sql in undo:
                try:
                    execute(sql)
                except sqlite3.Error:
                    pass

    def wait(self) -> None:
        """Return once the rows written behind are in; raise :class:`WriteFailed` if they
        could not be written (after ``on_failure``)."""
        writer = self._writer
        if writer is None:
            return
        writer.join()
        self._writer = None
        failure, self._failure = self._failure, None
        if failure is not None:
            if self.on_failure is not None:
                self.on_failure()
            raise WriteFailed(f"writing a batch's ops failed and it was undone: {failure}") from (
                failure
            )

    # Every way in waits first.
    def execute(self, *args: Any) -> sqlite3.Cursor:
        self.wait()
        return super().execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        self.wait()
        return super().executemany(*args)

    def executescript(self, *args: Any) -> sqlite3.Cursor:
        self.wait()
        return super().executescript(*args)

    def cursor(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        self.wait()
        return super().cursor(*args, **kwargs)

    def commit(self) -> None:
        self.wait()
        super().commit()

    def rollback(self) -> None:
        self.wait()
        super().rollback()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            super().close()

    @property
    def in_transaction(self) -> bool:  # type: ignore[override]
        self.wait()
        return super().in_transaction
