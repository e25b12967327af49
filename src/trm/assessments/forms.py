"""Forms of trm.assessments: the shape of the input only.

The rules (who may, willing participation, at least one risk factor, review
dates, rule 9 at signing) are the services'; their refusals reach the form
through :func:`apply_error`, next to the field they name. Field names are the
``details["field"]`` names the services use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Organisation
from trm.common.errors import DomainError
from trm.identification.forms import language_choices

from .common import MAX_LINE_CHARS, MAX_TEXT_CHARS
from .models import (
    DOMAINS,
    Involvement,
    NeedsKind,
    NeedStatus,
    RiskFactor,
    RiskLevel,
    RiskType,
)
from .plans import MAX_STEPS, PlanContent, PlanInput, PlanStep

NO_AUTOFILL = {"autocomplete": "off"}
YES_NO = [("yes", _("Yes")), ("no", _("No"))]
#: Organisations offered in the plan's lists (active ones, by name).
MAX_ORGANISATION_CHOICES = 1000


def _text(
    label: Any, *, help_text: Any = "", rows: int = 3, max_length: int = MAX_TEXT_CHARS
) -> forms.CharField:
    # Required-ness is the service's rule, so its message lands on the field.
    return forms.CharField(
        label=label,
        required=False,
        max_length=max_length,
        help_text=help_text,
        strip=False,
        widget=forms.Textarea(attrs={**NO_AUTOFILL, "rows": rows}),
    )


def _line(label: Any, *, help_text: Any = "", max_length: int = MAX_LINE_CHARS) -> Any:
    return forms.CharField(
        label=label,
        required=False,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


def _date(label: Any, *, help_text: Any = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _set_choices(form: forms.Form, name: str, choices: list[tuple[str, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)  # noqa: S101
    field.choices = choices


def apply_error(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal next to the field(s) it names.

    ``details["missing"]`` (need domains, plan fields) puts the message on each
    missing field; otherwise ``details["field"]`` or, failing that, the form.
    """
    missing = error.details.get("missing")
    if isinstance(missing, list) and missing:
        if isinstance(form, PlanForm):
            form.add_missing(missing)
            return
        marked = False
        for code in missing:
            name = f"status_{code}"
            if name in form.fields:
                form.add_error(name, error.message)
                marked = True
        if marked:
            return
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, error.message)


# --- needs ---------------------------------------------------------------------------


