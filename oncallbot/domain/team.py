"""The team: people, their managers and roles, as the procedure refers to them."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    """A team member. Contact details are personal data: never put them in a channel or a log line."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None  # E.164
    slack_id: str | None = None
    manager_id: str | None = None  # the direct manager, first stop of "beyond my scope"
    roles: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Team:
    name: str
    timezone: str  # IANA name, e.g. "America/Los_Angeles"
    people: tuple[Person, ...]
    approver_ids: tuple[str, ...]  # managers who approve swaps and get rotation problems

    def person(self, person_id: str | None) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def by_slack_id(self, slack_id: str) -> Person | None:
        return next((p for p in self.people if p.slack_id == slack_id), None)

    def by_phone(self, phone: str) -> Person | None:
        return next((p for p in self.people if p.phone and p.phone == phone), None)

    def by_email(self, email: str) -> Person | None:
        email = email.strip().lower()
        return next((p for p in self.people if p.email and p.email.lower() == email), None)

    @property
    def approvers(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.id in self.approver_ids)

    def with_role(self, role: str) -> tuple[Person, ...]:
        return tuple(p for p in self.people if role in p.roles)
