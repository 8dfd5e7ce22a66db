"""The on-call procedure as pure rules: no I/O, no clock reads, no SDK imports.

Glossary
- week: one on-call turn, from the shift window's start (default Monday 18:01) to its end the following
  week (default Monday 06:59, a minute label, so the week ends at 07:00:00). Named by `week_start`, the
  local date it starts on.
- shift window: the weekly start and end labels of the on-call week, in the team's time zone.
- minute label: a time as the procedure writes it ("18:00"), which includes its whole last minute.
- business hours: when the office handles pages (default Mon-Fri 07:00-18:00), minus holidays.
- responsible: who handles a page arriving at an instant: "oncall" (the week's person), "office", or
  "nobody" (a gap: the approvers are paged).
- page: a voicemail or ticket that needs a reply within the acknowledgment window.
- On It!: the acknowledgment that someone has taken a page; Done: it is resolved.
- step: one rung of the escalation chain (who, by which channels, after what delay).
- approver: a manager who approves swaps and receives rotation problems and gap pages.
"""
