"""The Official Account's callback URL: the server handshake and delivery receipts.

WeChat signs every call with the token configured in its console
(`WECHAT_CALLBACK_TOKEN`). A GET with `echostr` is the handshake that proves we
hold the token; a POST carries an event as XML, of which we keep one kind,
TEMPLATESENDJOBFINISH: the final fate of a template message we sent. Every other
signed push is answered `success` and ignored, so WeChat does not send it again.
Plaintext mode only; safe mode's encrypted bodies are not handled.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from defusedxml import ElementTree
from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from config import clock

from . import services
from .wechat.signature import verify

logger = logging.getLogger(__name__)

# A receipt can overtake the transaction that records its msgid: the send runs
# inside it, and WeChat may push before we commit. A receipt whose msgid is not
# known yet is looked up again for this long before it is given up. WeChat waits
# five seconds for our answer.
RECEIPT_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Receipt:
    msgid: str
    status: str
    at: datetime


@csrf_exempt  # WeChat signs its calls; it has no session or CSRF cookie
@require_http_methods(["GET", "POST"])
def callback(request):
    token = settings.WECHAT_CALLBACK_TOKEN
    if not token:
        raise Http404

    query = request.GET
    if not verify(
        token,
        query.get("signature", ""),
        query.get("timestamp", ""),
        query.get("nonce", ""),
    ):
        logger.warning(
            "wechat callback refused: bad signature method=%s remote=%s",
            request.method,
            request.META.get("REMOTE_ADDR"),
        )
        return HttpResponse("invalid signature", status=403, content_type="text/plain")

    if request.method == "GET":
        return HttpResponse(query.get("echostr", ""), content_type="text/plain")

    receipt = read_receipt(request.body)
    if receipt is not None:
        _record_when_known(receipt)
    return HttpResponse("success", content_type="text/plain")


def read_receipt(body: bytes) -> Receipt | None:
    """The TEMPLATESENDJOBFINISH event in a push, or None for anything else."""
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError):
        logger.warning("wechat callback ignored: unreadable XML bytes=%s", len(body))
        return None

    def text(tag: str) -> str:
        return (root.findtext(tag) or "").strip()

    if text("Event").upper() != "TEMPLATESENDJOBFINISH" or not text("MsgID"):
        return None
    try:
        at = datetime.fromtimestamp(int(text("CreateTime")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        at = clock.now()
    # Kept verbatim: "success", "failed:user block", "failed: system failed", and
    # whatever else WeChat may say.
    return Receipt(msgid=text("MsgID"), status=text("Status")[:64], at=at)


def _record_when_known(receipt: Receipt) -> None:
    deadline = time.monotonic() + RECEIPT_WAIT_SECONDS
    pause, wait = threading.Event(), 0.02
    while not services.record_receipt(receipt.msgid, receipt.status, receipt.at):
        if time.monotonic() >= deadline:
            logger.warning(
                "wechat receipt for an unknown message msgid=%s status=%s",
                receipt.msgid,
                receipt.status,
            )
            return
        pause.wait(wait)
        wait = min(wait * 2, 0.2)
