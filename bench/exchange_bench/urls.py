import json
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from exchange_bench.models import PlainMessage


@csrf_exempt
def plain(request: HttpRequest) -> HttpResponse:
    """Baseline endpoint: parse, validate with the same schema, insert."""
    from trm.exchange import registry

    document = json.loads(request.body)
    mtype = registry.message_type("referral.request")
    assert mtype is not None
    try:
        payload = mtype.schema.model_validate(document["payload"])
    except ValidationError:
        return JsonResponse({"error": "schema_invalid"}, status=422)
    PlainMessage.objects.create(
        msg_id=uuid.UUID(document["msg_id"]), body=payload.model_dump(mode="json")
    )
    return JsonResponse({"ok": True}, status=202)


urlpatterns = [
    path("bench/plain", plain),
    path("", include("trm.urls")),
]
