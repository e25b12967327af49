"""URL routes of the node-to-node protocol (mounted at the site root)."""

from django.urls import path

from trm.exchange import protocol_views

app_name = "exchange_protocol"
urlpatterns = [
    path("exchange/v1/messages", protocol_views.inbox_view, name="inbox"),
    path("exchange/v1/batch", protocol_views.batch_view, name="batch"),
    path(".well-known/trm-node.json", protocol_views.well_known, name="well_known"),
]
