"""Loaded only by the clock-shift run of .ci/run (PYTHONPATH=tests/faketime), in every Python
process of that run, tests and the `newsdesk` processes they start alike.

That run moves the wall clock 400 days ahead with libfaketime and leaves the monotonic clock
alone (FAKETIME_DONT_FAKE_MONOTONIC=1: with it shifted too, every timed wait of Python hands the
kernel a deadline 400 days away). libfaketime 0.9.10 then answers Python's `time.sleep`, which
sleeps to an absolute monotonic deadline, with EINVAL; a select() timeout is relative and comes
through unharmed, so `time.sleep` sleeps with select() here. Nothing else changes.
"""

import os
import select
import time

if os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1" and "faketime" in os.environ.get(
        "LD_PRELOAD", ""):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)

    time.sleep = _sleep
