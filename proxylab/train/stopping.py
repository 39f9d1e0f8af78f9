"""Ctrl-C and SIGTERM stop training at a step boundary, so the checkpoint always holds whole steps.

Raising from the signal handler (Python's default for SIGINT) can land anywhere, e.g. after ``optimizer.step()`` but
before the step counter moves: the checkpoint would then hold step n+1's update under label n, and a resume would
apply it twice. Instead the first signal only records a request; the loop checks it between steps, writes the
checkpoint of the last completed step and stops. A second Ctrl-C stops at once (KeyboardInterrupt); then nothing is
checkpointed and a resume continues from the last periodic checkpoint, as after a kill -9. A SIGTERM never stops at
once: torchrun answers a Ctrl-C by sending SIGTERM to its workers (which got the SIGINT too), and schedulers send it
with a grace period before SIGKILL — both want the clean stop.
"""
from __future__ import annotations

import signal
import sys
import threading

SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class TrainingStopped(KeyboardInterrupt):
    """Training stopped cleanly at a step boundary on a signal; the run is resumable from ``step``.

    A :class:`KeyboardInterrupt`, so code that treats Ctrl-C as "stop" keeps working.
    """

    def __init__(self, signum: int, step: int):
        super().__init__(f"{describe(signum)} at step {step}")
        self.signum, self.step = signum, step

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def describe(signum: int) -> str:
    """How the run's status text names the stop."""
    if signum == signal.SIGINT:
        return "stopped by the user (Ctrl-C)"
    return f"terminated ({SIGNAL_NAMES.get(signum, f'signal {int(signum)}')})"


class StopRequests:
    """Records SIGINT/SIGTERM while installed (main thread only; elsewhere it never fires).

    Parameters
    ----------
    announce : bool
        Print one line on stderr at the first signal (rank 0 only, so a multi-process run says it once).
    """

    def __init__(self, announce: bool = True):
        self.signum: int | None = None
        self.announce = announce
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:  # Ctrl-C twice: stop now, without a checkpoint
                raise KeyboardInterrupt
            return
        self.signum = signum
        if self.announce:
            print(f"\nproxylab: {SIGNAL_NAMES[signum]} received: stopping after the current step "
                  "(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
