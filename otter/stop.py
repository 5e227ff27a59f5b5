"""Stopping a run on a signal, and the exit codes of Otter's commands.

| exit code | meaning |
|---|---|
| 0 | finished |
| 1 | crashed (a traceback), or the disk is full (one line) |
| 2 | config or data error (one line) |
| 130 | stopped by Ctrl-C (SIGINT), after writing ``last.ckpt`` |
| 143 | stopped by SIGTERM, after writing ``last.ckpt`` |

Lightning turns SIGTERM into an exit at the next batch boundary; :class:`StopOnSignal`
does the same for the first Ctrl-C (a second one stops at once, writing nothing) and
sets the exit code, so ``train && to_onnx`` does not go on after an interrupted run.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

__all__ = ["EXIT_OK", "EXIT_CRASH", "EXIT_USER_ERROR", "EXIT_SIGINT", "EXIT_SIGTERM", "StopOnSignal", "ForcedStop"]

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USER_ERROR = 2
EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143


class ForcedStop(SystemExit):
    """A second Ctrl-C: stop now, without writing a checkpoint (the last one stays as it was)."""

    def __init__(self) -> None:
        super().__init__(EXIT_SIGINT)


class StopOnSignal(Callback):
    """SIGINT and SIGTERM stop training after the current batch with exit code 130 or 143.

    Added by :func:`otter.build_trainer`; :class:`otter.ckpt_save.LastCheckpoint`
    writes ``last.ckpt`` at that point.
    """

    def __init__(self) -> None:
        self.signum = 0
        self._previous: Dict[int, Any] = {}

    @property
    def state_key(self) -> str:
        return "OtterStopOnSignal"

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.signum = 0
        self.trainer = trainer
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.signum:
            raise ForcedStop()
        self.signum = self.signum or signum
        lightning_handler = self._previous.get(signal.SIGTERM)
        if callable(lightning_handler):
            # Lightning's own SIGTERM handling: stop every rank at the next batch boundary.
            lightning_handler(signal.SIGTERM, frame)
        else:
            self.trainer._signal_connector.received_sigterm = True

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            exception.code = 128 + (self.signum or signal.SIGTERM)
        self._restore()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        # Before Lightning puts back the handlers it replaced, so its own do not outlive the fit.
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, TypeError):
                pass
        self._previous = {}
