def handed_over_to(case, peer_node: str = "peer-ro") -> None:
    """Test set-up only: record on the destination ``case`` a journey to
    ``peer_node`` whose arrival was confirmed (what ``return.handover.arrival``
    leaves behind), so follow-up reports from that node are accepted."""
    from datetime import timedelta
    from uuid import uuid4

    from django.utils import timezone

    from trm.handover.models import HandoverStatus, ReturnHandover, Side

    now = timezone.now()
    ReturnHandover.objects.create(
        handover_ref=uuid4(),
        case=case,
        side=Side.DESTINATION,
        peer_node=peer_node,
        departure_at=now - timedelta(days=41),
        expected_arrival_at=now - timedelta(days=40),
        status=HandoverStatus.ARRIVED,
        arrival_at=now - timedelta(days=40),
        arrival_confirmed_at=now - timedelta(days=40),
        created_at=now - timedelta(days=41),
    )
