"""The team's procedure as one value, built once from the configuration and handed to the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from .paging import EscalationPolicy
from .responsibility import BusinessHours, HolidayLookup, OfficeHolidayRule, cover_office_holidays
from .rotation import Shift, ShiftWindow
from .team import Team

if TYPE_CHECKING:  # a type here: its rules load with the office line's wiring (`who` starts without them)
    from .phone_line import PhoneLine


@dataclass(frozen=True)
class Procedure:
    team: Team
    window: ShiftWindow
    hours: BusinessHours
    holiday_on: HolidayLookup
    escalation: EscalationPolicy
    swap_notice: timedelta = timedelta(days=5)
    ack_window: timedelta = timedelta(minutes=15)
    done_reminder: timedelta | None = timedelta(hours=2)  # None: pages left at On It! are not chased
    office_holiday: OfficeHolidayRule = "nobody"  # who covers an office holiday on the changeover day
    report_by_email: bool = False  # report.email: the weekly report also by email to each approver
    phone_line: PhoneLine | None = None  # the office line, when the team's numbers are on Twilio

    def shifts_in_effect(self, shifts: list[Shift]) -> list[Shift]:
        """The stored weeks as this procedure applies them: what `who`, paging and the check all go by."""
        return cover_office_holidays(shifts, self.office_holiday, self.hours, self.window, self.holiday_on)
