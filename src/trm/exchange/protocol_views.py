"""The node-to-node protocol's HTTP endpoints (no session, no CSRF, no login).

Peers are authenticated by the signatures inside what they send, not by a
session: these views are CSRF-exempt and answer JSON only. The inbox's logic
is :func:`trm.exchange.inbox.receive`; this module reads the body (within
``TRM_EXCHANGE_MAX_BODY_BYTES``) and writes the answer.
"""

from __future__ import annotations

import json
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


def _read_body(request: HttpRequest) -> bytes | None:
    """The request body, or None when it is larger than
    ``TRM_EXCHANGE_MAX_BODY_BYTES``. Reads the stream directly:
    ``request.body`` would refuse anything over DATA_UPLOAD_MAX_MEMORY_SIZE,
    which is not the exchange's limit."""
    limit = settings.TRM_EXCHANGE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return body if len(body) <= limit else None


def _refused_method(request: HttpRequest) -> JsonResponse | None:
    """405 unless POST; 503 when this node has no exchange keys yet."""
    if request.method != "POST":
        response = _error(
            405, "method_not_allowed", _("This method is not allowed here.")
        )
        response["Allow"] = "POST"
        return response
    if not nodekeys.has_keys():
        return _json(inbox.no_keys_answer())
    return None


@csrf_exempt
def inbox_view(request: HttpRequest) -> JsonResponse:
    """``POST /exchange/v1/messages``: receive one message (a compact JWE)."""
    refused = _refused_method(request)
    if refused is not None:
        return refused
    body = _read_body(request)
    if body is None:
        return _json(_too_large(request.read(4096)))
    try:
        answer = inbox.receive(body)
    except Exception as exc:
        # The sender retries later; the error's text could hold data.
        logger.error("exchange inbox failed: %s", type(exc).__name__)
        return _json(inbox.internal_error_answer())
    return _json(answer)


def _batch_messages(body: bytes) -> list[bytes] | None:
    """The compact JWEs of a batch body ``{"messages": [str, ...]}`` (1 to
    ``TRM_EXCHANGE_BATCH_MAX`` ASCII strings), or None if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeply
        return None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not (
        1 <= len(messages) <= settings.TRM_EXCHANGE_BATCH_MAX
    ):
        return None
    if not all(isinstance(m, str) and m.isascii() for m in messages):
        return None
    return [m.encode("ascii") for m in messages]


@csrf_exempt
def batch_view(request: HttpRequest) -> JsonResponse:
    """``POST /exchange/v1/batch``: receive several messages from one request.

    Body: ``{"messages": [compact JWE, ...]}`` (at most
    ``TRM_EXCHANGE_BATCH_MAX``, within ``TRM_EXCHANGE_MAX_BODY_BYTES`` in
    all). Answer 200: ``{"results": [{"status": int, "body": {...}}, ...]}``,
    one per message in order, each the status and JSON that
    ``POST /exchange/v1/messages`` would answer for it alone. A body that is
    not such a batch: 400 ``exchange.bad_batch``; too large: 413
    ``exchange.too_large`` (the sender then sends the messages one by one).
    """
    refused = _refused_method(request)
    if refused is not None:
        return refused
    body = _read_body(request)
    if body is None:
        return _error(
            413, "exchange.too_large", _("The batch is larger than this node accepts.")
        )
    messages = _batch_messages(body)
    if messages is None:
        return _error(
            400,
            "exchange.bad_batch",
            _("The body is not a batch of messages this node accepts."),
        )
    try:
        answers = inbox.receive_batch(messages)
    except Exception as exc:
        logger.error("exchange inbox failed: %s", type(exc).__name__)
        return _json(inbox.internal_error_answer())
    return _json(
        inbox.Answer(
            200,
            {
                "results": [
                    {"status": a.status_code, "body": a.json_body} for a in answers
                ]
            },
        )
    )


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
