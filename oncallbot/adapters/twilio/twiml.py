"""TwiML documents: the paging call with its keypress prompt, and the answers to Twilio's webhooks."""

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

ACK_PROMPT = "Press 1 to acknowledge."


def page_call_twiml(text: str, gather_url: str) -> str:
    """Read the page and ask for a keypress, twice, inside one Gather.

    Both readings sit inside the Gather because with actionOnEmptyResult Twilio posts to
    `gather_url` when nothing is pressed, so no verb after the Gather would ever play.
    """
    gather = Gather(
        input="dtmf", num_digits=1, timeout=10, action=gather_url, method="POST", action_on_empty_result=True
    )
    gather.say(text)
    gather.say(ACK_PROMPT)
    gather.pause(length=1)
    gather.say(text)
    gather.say(ACK_PROMPT)
    return str(VoiceResponse().append(gather))


def voicemail_twiml(text: str) -> str:
    """What a call answered by a machine leaves after the beep, then hangs up."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def gather_reply_twiml(message: str) -> str:
    """The answer to the Gather POST: say how the keypress was taken, then end the call."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def sms_reply_twiml(message: str | None) -> str:
    """The answer to an inbound SMS; an empty <Response/> sends no reply."""
    response = MessagingResponse()
    if message is not None:
        response.message(message)
    return str(response)
