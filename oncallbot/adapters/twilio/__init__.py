"""Twilio adapter: SMS and voice pages out, TwiML and signature checks for the webhooks coming back."""

from .gateway import LoopbackAwareHttpClient, TwilioGateway, TwilioRecordings, TwilioSignatureVerifier
from .twiml import gather_reply_twiml, page_call_twiml, sms_reply_twiml

__all__ = [
    "LoopbackAwareHttpClient",
    "TwilioGateway",
    "TwilioRecordings",
    "TwilioSignatureVerifier",
    "gather_reply_twiml",
    "page_call_twiml",
    "sms_reply_twiml",
]
