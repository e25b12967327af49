"""API endpoints for the signed-in user, organisations and users."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from pydantic import Field

from trm.accounts import selectors, services
from trm.accounts.models import Organisation, User
from trm.common.api import PageNumberPagination

router = Router(tags=["accounts"])


def _actor(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)  # noqa: S101 - set by the API's auth classes
    return user


class MeOut(Schema):
    username: str
    organisation: str | None
    country: str | None
    roles: list[str]
    two_factor_verified: bool


class OrganisationOut(Schema):
    id: UUID
    name: str
    country: str
    org_type: str
    functions: list[str]
    is_active: bool

    @staticmethod
    def resolve_country(obj: Organisation) -> str:
        return str(obj.country.code)


class OrganisationIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    org_type: str = Field(description="HTCDS org_Type code")
    functions: list[str] = Field(default_factory=list)


class UserOut(Schema):
    id: int
    username: str
    organisation_id: UUID | None
    roles: list[str]
    is_active: bool

    @staticmethod
    def resolve_roles(obj: User) -> list[str]:
        return sorted(m.role for m in obj.memberships.all())


@router.get("/me", response=MeOut, summary="Who am I")
def me(request: HttpRequest) -> MeOut:
    user = _actor(request)
    org = user.organisation
    return MeOut(
        username=user.username,
        organisation=org.name if org else None,
        country=org.country.code if org else None,
        roles=sorted(user.role_codes()),
        two_factor_verified=bool(getattr(user, "is_verified", lambda: False)()),
    )


@router.get("/organisations", response=list[OrganisationOut])
@paginate(PageNumberPagination, page_size=50)
def organisation_list(request: HttpRequest, q: str = "") -> object:
    return selectors.organisation_list(actor=_actor(request), query=q)


@router.post("/organisations", response={201: OrganisationOut})
def organisation_create(
    request: HttpRequest, payload: OrganisationIn
) -> Status[Organisation]:
    org = services.organisation_create(
        actor=_actor(request),
        name=payload.name,
        country=payload.country,
        org_type=payload.org_type,
        functions=payload.functions,
    )
    return Status(201, org)


@router.get("/users", response=list[UserOut])
@paginate(PageNumberPagination, page_size=50)
def user_list(request: HttpRequest, q: str = "") -> object:
    return selectors.user_list_for_admin(actor=_actor(request), query=q)
