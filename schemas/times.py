"""Time, once: the clock every component reads, and Vietnam's time zone for what people read."""

from __future__ import annotations

import datetime as dt

# Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving time since 1975).
ICT = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
