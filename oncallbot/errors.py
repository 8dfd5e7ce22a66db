"""The exceptions oncallbot raises on purpose.

    OncallbotError
    ├── ConfigError        the configuration file or environment is invalid (exit 2)
    ├── BadInput           a caller gave a value we cannot use (a bad --at, an unknown page id)
    ├── RuleViolation      the on-call procedure forbids the request
    ├── NotAuthorized      the caller is not on the team or lacks the role
    └── IntegrationError   Slack, Twilio, Google or a calendar file failed us
        └── DeliveryFailed     a message or call could not be sent (`permanent`: don't retry this channel)
            ├── ChannelOptedOut   the person opted out of this channel (SMS STOP, Twilio 21610)
            ├── InvalidAddress    the number or id is not reachable at all (Twilio 21211, 21614)
            └── EditConflict      a calendar write-back met an edit made since (HTTP 412): not overwritten
        └── UserGroupRefused   Slack refused a user group call (`code`: missing_scope, no_such_subteam, ...)
"""


class OncallbotError(Exception):
    """Base of every error oncallbot raises on purpose."""


class ConfigError(OncallbotError):
    """The configuration is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class BadInput(OncallbotError):
    """A caller gave a value we cannot use."""


class RuleViolation(OncallbotError):
    """The on-call procedure forbids what was asked."""


class NotAuthorized(OncallbotError):
    """The caller is not on the team, or lacks the role for this."""


class IntegrationError(OncallbotError):
    """An outside service or file failed; `retry_after` is set when the service asked us to wait."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryFailed(IntegrationError):
    """A message or call could not be sent. `permanent` means retrying the same channel is pointless;
    `maybe_sent` means the provider may have accepted it (a timeout), so it must not be sent again."""

    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None,
                 maybe_sent: bool = False):
        super().__init__(message, retry_after)
        self.permanent = permanent
        self.maybe_sent = maybe_sent


class ChannelOptedOut(DeliveryFailed):
    """The person opted out of this channel (SMS STOP); never send on it again until they opt back in."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class InvalidAddress(DeliveryFailed):
    """The phone number or id cannot receive this kind of message."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class EditConflict(DeliveryFailed):
    """A write-back found the calendar event edited since the version it was approved on; never retried."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class UserGroupRefused(IntegrationError):
    """Slack answered a user group call with an error; `code` is Slack's error string."""

    def __init__(self, code: str):
        super().__init__(f"Slack {code}")
        self.code = code
