"""Pages of the exchange (``/exchange/``): peers and the operator view."""

from django.urls import path

from trm.exchange import views

app_name = "exchange"
urlpatterns = [
    path("", views.peer_list_view, name="peers"),
    path("add/", views.peer_add_view, name="peer_add"),
    path("peers/<slug:node_id>/", views.peer_detail_view, name="peer_detail"),
    path("peers/<slug:node_id>/disable/", views.peer_disable_view, name="peer_disable"),
    path("peers/<slug:node_id>/enable/", views.peer_enable_view, name="peer_enable"),
    path("peers/<slug:node_id>/refresh/", views.peer_refresh_view, name="peer_refresh"),
    path("peers/<slug:node_id>/remove/", views.peer_remove_view, name="peer_remove"),
    path("peers/<slug:node_id>/messages/", views.message_list_view, name="messages"),
    path(
        "peers/<slug:node_id>/messages/<slug:direction>/<uuid:msg_id>/",
        views.message_detail_view,
        name="message_detail",
    ),
    path(
        "peers/<slug:node_id>/messages/out/<uuid:msg_id>/retry/",
        views.message_retry_view,
        name="message_retry",
    ),
]
