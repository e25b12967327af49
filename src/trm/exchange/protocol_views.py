"""The node-to-node protocol's HTTP endpoints (no session, no CSRF, no login).

Peers are authenticated by the signatures inside what they send, not by a
session: these views are CSRF-exempt and answer JSON only. The inbox's logic
is :func:`trm.exchange.inbox.receive`; this module reads the body (within
``TRM_EXCHANGE_MAX_BODY_BYTES``) and writes the answer.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from trm.exchange import envelope, inbox, nodekeys

logger = logging.getLogger(__name__)


def _json(answer: inbox.Answer) -> JsonResponse:
    response = JsonResponse(answer.json_body, status=answer.status_code)
    patch_cache_control(response, no_store=True)
    return response


def _error(status: int, code: str, message: str) -> JsonResponse:
    return _json(
        inbox.Answer(
            status, {"error": {"code": code, "message": message, "details": {}}}
        )
    )


def _too_large(prefix: bytes) -> inbox.Answer:
    """413 with a signed rejection naming the message if its header was read."""
    try:
        header = envelope.routing(prefix)
    except envelope.EnvelopeError:
        header = {}
    return inbox.rejection(
        "too_large",
        msg_id=str(header.get("msg_id", ""))[:64],
        sender=str(header.get("from", ""))[:64],
    )


@csrf_exempt
def inbox_view(request: HttpRequest) -> JsonResponse:
    """``POST /exchange/v1/messages``: receive one message (a compact JWE)."""
    if request.method != "POST":
        response = _error(
            405, "method_not_allowed", _("This method is not allowed here.")
        )
        response["Allow"] = "POST"
        return response
    if not nodekeys.has_keys():
        return _json(inbox.no_keys_answer())
    limit = settings.TRM_EXCHANGE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # Read the stream directly: request.body would refuse anything over
    # DATA_UPLOAD_MAX_MEMORY_SIZE, which is not the exchange's limit.
    if declared > limit:
        return _json(_too_large(request.read(4096)))
    body = request.read(limit + 1)
    if len(body) > limit:
        return _json(_too_large(body[:4096]))
    try:
        answer = inbox.receive(body)
    except Exception as exc:
        # The sender retries later; the error's text could hold data.
        logger.error("exchange inbox failed: %s", type(exc).__name__)
        return _error(
            500, "exchange.internal", _("The message could not be processed.")
        )
    return _json(answer)


def well_known(request: HttpRequest) -> JsonResponse:
    """``GET /.well-known/trm-node.json``: this node's public keys, signed."""
    if request.method not in {"GET", "HEAD"}:
        response = _error(
            405, "method_not_allowed", _("This method is not allowed here.")
        )
        response["Allow"] = "GET, HEAD"
        return response
    try:
        document = nodekeys.published()
    except nodekeys.NoNodeKeys:
        return _json(inbox.no_keys_answer())
    response = JsonResponse(document)
    patch_cache_control(response, max_age=60, public=True)
    return response
