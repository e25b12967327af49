"""Pages of the exchange: peers (node administrators) and the operator view.

Node administrators and national contact points see the peers, their message
counts and each message's routing fields (:mod:`trm.exchange.operations`),
and may send a dead or rejected message again. Only node administrators add,
refresh, disable, enable and remove peers (:mod:`trm.exchange.peers`). A
message's payload is shown only to a member of its case team (audited).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trm.accounts.models import User
from trm.accounts.permissions import require_node_administrator
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.common.pagination import CappedPaginator
from trm.exchange import nodekeys, operations, peers
from trm.exchange.errors import InvalidFilter
from trm.exchange.forms import (
    ConfirmForm,
    MessageFilterForm,
    PeerAddForm,
    PeerRefreshForm,
)
from trm.exchange.models import KeyUse, PeerStatus

PER_PAGE = 25


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _this_node() -> dict[str, Any]:
    """This node's identity as an administrator reads it out to a peer."""
    try:
        fingerprint: str | None = nodekeys.fingerprint()
        encryption: str | None = nodekeys.current(KeyUse.ENCRYPTION).kid
    except nodekeys.NoNodeKeys:
        fingerprint = encryption = None
    return {
        "node_id": settings.TRM_NODE_ID,
        "name": settings.TRM_NODE_NAME,
        "country": settings.TRM_COUNTRY,
        "fingerprint": fingerprint,
        "encryption_kid": encryption,
    }


