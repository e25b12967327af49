"""``trm peers``: the nodes this node exchanges with.

``add URL --fingerprint F`` trusts a node after its fingerprint was checked
out of band (never on first use); ``list``, ``show NODE``; ``refresh NODE
[--fingerprint F] [--country C]`` takes a peer's new keys and organisations
(a new country only when confirmed with ``--country``); ``disable``,
``enable``; ``remove`` (only a peer that never exchanged a message).

Exit status: 0 done, 1 refused (the message says why; nothing changed).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common.errors import DomainError
from trm.exchange import peers
from trm.exchange.models import Peer


def _counts(change: peers.PeerChange) -> str:
    o = change.organisations
    return (
        f"organisations: {o.created} new, {o.updated} changed, "
        f"{o.deactivated} deactivated, {o.skipped} skipped"
    )


def bind_fingerprint(argv: list[str]) -> list[str]:
    """Return ``argv`` with ``--fingerprint F`` written ``--fingerprint=F``.

    A fingerprint is base64url and may begin with "-", which argparse would
    take for an option (random keys give one about once in 64).
    """
    bound: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--fingerprint":
            value = next(args, None)
            bound.append(arg if value is None else f"--fingerprint={value}")
        else:
            bound.append(arg)
    return bound


class Command(BaseCommand):
    help = (
        "Manage the peer nodes: add URL --fingerprint F | list | show NODE | "
        "refresh NODE [--fingerprint F] [--country C] | disable NODE | "
        "enable NODE | remove NODE."
    )
    requires_system_checks: list[str] = []

    def run_from_argv(self, argv: list[str]) -> None:
        super().run_from_argv(bind_fingerprint(argv))

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser(
            "add",
            help="Trust the node at URL once its fingerprint is checked out of band.",
        )
        add.add_argument("url", help="The peer's base address, e.g. https://trm.md")
        add.add_argument(
            "--fingerprint",
            required=True,
            help="The peer's fingerprint, read to you by its administrator "
            "(`trm keys show` on their node).",
        )
        sub.add_parser("list", help="List the peers.")
        show = sub.add_parser("show", help="Show one peer and its keys.")
        show.add_argument("node")
        refresh = sub.add_parser(
            "refresh", help="Fetch the peer's keys and organisations again."
        )
        refresh.add_argument("node")
        refresh.add_argument(
            "--fingerprint",
            help="The peer's new fingerprint, checked out of band (needed only "
            "when its document is not signed by a key this node trusts).",
        )
        refresh.add_argument(
            "--country",
            help="The peer's new country (ISO code), checked out of band: needed "
            "only when its document declares another country than before.",
        )
        for name, text in (
            ("disable", "Stop sending to and accepting from the peer."),
            ("enable", "Exchange with the peer again."),
            ("remove", "Forget a peer that never exchanged a message."),
        ):
            sub.add_parser(name, help=text).add_argument("node")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except DomainError as exc:
            raise CommandError(exc.message) from None

    def _add(self, options: dict[str, Any]) -> None:
        change = peers.peer_add(url=options["url"], fingerprint=options["fingerprint"])
        peer = change.peer
        self.stdout.write(
            f"Added peer {peer.node_id} ({peer.name or '-'}, {peer.country}) at "
            f"{peer.base_url}, fingerprint {peer.fingerprint}; {_counts(change)}."
        )

    def _list(self, options: dict[str, Any]) -> None:
        rows = list(Peer.objects.order_by("node_id"))
        if not rows:
            self.stdout.write(
                "No peers yet. Add one with `trm peers add URL --fingerprint F`."
            )
            return
        for peer in rows:
            self.stdout.write(
                f"{peer.node_id}\t{peer.status}\t{peer.country}\t{peer.base_url}\t"
                f"{peer.fingerprint}"
            )

    def _peer(self, node_id: str) -> Peer:
        peer = Peer.objects.filter(node_id=node_id).first()
        if peer is None:
            raise CommandError(f"No peer {node_id}. `trm peers list` lists them.")
        return peer

    def _show(self, options: dict[str, Any]) -> None:
        from trm.accounts.models import Organisation

        peer = self._peer(options["node"])
        mirrored = Organisation.objects.filter(home_node=peer.node_id)
        lines = [
            f"node id: {peer.node_id}",
            f"name: {peer.name or '-'}",
            f"country: {peer.country}",
            f"address: {peer.base_url}",
            f"status: {peer.status}",
            f"fingerprint: {peer.fingerprint}",
            f"added: {peer.added_at.isoformat()}",
            "keys:",
        ]
        for key in peer.keys:
            retired = key.get("retired_at")
            lines.append(
                f"  {key.get('use')} {key.get('kid')}"
                + (f" retired {retired}" if retired else " current")
            )
        lines.append(
            f"organisations: {mirrored.filter(is_active=True).count()} active, "
            f"{mirrored.filter(is_active=False).count()} inactive"
        )
        self.stdout.write("\n".join(lines))

    def _refresh(self, options: dict[str, Any]) -> None:
        change = peers.peer_refresh(
            node_id=options["node"],
            fingerprint=options.get("fingerprint"),
            country=options.get("country"),
        )
        peer = change.peer
        keys = (
            f"new keys: {', '.join(change.new_keys)}"
            if change.new_keys
            else "keys unchanged"
        )
        if change.retired_keys:
            keys += f"; retired: {', '.join(change.retired_keys)}"
        self.stdout.write(
            f"Refreshed peer {peer.node_id} ({peer.name or '-'}, {peer.country}): "
            f"fingerprint {peer.fingerprint}; {keys}; {_counts(change)}."
        )

    def _disable(self, options: dict[str, Any]) -> None:
        before = self._peer(options["node"]).status
        peer = peers.peer_disable(node_id=options["node"])
        if before == peer.status:
            self.stdout.write(f"Peer {peer.node_id} was already disabled.")
        else:
            self.stdout.write(
                f"Disabled peer {peer.node_id}: nothing is sent to or accepted "
                "from it; its waiting messages stay in the outbox."
            )

    def _enable(self, options: dict[str, Any]) -> None:
        before = self._peer(options["node"]).status
        peer = peers.peer_enable(node_id=options["node"])
        if before == peer.status:
            self.stdout.write(f"Peer {peer.node_id} was already enabled.")
        else:
            self.stdout.write(f"Enabled peer {peer.node_id}.")

    def _remove(self, options: dict[str, Any]) -> None:
        node = peers.peer_remove(node_id=options["node"])
        self.stdout.write(
            f"Removed peer {node}; its organisations are deactivated on this node."
        )
