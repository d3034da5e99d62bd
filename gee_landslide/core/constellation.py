"""When the Sentinel-1 constellation flew: how often one relative orbit is seen on a date.

Facts (approximate dates from ESA's Sentinel-1 mission pages): S1A from 2014-10-03; S1B from
2016-09-26 until its failure on 2021-12-23; S1C in routine operation from about 2025-05-20
(launched 2024-12-05). Each satellite repeats its orbit every 12 days; with two flying, one
relative orbit is seen every 6 days. Why in ``core``: the region simulator draws its acquisition
dates from these facts, and monitoring needs them to tell independent Sentinel-1 looks from
repeated passes over the same scenes (``monitor.confirm_rules.sar_confirm_rule``).
"""

from __future__ import annotations

import datetime as dt

S1A_START = dt.date(2014, 10, 3)
S1B_START = dt.date(2016, 9, 26)
S1B_END = dt.date(2021, 12, 23)
S1C_START = dt.date(2025, 5, 20)  # approximate start of routine S1C acquisitions
S1_REPEAT_DAYS = 12  # one satellite's orbit cycle


def s1_repeat_days(d: dt.date) -> int:
    """6 when two Sentinel-1 satellites fly on the date, 12 with one."""
    two = (S1B_START <= d < S1B_END) or d >= S1C_START
    return S1_REPEAT_DAYS // 2 if two else S1_REPEAT_DAYS