@login_required
@never_cache
@require_GET
def peer_list_view(request: HttpRequest) -> HttpResponse:
    """List the peers with their message counts, and this node's fingerprint."""
    user = _user(request)
    rows = operations.peer_overview(user=user)
    return render(
        request,
        "exchange/peers.html",
        {
            "rows": rows,
            "this_node": _this_node(),
            "may_manage": operations.may_manage_peers(user),
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def peer_add_view(request: HttpRequest) -> HttpResponse:
    """Add a peer after its fingerprint was checked out of band."""
    user = _user(request)
    require_node_administrator(user)
    posted = request.method == "POST"
    form = PeerAddForm(request.POST if posted else None)
    if posted and form.is_valid():
        try:
            change = peers.peer_add(
                url=form.cleaned_data["url"],
                fingerprint=form.cleaned_data["fingerprint"],
                actor=user,
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _(
                    "The node %(node)s (%(name)s, country %(country)s) is now a "
                    "peer; %(n)s of its organisations were added to this node's "
                    "list. Check that this is the node and the country you agreed "
                    "with its administrator."
                )
                % {
                    "node": change.peer.node_id,
                    "name": change.peer.name or "-",
                    "country": change.peer.country,
                    "n": change.organisations.created,
                },
            )
            return HttpResponseRedirect(
                reverse("exchange:peer_detail", args=[change.peer.node_id])
            )
    return render(
        request,
        "exchange/peer_add.html",
        {"form": form, "this_node": _this_node()},
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_GET
def peer_detail_view(request: HttpRequest, node_id: str) -> HttpResponse:
    """Show a peer: identity, keys, counts, its organisations, and actions."""
    user = _user(request)
    row = operations.peer_get(user=user, node_id=node_id)
    keys = sorted(
        row.peer.keys,
        key=lambda k: (bool(k.get("retired_at")), str(k.get("use")), str(k.get("kid"))),
    )
    return render(
        request,
        "exchange/peer_detail.html",
        {
            "row": row,
            "peer": row.peer,
            "keys": keys,
            "organisations": operations.peer_organisations(user=user, node_id=node_id)[
                :200
            ],
            "may_manage": operations.may_manage_peers(user),
            "active": row.peer.status == PeerStatus.ACTIVE,
        },
    )


#: (title, body, confirm label, danger, done message) per peer action.
_ACTIONS: dict[str, tuple[Promise, Promise, Promise, bool, Promise]] = {
    "disable": (
        gettext_lazy("Disable the peer %(node)s?"),
        gettext_lazy(
            "Nothing is sent to it or accepted from it until it is enabled again. "
            "Messages waiting for it stay in the outbox."
        ),
        gettext_lazy("Disable the peer"),
        True,
        gettext_lazy("The peer %(node)s is disabled."),
    ),
    "enable": (
        gettext_lazy("Enable the peer %(node)s?"),
        gettext_lazy(
            "Messages waiting for it are sent again, and its messages are accepted."
        ),
        gettext_lazy("Enable the peer"),
        False,
        gettext_lazy("The peer %(node)s is enabled."),
    ),
    "refresh": (
        gettext_lazy("Refresh the keys and organisations of %(node)s?"),
        gettext_lazy(
            "This node fetches the peer's published document again. New keys are "
            "accepted only if a key this node already trusts signed them."
        ),
        gettext_lazy("Refresh"),
        False,
        gettext_lazy("The peer %(node)s is refreshed."),
    ),
    "remove": (
        gettext_lazy("Remove the peer %(node)s?"),
        gettext_lazy(
            "Only a peer that never exchanged a message can be removed; its "
            "organisations are deactivated here. To stop exchanging with a peer "
            "that did, disable it."
        ),
        gettext_lazy("Remove the peer"),
        True,
        gettext_lazy("The peer %(node)s is removed."),
    ),
}


def _peer_action(request: HttpRequest, node_id: str, action: str) -> HttpResponse:
    """Confirm (GET) and take (POST) one action on a peer."""
    user = _user(request)
    require_node_administrator(user)
    row = operations.peer_get(user=user, node_id=node_id)
    title, body, label, danger, done_lazy = _ACTIONS[action]
    done = str(done_lazy)
    posted = request.method == "POST"
    status = 200
    form_class = PeerRefreshForm if action == "refresh" else ConfirmForm
    form = form_class(request.POST if posted else None)
    back = reverse("exchange:peer_detail", args=[node_id])
    if posted and form.is_valid():
        try:
            if action == "disable":
                peers.peer_disable(node_id=node_id, actor=user)
            elif action == "enable":
                peers.peer_enable(node_id=node_id, actor=user)
            elif action == "remove":
                peers.peer_remove(node_id=node_id, actor=user)
            else:
                change = peers.peer_refresh(
                    node_id=node_id,
                    actor=user,
                    fingerprint=form.cleaned_data.get("fingerprint") or None,
                    country=form.cleaned_data.get("country") or None,
                )
                if change.new_keys:
                    done = _(
                        "The peer %(node)s is refreshed: it has new keys, now trusted."
                    )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
            status = exc.status
        else:
            messages.success(request, done % {"node": node_id})
            if action == "remove":
                return HttpResponseRedirect(reverse("exchange:peers"))
            return HttpResponseRedirect(back)
    return render(
        request,
        "exchange/confirm.html",
        {
            "title": str(title) % {"node": row.peer.node_id},
            "body": body,
            "form": form,
            "confirm_label": label,
            "danger": danger,
            "cancel_href": back,
        },
        status=status if status != 200 or not posted else 400,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def peer_disable_view(request: HttpRequest, node_id: str) -> HttpResponse:
    """Disable a peer (with a confirmation step)."""
    return _peer_action(request, node_id, "disable")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def peer_enable_view(request: HttpRequest, node_id: str) -> HttpResponse:
    """Enable a disabled peer (with a confirmation step)."""
    return _peer_action(request, node_id, "enable")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def peer_refresh_view(request: HttpRequest, node_id: str) -> HttpResponse:
    """Refresh a peer's keys and organisations (with a confirmation step)."""
    return _peer_action(request, node_id, "refresh")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def peer_remove_view(request: HttpRequest, node_id: str) -> HttpResponse:
    """Remove a peer that never exchanged a message (with a confirmation step)."""
    return _peer_action(request, node_id, "remove")


@login_required
@never_cache
@require_GET
def message_list_view(request: HttpRequest, node_id: str) -> HttpResponse:
    """List a peer's messages by direction and status, newest first."""
    user = _user(request)
    row = operations.peer_get(user=user, node_id=node_id)
    form = MessageFilterForm(request.GET or None)
    direction, status = form.filters()
    problem = ""
    try:
        rows = operations.message_list(
            user=user, node_id=node_id, direction=direction, status=status
        )
    except InvalidFilter as exc:
        problem = exc.message
        rows = operations.message_list(user=user, node_id=node_id, direction=direction)
        status = ""
    page = CappedPaginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "exchange/messages.html",
        {
            "row": row,
            "peer": row.peer,
            "form": form,
            "direction": direction,
            "status": status,
            "problem": problem,
            "page": page,
            "messages_shown": [
                operations.message_row(m, node_id) for m in page.object_list
            ],
            "statuses": operations.statuses(direction),
        },
        status=400 if problem else 200,
    )


@login_required
@never_cache
@require_GET
def message_detail_view(
    request: HttpRequest, node_id: str, direction: str, msg_id: UUID
) -> HttpResponse:
    """Show one message's routing fields, digests, receipt (payload: case team)."""
    user = _user(request)
    operations.require_operator(user)
    if direction not in operations.DIRECTIONS:
        raise Http404
    message = operations.message_get(
        user=user, msg_id=msg_id, direction=direction, node_id=node_id
    )
    return render(
        request,
        "exchange/message_detail.html",
        {
            "message": message,
            "node_id": node_id,
            "payload_items": [
                (name, json.dumps(value, ensure_ascii=False, sort_keys=True))
                for name, value in sorted((message.payload or {}).items())
            ],
        },
    )


@login_required
@never_cache
@require_POST
def message_retry_view(
    request: HttpRequest, node_id: str, msg_id: UUID
) -> HttpResponse:
    """Send a dead, rejected or retrying message again."""
    user = _user(request)
    back = reverse("exchange:message_detail", args=[node_id, "out", msg_id])
    try:
        operations.message_retry(actor=user, msg_id=msg_id, node_id=node_id)
    except DomainError as exc:
        if isinstance(exc, NotFound | PermissionDenied):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("The message is queued again; the worker sends it at its next run."),
        )
    return HttpResponseRedirect(back)
