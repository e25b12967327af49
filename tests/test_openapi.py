"""The OpenAPI description documents each operation with its own schemas.

django-ninja names a component after the schema class (``__name__``); two
classes of the same name in different apps overwrite each other, and the
documentation then shows one app's body for the other's operation. So every
``ninja.Schema`` of ``trm`` has a unique name, and the components in the
description have the fields of the class they are named after.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, get_type_hints

import ninja
import pydantic
import pytest
from django.test import Client

import trm

CASE_CLOSE = "/api/v1/cases/{case_id}/close"
SUPPORT_PLAN = "/api/v1/cases/{case_id}/assessments/plan"


def _import_all() -> None:
    """Import every module of ``trm`` (not tests or migrations) so that every
    schema class is defined."""
    for module in pkgutil.walk_packages(trm.__path__, "trm."):
        if ".tests" in module.name or ".migrations" in module.name:
            continue
        importlib.import_module(module.name)


def _subclasses(base: type) -> Iterator[type]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def _trm_classes(base: type) -> dict[str, set[type]]:
    """Return the subclasses of ``base`` defined in ``trm`` modules, by name."""
    _import_all()
    by_name: dict[str, set[type]] = defaultdict(set)
    for cls in _subclasses(base):
        if cls.__module__.startswith("trm."):
            by_name[cls.__name__].add(cls)
    return by_name


def _openapi() -> dict[str, Any]:
    from trm.api import api

    schema: dict[str, Any] = api.get_openapi_schema()
    return schema


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def _body(document: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    operation = document["paths"][path][method]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(document, schema)


def _properties(cls: type[pydantic.BaseModel]) -> set[str]:
    return set(cls.model_json_schema(by_alias=True).get("properties", {}))


def _payload(view: Callable[..., Any]) -> type[pydantic.BaseModel]:
    """Return the body schema an API operation takes (its ``payload``)."""
    model: type[pydantic.BaseModel] = get_type_hints(view)["payload"]
    return model


def test_every_schema_class_name_is_unique() -> None:
    duplicates = {
        name: sorted(f"{c.__module__}.{c.__qualname__}" for c in classes)
        for name, classes in _trm_classes(ninja.Schema).items()
        if len(classes) > 1
    }
    assert not duplicates, (
        "ninja Schema names used more than once (OpenAPI components collide): "
        + "; ".join(f"{name}: {', '.join(where)}" for name, where in duplicates.items())
    )


def test_closing_a_case_is_documented_with_the_case_close_body() -> None:
    from trm.assistance import api as assistance_api
    from trm.cases import api as cases_api

    case_close = _payload(cases_api.case_close)
    assistance_close = _payload(assistance_api.assistance_close)
    assert _properties(case_close) != _properties(assistance_close)
    body = _body(_openapi(), CASE_CLOSE)
    assert set(body["properties"]) == _properties(case_close)


def test_the_support_plan_is_documented_with_its_own_body() -> None:
    from trm.assessments import api as assessments_api
    from trm.care import api as care_api

    support_plan = _payload(assessments_api.plan_save)
    care_plan = _payload(care_api.plan_save)
    document = _openapi()
    body = _body(document, SUPPORT_PLAN)
    assert set(body["properties"]) == _properties(support_plan)
    assert {"immediate_needs", "safety_plan", "plan_date"} <= set(body["properties"])
    assert set(body["properties"]) != _properties(care_plan)
    steps = _resolve(document, body["properties"]["steps"]["items"])
    assert set(steps["properties"]) == {"what", "who", "by_when"}


def test_every_component_has_the_fields_of_the_class_it_is_named_after() -> None:
    classes = _trm_classes(pydantic.BaseModel)
    components = _openapi()["components"]["schemas"]
    wrong = {
        name: sorted(set(component.get("properties", {})))
        for name, component in components.items()
        if len(classes.get(name, ())) == 1
        and set(component.get("properties", {}))
        != _properties(next(iter(classes[name])))
    }
    assert not wrong, f"components that are not their class: {wrong}"


@pytest.mark.django_db
def test_the_served_description_names_the_schemas_per_app(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    names = set(schema["components"]["schemas"])
    assert {"CaseCloseIn", "AssistanceCloseIn", "SupportPlanIn", "CarePlanIn"} <= names
    assert not {"CloseIn", "PlanIn", "PlanOut", "ReasonIn"} & names
