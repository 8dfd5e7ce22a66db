"""What `oncallbot contacts` shows the approvers: each person of the team, the channels they can be reached on,
their opt-outs (SMS STOP until START), and their contact details masked (domain.masking). One read.

Phone verification (issue 10, item 7) is not built yet: `verified` is None ("not checked"), never a guess."""

from dataclasses import dataclass

from ..domain.masking import mask_email, mask_phone
from ..domain.team import Team
from ..domain.vocabulary import Channel
from ..ports import Store

EMAIL = "email"  # not a paging channel (vocabulary.Channel), but a way the team reaches the person


@dataclass(frozen=True)
class ContactView:
    person_id: str
    name: str
    roles: tuple[str, ...]
    channels: tuple[str, ...]  # the channels their details allow: sms, voice (phone), slack (slack_id), email
    opted_out: tuple[str, ...]  # of those, the ones they said STOP to: nothing is sent on them
    phone: str | None  # masked
    email: str | None  # masked
    slack_id: str | None  # a Slack user id is not a contact detail: shown whole
    verified: bool | None  # None: not checked (phone verification is not built yet)


def contacts(store: Store, team: Team) -> list[ContactView]:
    views = []
    with store.reading() as tx:
        for person in team.people:
            channels: list[str] = []
            if person.phone:
                channels += [Channel.SMS.value, Channel.VOICE.value]
            if person.slack_id:
                channels.append(Channel.SLACK.value)
            if person.email:
                channels.append(EMAIL)
            opted_out = tuple(c for c in (Channel.SMS.value, Channel.VOICE.value) if tx.opted_out(person.id, c))
            views.append(ContactView(person.id, person.name, tuple(sorted(person.roles)), tuple(channels), opted_out,
                                     mask_phone(person.phone), mask_email(person.email), person.slack_id, None))
    return views
