"""The date a plan is judged on: waivers' expiry at compile time, retirement.after at run
time. LIFECYCLE_TODAY=YYYY-MM-DD pins it (tests, reproducing a past decision)."""

from __future__ import annotations

import datetime as dt
import os


def today() -> dt.date:
    pinned = os.environ.get("LIFECYCLE_TODAY")
    return dt.date.fromisoformat(pinned) if pinned else dt.date.today()
