"""SIGTERM as Ctrl-C for the commands, set before any heavy import (Keras is not imported here), so a signal that
arrives while a command starts is handled like one that arrives later. A fit's own handling, which finishes the
epoch first, is :class:`pipelines.stop_on_signal.StopOnSignal`."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM raises ``KeyboardInterrupt``, as Ctrl-C does, while the block runs (main thread only),
    so ``finally`` clauses clean up (a scoring run removes its temporary file) and the CLI exits 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
