"""TwiML documents: the paging call with its keypress prompt, and the answers to Twilio's webhooks."""

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

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


# --- the office line ---------------------------------------------------------------------------------------

SCREEN_TIMEOUT = 8  # seconds the person rung has to press 1 after the prompt


def ring_twiml(number: str, caller_id: str, seconds: int, screen_url: str, action_url: str) -> str:
    """Ring one person's cell, showing the line's number. They hear the screening (`screen_url`) before the
    caller is connected; answering machine detection on their leg tells a voicemail box apart at once. When
    the ring ends (not taken, or the bridged call is over), Twilio asks `action_url` what next."""
    dial = Dial(caller_id=caller_id, timeout=seconds, action=action_url, method="POST", answer_on_bridge=True)
    dial.number(number, url=screen_url, method="POST", machine_detection="Enable")
    return str(VoiceResponse().append(dial))


def forward_twiml(number: str, caller_id: str, seconds: int, action_url: str) -> str:
    """Business hours: pass the call on to the office, unscreened."""
    dial = Dial(caller_id=caller_id, timeout=seconds, action=action_url, method="POST")
    dial.number(number)
    return str(VoiceResponse().append(dial))


def screen_twiml(words: str, gather_url: str) -> str:
    """What the person rung hears: the prompt, twice; no keypress hangs up on them (the ring then ends and
    the call goes on), so a voicemail box that picks up never swallows the caller."""
    gather = Gather(input="dtmf", num_digits=1, timeout=SCREEN_TIMEOUT, action=gather_url, method="POST")
    gather.say(words)
    gather.pause(length=1)
    gather.say(words)
    response = VoiceResponse().append(gather)
    response.hangup()
    return str(response)


def connect_twiml() -> str:
    """The screening ends with nothing more to play: Twilio bridges the caller."""
    return str(VoiceResponse())


def take_message_twiml(greeting: str, greeting_url: str | None, max_seconds: int, transcribe: bool,
                       action_url: str, recording_url: str, transcription_url: str | None) -> str:
    """The greeting, the beep, the message (recorded, and transcribed when asked), then goodbye."""
    response = VoiceResponse()
    if greeting_url:
        response.play(greeting_url)
    else:
        response.say(greeting)
    record: dict[str, object] = {"max_length": max_seconds, "play_beep": True, "action": action_url, "method": "POST",
                                 "recording_status_callback": recording_url,
                                 "recording_status_callback_event": "completed",
                                 "recording_status_callback_method": "POST"}
    if transcribe and transcription_url:
        record |= {"transcribe": True, "transcribe_callback": transcription_url}
    response.record(**record)
    response.hangup()  # the caller hung up or stayed silent: <Record> falls through here
    return str(response)


def hang_up_twiml(words: str | None = None) -> str:
    response = VoiceResponse()
    if words:
        response.say(words)
    response.hangup()
    return str(response)


def line_test_hold_twiml(seconds: int) -> str:
    """The bot's own leg of the weekly test call to the line: it listens, silent, while the line rings the
    on-call person, and hangs up if the line never ends the call."""
    response = VoiceResponse()
    response.pause(length=seconds)
    response.hangup()
    return str(response)