class NeedsForm(forms.Form):
    """An immediate or long-term needs assessment (one status per domain)."""

    willing_participation = forms.ChoiceField(
        label=_("Does the person take part willingly?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
        help_text=_("Without their willing participation there is no interview."),
    )
    in_private = forms.ChoiceField(
        label=_("Is the interview held in private?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
    )
    language = forms.ChoiceField(
        label=_("Language of the interview"),
        choices=[],
        required=False,
        help_text=_("The person's own languages are listed first."),
    )
    interpreter = forms.BooleanField(
        label=_("An interpreter or cultural mediator helped"), required=False
    )

    def __init__(
        self,
        *args: Any,
        kind: str = NeedsKind.IMMEDIATE,
        languages: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        _set_choices(self, "language", language_choices(languages))
        status_choices = [("", "—"), *NeedStatus.choices]
        for domain, label in DOMAINS[kind].items():
            self.fields[f"status_{domain}"] = forms.ChoiceField(
                label=_("%(need)s: how does it stand?") % {"need": label},
                choices=status_choices,
                required=False,
            )
            self.fields[f"note_{domain}"] = _text(
                _("%(need)s: note (optional)") % {"need": label}, rows=2
            )

    def domain_rows(self) -> list[tuple[Any, forms.BoundField, forms.BoundField]]:
        """Return ``(label, status field, note field)`` per domain, in order."""
        return [
            (label, self[f"status_{domain}"], self[f"note_{domain}"])
            for domain, label in DOMAINS[self.kind].items()
        ]

    def general_fields(self) -> list[forms.BoundField]:
        return [
            self[name]
            for name in (
                "willing_participation",
                "in_private",
                "language",
                "interpreter",
            )
        ]

    def statuses(self) -> dict[str, str]:
        return {
            domain: self.cleaned_data[f"status_{domain}"]
            for domain in DOMAINS[self.kind]
            if self.cleaned_data.get(f"status_{domain}")
        }

    def notes(self) -> dict[str, str]:
        return {
            domain: self.cleaned_data[f"note_{domain}"]
            for domain in DOMAINS[self.kind]
            if self.cleaned_data.get(f"note_{domain}")
        }


# --- risk ----------------------------------------------------------------------------


class RiskForm(forms.Form):
    """A risk assessment or review (BG 1.2)."""

    risk_type = forms.ChoiceField(
        label=_("What kind of risk assessment?"),
        choices=[],
        widget=forms.RadioSelect,
    )
    involvement = forms.ChoiceField(
        label=_("Did the person take part?"),
        choices=Involvement.choices,
        widget=forms.RadioSelect,
        help_text=_(
            "Involve the person. If they cannot talk, the assessment rests only on "
            "what others observe: say so."
        ),
    )
    factors = forms.MultipleChoiceField(
        label=_("Risk factors found"),
        choices=RiskFactor.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Urgent medical need and threats of violence or re-trafficking first."
        ),
    )
    no_risk_factor = forms.BooleanField(
        label=_("I found no risk factor"), required=False
    )
    level = forms.ChoiceField(
        label=_("Risk level"),
        choices=RiskLevel.choices,
        widget=forms.RadioSelect,
    )
    person_concerns = _text(
        _("The person's own worries (optional)"),
        help_text=_("In their words, as far as they want to share them."),
    )
    judgement = _text(
        _("Your judgement"),
        help_text=_("What you saw and conclude, and why this level."),
        rows=4,
    )
    safety_measures = _text(
        _("Safety measures agreed"),
        help_text=_(
            "Clear and realistic, accepted freely by the person. Required for a "
            "high or critical level."
        ),
        rows=4,
    )
    next_review_due = _date(
        _("Review again by"),
        help_text=_("At most 90 days ahead. Every new contact makes a review due."),
    )

    def __init__(self, *args: Any, child: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(
            self,
            "risk_type",
            [
                (value, label)
                for value, label in RiskType.choices
                if child or value != RiskType.CHILD_FAMILY
            ],
        )


# --- the support and safety plan ------------------------------------------------------


def organisation_choices(keep: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Return the node's active organisations for a select, by name, plus the
    organisations ``keep`` (ids already chosen, even if deactivated since)."""
    active = list(
        Organisation.objects.filter(is_active=True)
        .order_by("name")
        .values_list("pk", "name")[:MAX_ORGANISATION_CHOICES]
    )
    known = {str(pk) for pk, _name in active}
    extra_ids = [k for k in keep if k and k not in known and _uuid(k)]
    extra = list(
        Organisation.objects.filter(pk__in=extra_ids).values_list("pk", "name")
    )
    return sorted(
        ((str(pk), name) for pk, name in [*active, *extra]),
        key=lambda pair: pair[1].casefold(),
    )


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except (TypeError, ValueError):
        return None


class PlanForm(forms.Form):
    """The support and safety plan (SOPS §2 SOP 1 "Documents" [BG])."""

    language = forms.ChoiceField(
        label=_("Language the plan is printed in"),
        choices=[],
        required=False,
        help_text=_("The person's own languages are listed first."),
    )
    immediate_needs = _text(_("Immediate needs"), rows=4)
    risk_summary = _text(
        _("Risk assessment"),
        help_text=_("The risks found and how high they are."),
        rows=4,
    )
    step_rows = forms.IntegerField(
        min_value=1, max_value=MAX_STEPS, widget=forms.HiddenInput
    )
    organisations = forms.MultipleChoiceField(
        label=_("Organisations of this node contacted or referred to"),
        choices=[],
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("Hold Ctrl (or ⌘) to choose several."),
    )
    other_organisations = _text(
        _("Other organisations contacted or referred to"),
        help_text=_("One per line."),
        rows=3,
    )
    safety_plan = _text(_("Safety plan"), rows=5)
    timeframe = _line(_("Timeframe"), help_text=_("For example: the next 3 months."))
    person_name = _line(_("Name of the person"))
    person_acknowledged = forms.BooleanField(
        label=_("The person read the plan (or had it read to them) and signed it"),
        required=False,
    )
    interviewer_name = _line(_("Name of the interviewer"))
    interviewer_acknowledged = forms.BooleanField(
        label=_("The interviewer signed the plan"), required=False
    )
    interviewer_organisation = forms.ChoiceField(
        label=_("Organisation of the interviewer"), choices=[], required=False
    )
    guardian_name = _line(_("Name of the guardian"))
    guardian_acknowledged = forms.BooleanField(
        label=_("The guardian took part and signed the plan"), required=False
    )
    plan_date = _date(_("Date"))
    place = _line(_("Place"))

    def __init__(
        self,
        *args: Any,
        rows: int = 3,
        child: bool = False,
        languages: Iterable[str] = (),
        interviewer_organisations: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """``interviewer_organisations``: the ids offered as the interviewer's
        organisation (:func:`plans.interviewer_organisation_ids`; the saved
        one is kept); ``None`` offers every organisation."""
        super().__init__(*args, **kwargs)
        if self.is_bound:
            try:
                rows = int(self.data.get("step_rows", rows))
            except (TypeError, ValueError):
                rows = 1
        self.rows = max(1, min(rows, MAX_STEPS))
        self.child = child
        if not child:
            del self.fields["guardian_name"]
            del self.fields["guardian_acknowledged"]
        _set_choices(self, "language", language_choices(languages))
        interviewer = str(self.initial.get("interviewer_organisation") or "")
        chosen = [*self.initial.get("organisations", []), interviewer]
        organisations = organisation_choices(chosen)
        _set_choices(self, "organisations", organisations)
        self.interviewer_organisations = (
            None
            if interviewer_organisations is None
            else set(interviewer_organisations)
        )
        offered = organisations
        if self.interviewer_organisations is not None:
            keep = self.interviewer_organisations | {interviewer}
            offered = [(pk, name) for pk, name in organisations if pk in keep]
        _set_choices(self, "interviewer_organisation", [("", "—"), *offered])
        self.fields["step_rows"].initial = self.rows
        for i in range(self.rows):
            number = i + 1
            self.fields[f"step_{i}_what"] = _line(
                _("Step %(n)d: what") % {"n": number}, max_length=500
            )
            self.fields[f"step_{i}_who"] = _line(_("Step %(n)d: who") % {"n": number})
            self.fields[f"step_{i}_by"] = _date(
                _("Step %(n)d: by when") % {"n": number}
            )

    # --- layout ---

    def step_fields(self) -> list[tuple[int, list[forms.BoundField]]]:
        return [
            (
                i + 1,
                [self[f"step_{i}_what"], self[f"step_{i}_who"], self[f"step_{i}_by"]],
            )
            for i in range(self.rows)
        ]

    def group(self, *names: str) -> list[forms.BoundField]:
        """Return the bound fields ``names`` that this form has."""
        return [self[name] for name in names if name in self.fields]

    def sections(self) -> dict[str, list[forms.BoundField]]:
        """Return the fields other than the steps, in the plan's sections."""
        return {
            "needs": self.group("language", "immediate_needs", "risk_summary"),
            "safety": self.group(
                "organisations", "other_organisations", "safety_plan", "timeframe"
            ),
            "signatures": self.group(
                "person_name",
                "person_acknowledged",
                "interviewer_name",
                "interviewer_organisation",
                "interviewer_acknowledged",
                "guardian_name",
                "guardian_acknowledged",
                "plan_date",
                "place",
            ),
        }

    # --- conversion ---

    def plan_input(self) -> PlanInput:
        """Return the cleaned data as the service's input."""
        data = self.cleaned_data
        steps = [
            PlanStep(
                what=data.get(f"step_{i}_what", ""),
                who=data.get(f"step_{i}_who", ""),
                by_when=data.get(f"step_{i}_by"),
            )
            for i in range(self.rows)
        ]
        ids = [u for u in (_uuid(v) for v in data.get("organisations", [])) if u]
        return PlanInput(
            immediate_needs=data.get("immediate_needs", ""),
            risk_summary=data.get("risk_summary", ""),
            steps=steps,
            organisation_ids=ids,
            other_organisations=data.get("other_organisations", "").splitlines(),
            safety_plan=data.get("safety_plan", ""),
            timeframe=data.get("timeframe", ""),
            person_name=data.get("person_name", ""),
            person_acknowledged=bool(data.get("person_acknowledged")),
            interviewer_name=data.get("interviewer_name", ""),
            interviewer_acknowledged=bool(data.get("interviewer_acknowledged")),
            interviewer_organisation_id=_uuid(data.get("interviewer_organisation", "")),
            guardian_name=data.get("guardian_name", ""),
            guardian_acknowledged=bool(data.get("guardian_acknowledged")),
            plan_date=data.get("plan_date"),
            place=data.get("place", ""),
        )

    @staticmethod
    def initial_from(
        content: PlanContent | None,
        *,
        language: str,
        interviewer_name: str,
        interviewer_organisation: str,
        today: date,
        keep_acknowledgements: bool = True,
    ) -> dict[str, Any]:
        """Return initial values from a saved plan (or defaults for a new one).

        A new version copies the content but not the signatures
        (``keep_acknowledgements=False``): everyone signs it again.
        """
        if content is None:
            return {
                "language": language,
                "interviewer_name": interviewer_name,
                "interviewer_organisation": interviewer_organisation,
                "plan_date": today,
            }
        values: dict[str, Any] = {
            "language": language,
            "immediate_needs": content.immediate_needs,
            "risk_summary": content.risk_summary,
            "organisations": [o.id for o in content.organisations],
            "other_organisations": "\n".join(content.other_organisations),
            "safety_plan": content.safety_plan,
            "timeframe": content.timeframe,
            "person_name": content.person_name,
            "interviewer_name": content.interviewer_name or interviewer_name,
            "interviewer_organisation": (
                content.interviewer_organisation.id
                if content.interviewer_organisation
                else interviewer_organisation
            ),
            "guardian_name": content.guardian_name,
            "plan_date": content.plan_date or today,
            "place": content.place,
        }
        if keep_acknowledgements:
            values["person_acknowledged"] = content.person_acknowledged
            values["interviewer_acknowledged"] = content.interviewer_acknowledged
            values["guardian_acknowledged"] = content.guardian_acknowledged
        for i, step in enumerate(content.steps):
            values[f"step_{i}_what"] = step.what
            values[f"step_{i}_who"] = step.who
            values[f"step_{i}_by"] = step.by_when
        return values

    @classmethod
    def as_data(cls, initial: Mapping[str, Any], rows: int) -> dict[str, Any]:
        """Return ``initial`` as submitted form data (to show errors on a plan)."""
        data: dict[str, Any] = {"step_rows": str(rows)}
        for key, value in initial.items():
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, date):
                data[key] = value.isoformat()
            elif value is not None:
                data[key] = value
        return data

    def add_missing(self, missing: list[str]) -> None:
        """Mark each field rule 9 still needs (see :func:`plans.missing_fields`)."""
        for code in missing:
            if code == "steps":
                self._mark_steps()
            elif code in self.fields:
                self.add_error(code, _("Required to sign the plan."))
            else:
                self.add_error(None, _("Required to sign the plan."))

    def _mark_steps(self) -> None:
        marked = False
        for i in range(self.rows):
            values = [
                self.data.get(f"step_{i}_{part}") for part in ("what", "who", "by")
            ]
            if not any(values):
                continue
            for part, value in zip(("what", "who", "by"), values, strict=True):
                if not value:
                    self.add_error(
                        f"step_{i}_{part}",
                        _("Each step says what, who and by when."),
                    )
                    marked = True
        if not marked:
            self.add_error("step_0_what", _("Add at least one planned step."))
