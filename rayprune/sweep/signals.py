"""SIGTERM and SIGHUP stop a sweep the way Ctrl-C does. Process managers, containers, `timeout`
and CI runners stop with SIGTERM; Ray's driver installs a C++ handler for it at ray.init that
aborts the process (a stack dump, exit 134) and leaves the trials' runs RUNNING. Here either
signal runs whatever SIGINT would run at that moment: Tune's graceful stop while a Tuner fits
(it saves the experiment state, so `rayprune resume` continues), KeyboardInterrupt otherwise.
"""

from __future__ import annotations

import signal
from typing import Any

STOPPING = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []  # the stopping signals this process has received


def _as_interrupt(signum: int, frame: Any) -> None:
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIG_DFL or SIG_IGN: nobody turned SIGINT into a Python call
        raise KeyboardInterrupt


def stop_like_ctrl_c() -> None:
    """Route SIGTERM and SIGHUP to SIGINT's handler from now on (again after ray.init, whose
    own handler replaces this one)."""
    for signum in STOPPING:
        signal.signal(signum, _as_interrupt)


def stopped_by() -> int | None:
    """The first stopping signal received, if any."""
    return _received[0] if _received else None
