"""HTCDS code lists (IOM Human Trafficking Case Data Standard).

Source: github.com/UNMigration/HTCDS. The repository's current version is 2.0,
but its authoritative v2.0 field sheet ("HTCDS Field Standards 2.0.ods") and the
v2.0 Excel toolkit are binary files that could not be read. Each list below is
taken from the newest readable text source, as follows:

- ``org_Type``: "HTCDS Field Reference.md" (DRAFT table, pre-v1.0).
- ``prs_Gender``: "Toolkit/Survey/htcds_xlsform.xml" (v1.0 IOM gender list;
  the older Field Reference.md used Male/Female/Transgender/NonConforming/Unknown).
- ``cas_Status``: "HTCDS Field Reference.md", matching both Survey XForms.
- ``vic_TypeOfExploitation``: "Toolkit/Survey/htcds_xlsform.xml" (v1.0). This
  field is not in Field Reference.md.
- ``vic_MethodsOfControl``: "Field Definitions.md" (v2.0, which defines the
  values as ``MethodsOfControl<Code>``), matching "HTCDS Field Reference.md".
  The v1.0 XLSForm names this field ``vic_Methods_of_Control`` and uses a different,
  older set of codes.
- ``vic_MethodOfRecruitment`` (singular in every source):
  "Toolkit/Survey/htcds_xlsform.xml" (v1.0, which aligned it with IOM standards).
- ``cas_ReasonForIncomingReferral`` and ``cas_ReasonForOutgoingReferral``:
  "HTCDS Field Reference.md". The survey forms use free text instead.
- ``vic_Vulnerabilities``: "Toolkit/Survey/htcds_xform.xml" (v0.2).
  **Deprecated in v2.0**: "Field Definitions.md" replaces it with guidance on
  individual, household and community risk assessment, with no fields defined.
  Field Reference.md lists "Caste" where the XForm has "SocialGroup". The field
  is listed in ``DEPRECATED_FIELDS``.

Not included:

- ``cas_ReasonForCaseClosure`` is a Long Text field in "HTCDS Field Reference.md",
  with no code list.
- No service or support type list (``spl_Type`` or similar) was found in any
  readable file. The v0.2 "Support Plan" object is only in the binary
  spreadsheets, so no values are given here.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrgType(models.TextChoices):
    """HTCDS ``org_Type``."""

    NGO = "NGO", _("Non-governmental organisation")
    LAW_ENFORCEMENT = "LawEnforcement", _("Law enforcement")
    HEALTH_SERVICE_ORGANISATION = (
        "HealthServiceOrganisation",
        _("Health service organisation"),
    )
    CENTRAL_GOVERNMENT_ORGANISATION = (
        "CentralGovernmentOrganisation",
        _("Central government organisation"),
    )
    LOCAL_GOVERNMENT_ORGANISATION = (
        "LocalGovernmentOrganisation",
        _("Local government organisation"),
    )
    IMMIGRATION_SERVICE = "ImmigrationService", _("Immigration service")
    LEGAL_SERVICE = "LegalService", _("Legal service")
    CORPORATE_BUSINESS = "CorporateBusiness", _("Corporate business")


class Gender(models.TextChoices):
    """HTCDS ``prs_Gender`` (v1.0 IOM gender values)."""

    FEMININE = "Feminine", _("Feminine")
    MASCULINE = "Masculine", _("Masculine")
    TRANSGENDER_FEMININE = "TransgenderFeminine", _("Transgender feminine")
    TRANSGENDER_MASCULINE = "TransgenderMasculine", _("Transgender masculine")
    NON_CONFORMING = "NonConforming", _("Non-conforming")
    NOT_SPECIFIED_UNKNOWN = "NonSpecifiedUnknown", _("Not specified / unknown")


class CaseStatus(models.TextChoices):
    """HTCDS ``cas_Status``."""

    ACTIVE = "Active", _("Active")
    FOLLOW_UP = "FollowUp", _("Follow up")
    CLOSED = "Closed", _("Closed")
    CLOSED_REFERRED = "ClosedReferred", _("Closed (referred)")


class TypeOfExploitation(models.TextChoices):
    """HTCDS ``vic_TypeOfExploitation`` (multi-select)."""

    FORCED_LABOUR = "ForcedLabour", _("Forced labour")
    SEXUAL_EXPLOITATION = "SexualExploitation", _("Sexual exploitation")
    CHILD_LABOUR = "ChildLabour", _("Child labour")
    FORCED_MARRIAGE = "ForcedMarriage", _("Forced marriage")
    SERVITUDE = "Servitude", _("Servitude")
    FORCED_MILITARY_BY_NON_STATE_ACTORS = (
        "ForcedMilitaryByNonStateActors",
        _("Forced military service (by non-state actors)"),
    )
    ORGAN_REMOVAL = "OrganRemoval", _("Organ removal")
    FORCED_BEGGING = "ForcedBegging", _("Forced begging")
    FORCED_ADOPTION = "ForcedAdoption", _("Forced adoption")
    SURROGACY = "Surrogacy", _("Surrogacy")
    OTHER = "Other", _("Other")


class MethodsOfControl(models.TextChoices):
    """HTCDS ``vic_MethodsOfControl`` (multi-select, v2.0 values)."""

    DEBT_BONDAGE = "DebtBondage", _("Debt bondage")
    TAKES_EARNINGS = "TakesEarnings", _("Takes earnings")
    RESTRICTS_FINANCIAL_ACCESS = (
        "RestrictsFinancialAccess",
        _("Restricts financial access"),
    )
    THREATS = "Threats", _("Threats")
    PSYCHOLOGICAL_ABUSE = "PsychologicalAbuse", _("Psychological abuse")
    PHYSICAL_ABUSE = "PhysicalAbuse", _("Physical abuse")
    SEXUAL_ABUSE = "SexualAbuse", _("Sexual abuse")
    FALSE_PROMISES = "FalsePromises", _("False promises")
    PSYCHOACTIVE_SUBSTANCES = "PsychoactiveSubstances", _("Psychoactive substances")
    RESTRICTS_MOVEMENT = "RestrictsMovement", _("Restricts movement")
    RESTRICTS_MEDICAL_CARE = "RestrictsMedicalCare", _("Restricts medical care")
    EXCESSIVE_WORKING_HOURS = "ExcessiveWorkingHours", _("Excessive working hours")
    USES_CHILDREN = "UsesChildren", _("Uses children")
    THREAT_OF_LAW_ENFORCEMENT = (
        "ThreatOfLawEnforcement",
        _("Threat of law enforcement"),
    )
    WITHHOLDS_NECESSITIES = "WithholdsNecessities", _("Withholds necessities")
    WITHHOLDS_DOCUMENTS = "WithholdsDocuments", _("Withholds documents")
    OTHER = "Other", _("Other")


class MethodOfRecruitment(models.TextChoices):
    """HTCDS ``vic_MethodOfRecruitment`` (multi-select, v1.0 values)."""

    AT_A_PLACE_OF_BUSINESS = "AtAPlaceOfBusiness", _("At a place of business")
    AT_AN_EDUCATIONAL_INSTITUTION = (
        "AtAnEducationalInstitution",
        _("At an educational institution"),
    )
    AT_WORK = "AtWork", _("At work")
    THROUGH_ONLINE_SOCIAL_NETWORKS = (
        "ThroughOnlineSocialNetworks",
        _("Through online social networks"),
    )
    THROUGH_AN_ONLINE_ADVERTISEMENT = (
        "ThroughAnOnlineAdvertisement",
        _("Through an online advertisement"),
    )
    THROUGH_A_TELEVISION_ADVERT = (
        "ThroughATelevisionAdvert",
        _("Through a television advert"),
    )
    THROUGH_A_NEWSPAPER_ADVERT = (
        "ThroughANewspaperAdvert",
        _("Through a newspaper advert"),
    )
    THROUGH_FAMILY_OR_FAMILY_EVENTS = (
        "ThroughFamilyOrFamilyEvents",
        _("Through family or family events"),
    )
    THROUGH_FRIENDS_OR_SOCIAL_EVENTS = (
        "ThroughFriendsOrSocialEvents",
        _("Through friends or social events"),
    )
    OTHER = "Other", _("Other")


class ReasonForIncomingReferral(models.TextChoices):
    """HTCDS ``cas_ReasonForIncomingReferral``."""

    ADDITIONAL_SERVICES_REQUIRED = (
        "AdditionalServicesRequired",
        _("Additional services required"),
    )
    MIGRATION_OR_CHANGE_OF_LOCATION = (
        "MigrationOrChangeOfLocation",
        _("Migration or change of location"),
    )
    OTHER = "Other", _("Other")


class ReasonForOutgoingReferral(models.TextChoices):
    """HTCDS ``cas_ReasonForOutgoingReferral`` (same codes as incoming)."""

    ADDITIONAL_SERVICES_REQUIRED = (
        "AdditionalServicesRequired",
        _("Additional services required"),
    )
    MIGRATION_OR_CHANGE_OF_LOCATION = (
        "MigrationOrChangeOfLocation",
        _("Migration or change of location"),
    )
    OTHER = "Other", _("Other")


class Vulnerabilities(models.TextChoices):
    """HTCDS ``vic_Vulnerabilities`` (multi-select; v0.2, deprecated in v2.0)."""

    ADDICTION = "Addiction", _("Addiction")
    SOCIAL_GROUP = "SocialGroup", _("Social group")
    DISCRIMINATION = "Discrimination", _("Discrimination")
    POVERTY = "Poverty", _("Poverty")
    DISABILITY_AND_PHYSICAL_HEALTH = (
        "DisabilityAndPhysicalHealth",
        _("Disability and physical health"),
    )
    MENTAL_HEALTH = "MentalHealth", _("Mental health")
    MIGRATION = "Migration", _("Migration")
    HOMELESSNESS = "Homelessness", _("Homelessness")
    ABUSE_SOCIAL_MEDIA = "AbuseSocialMedia", _("Abuse: social media")
    ABUSE_PHYSICAL = "AbusePhysical", _("Abuse: physical")
    EDUCATION = "Education", _("Education")
    WORK_ENVIRONMENT = "WorkEnvironment", _("Work environment")


FIELDS: dict[str, type[models.TextChoices]] = {
    "org_Type": OrgType,
    "prs_Gender": Gender,
    "cas_Status": CaseStatus,
    "vic_TypeOfExploitation": TypeOfExploitation,
    "vic_MethodsOfControl": MethodsOfControl,
    "vic_MethodOfRecruitment": MethodOfRecruitment,
    "cas_ReasonForIncomingReferral": ReasonForIncomingReferral,
    "cas_ReasonForOutgoingReferral": ReasonForOutgoingReferral,
    "vic_Vulnerabilities": Vulnerabilities,
}

#: HTCDS fields in ``FIELDS`` that the v2.0 standard has deprecated.
DEPRECATED_FIELDS: frozenset[str] = frozenset({"vic_Vulnerabilities"})
