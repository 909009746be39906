"""The business moment the tests run at. One clock profile pins mock-sap's and mock-bank's
clocks, and whatever tests date "today" (invoice dates, payment-run dates, due dates, cash
days) is the profile's business date. FINSYNC_TEST_CLOCK chooses it:

    weekday-morning (default)  Wednesday 09:00, before the bank's 15:00 cut-off: a payment for
                               today is booked inside the POST (ACCEPTED and SETTLED at once)
    weekend                    Sunday 20:00: booked on Monday; a payment sent after an advance
                               to Monday 20:00 is past the cut-off too and settles on Tuesday
    after-cutoff               Wednesday 16:00: booked on Thursday

Why a fixed weekday and hour in the coming week. On real time the bank's calendar decided
whether a payment was booked at once, so the suite passed on a Sunday and failed on a Friday
morning. A fixed date in the past would not do either: the Temporal dev server runs on real
time, and lifecycle timers compare `workflow.now()` with due dates ("not in a payment run by
due date + 3 days"), so old invoices would open cases in every test. The first such weekday on
or after today keeps due dates (+30 days) ahead of real time. Wednesday: the settlement day,
its statement and a return one business day later never straddle a weekend (a Friday payment
is cleared by Friday's statement, and the lifecycle completes, before a Monday return).
Each hour leaves four hours or more before the cut-off or midnight: the mocks' clocks tick on
from the pinned moment (mock-bank's reset goes back to it). mock-bank has no holidays unless a
test PUTs them; the profile still steps a week on past TARGET2 closing days.
"""

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

ENV = "FINSYNC_TEST_CLOCK"
DEFAULT = "weekday-morning"
MONDAY, WEDNESDAY, SUNDAY = 0, 2, 6
BANK_CUTOFF = time(15, 0)  # mock-bank's default --cutoff

# name -> (weekday, time of day in bank time: UTC, mock-bank's default zone)
PROFILES: dict[str, tuple[int, time]] = {
    "weekday-morning": (WEDNESDAY, time(9, 0)),
    "weekend": (SUNDAY, time(20, 0)),
    "after-cutoff": (WEDNESDAY, time(16, 0)),
}


@dataclass(frozen=True)
class ClockProfile:
    name: str
    moment: datetime  # where the mocks' clocks start (naive, bank time)

    @property
    def business_date(self) -> date:
        """"Today" for the tests: invoice dates, run dates, cash-position days."""
        return self.moment.date()

    @property
    def clock_arg(self) -> str:
        """mock-sap's and mock-bank's `--clock`."""
        return f"{self.moment:%Y-%m-%dT%H:%M}"

    @property
    def books_on_receipt(self) -> bool:
        """A payment requested for today is booked inside the POST (guide mock-bank §4), and
        the lifecycle passes through ACCEPTED to SETTLED at once."""
        return self.moment.weekday() < 5 and self.moment.time() < BANK_CUTOFF

    def describe(self) -> str:
        return f"{self.name}: mock clocks from {self.clock_arg} ({self.moment:%A}, bank time UTC)"


def easter_sunday(year: int) -> date:
    """Gregorian Easter (Meeus/Jones/Butcher): Good Friday and Easter Monday are TARGET2 holidays."""
    a, (b, c) = year % 19, divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def target_closing_day(day: date) -> bool:
    easter = easter_sunday(day.year)
    return (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)} or day in (
        easter - timedelta(days=2), easter + timedelta(days=1))


def profile_for(name: str, today: date) -> ClockProfile:
    if name not in PROFILES:
        raise ValueError(f"{ENV}={name!r} is not a clock profile; choose one of {', '.join(PROFILES)}")
    weekday, at = PROFILES[name]
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    # The day itself and the next (settlement, the day's statement, a return) are no holidays.
    while any(target_closing_day(day + timedelta(days=n)) for n in range(2)):
        day += timedelta(days=7)
    return ClockProfile(name, datetime.combine(day, at))


@lru_cache
def profile() -> ClockProfile:
    """This session's profile, fixed at first use: a run that crosses midnight keeps its dates."""
    return profile_for(os.environ.get(ENV, DEFAULT), datetime.now(UTC).date())


def business_today() -> date:
    return profile().business_date
