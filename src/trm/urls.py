"""URL routes of a TRM node."""

from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog

from trm.api import api, not_found
from trm.common import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("trm.accounts.urls")),
    path("audit/", include("trm.audit.urls")),
    path("cases/", include("trm.cases.urls")),
    path("cases/<uuid:case_id>/screening/", include("trm.screening.urls")),
    path(
        "cases/<uuid:case_id>/identification/",
        include("trm.identification.urls"),
    ),
    # Identity checks asked by counterpart nodes (SOP 1, exchange message M2).
    path("identity-checks/", include("trm.identification.node_urls")),
    path("cases/<uuid:case_id>/assistance/", include("trm.assistance.urls")),
    path("cases/<uuid:case_id>/assessments/", include("trm.assessments.urls")),
    path("cases/<uuid:case_id>/care/", include("trm.care.urls")),
    path("cases/<uuid:case_id>/return/", include("trm.returns.urls")),
    path("cases/<uuid:case_id>/handover/", include("trm.handover.urls")),
    path(
        "cases/<uuid:case_id>/reintegration/",
        include("trm.reintegration.urls"),
    ),
    path("cases/<uuid:case_id>/proceedings/", include("trm.proceedings.urls")),
    path("referrals/", include("trm.referrals.urls")),
    # "My tasks" at tasks/ and a case's SOP panel at cases/<id>/sop/.
    path("", include("trm.sop.urls")),
    path("consent/", include("trm.consent.urls")),
    path("data-protection/", include("trm.dataprotection.urls")),
    path("directory/", include("trm.directory.urls")),
    path("guidance/", include("trm.guidance.urls")),
    # The node administrator's exact figures (quality control, audited).
    path("statistics/qc/", include("trm.statistics.qc_urls")),
    # Regional statistics over the exchange (stats.aggregate.*).
    path("statistics/regional/", include("trm.statistics.regional_urls")),
    # The dashboard (disclosure-controlled figures only) and the HTCDS export.
    path("statistics/", include("trm.statistics.urls")),
    # Node-to-node protocol (no session, no CSRF: authenticated by signatures).
    path("", include("trm.exchange.protocol_urls")),
    # The operator's view of peers and messages.
    path("exchange/", include("trm.exchange.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("i18n/catalog.js", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", api.urls),
    # After the API's own routes: any other /api/ path gets a JSON 404.
    re_path(r"^api/(?P<path>.*)$", not_found),
]
