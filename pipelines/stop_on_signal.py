"""Stopping a fit cleanly on Ctrl-C or SIGTERM: finish the epoch, keep its checkpoint, then stop."""

from __future__ import annotations

import signal
import threading

import keras


class StopOnSignal(keras.callbacks.Callback):
    """While training, the first SIGINT/SIGTERM stops at the end of the current epoch
    (after the checkpoint callback has saved it) by raising ``KeyboardInterrupt``;
    a second one interrupts at once. Place it after the checkpoint callback."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self.received: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.received:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def on_epoch_end(self, epoch, logs=None):
        if self.received:
            self._restore()
            raise KeyboardInterrupt(self.received)

    def on_train_end(self, logs=None):
        self._restore()

    def _restore(self):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
