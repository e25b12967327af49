"""URL routes of the exchange (protocol_urls)."""

from django.urls import URLPattern

app_name = "exchange_protocol"
urlpatterns: list[URLPattern] = []
