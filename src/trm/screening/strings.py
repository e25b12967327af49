"""Labels of the screening instrument, for translation. Generated: do not edit.

Run ``trm screening strings`` after changing ``instruments/ilo_ec_2009.yaml``
(``trm screening strings --check`` fails while this file is out of date).
``makemessages`` finds the labels here; pages translate them at display time.
"""

# ruff: noqa: E501

from django.utils.translation import gettext_noop

STRINGS = (
    gettext_noop("ILO/EC operational indicators of trafficking in human beings"),
    gettext_noop("Strong"),
    gettext_noop("Medium"),
    gettext_noop("Weak"),
    gettext_noop("Deceptive recruitment (including transfer and transport)"),
    gettext_noop("Coercive recruitment"),
    gettext_noop("Recruitment by abuse of vulnerability"),
    gettext_noop("Exploitative conditions (exploitation)"),
    gettext_noop("Coercion at destination"),
    gettext_noop("Abuse of vulnerability at destination"),
    gettext_noop(
        "The child was recruited, transported, transferred, harboured or received"
    ),
    gettext_noop("Adults — labour exploitation"),
    gettext_noop("Children — labour exploitation"),
    gettext_noop(
        "Same labels as the adult list with the upgrades of SOPS §5.5; leaves out “false information about the law or the authorities” (D3) and “no social protection” (D4); no weak grade."
    ),
    gettext_noop("Adults — sexual exploitation"),
    gettext_noop(
        "A checklist to record observations: the labels shared with the labour list and the known prostitution-specific variants. Automatic scoring is off until the ILO table (WCMS_105023) is transcribed."
    ),
    gettext_noop("Children — sexual exploitation"),
    gettext_noop(
        "A checklist to record observations: the labels of the child labour list and the known prostitution-specific variants. Automatic scoring is off until the ILO table (WCMS_105023) is transcribed."
    ),
    gettext_noop("Deceived about the nature of the job, the location or the employer"),
    gettext_noop("Deceived about conditions of work"),
    gettext_noop("Deceived about the content or legality of the work contract"),
    gettext_noop("Deceived about family reunification"),
    gettext_noop("Deceived about housing and living conditions"),
    gettext_noop("Deceived about legal documents or obtaining legal migration status"),
    gettext_noop("Deceived about travel and recruitment conditions"),
    gettext_noop("Deceived about wages or earnings"),
    gettext_noop("Deceived through promises of marriage or adoption"),
    gettext_noop("Deceived about access to education"),
    gettext_noop("Violence against the person"),
    gettext_noop(
        "Abduction, forced marriage, forced adoption or selling of the person"
    ),
    gettext_noop("Confiscation of documents"),
    gettext_noop("Debt bondage"),
    gettext_noop("Isolation, confinement or surveillance"),
    gettext_noop("Threat of denunciation to the authorities"),
    gettext_noop("Threat to inform family, community or the public"),
    gettext_noop("Threats of violence against the person"),
    gettext_noop("Violence on family (threatened or actual)"),
    gettext_noop("Withholding of money"),
    gettext_noop("Abuse of a difficult family situation"),
    gettext_noop("Abuse of illegal status"),
    gettext_noop("Abuse of lack of education (language)"),
    gettext_noop("Abuse of lack of information"),
    gettext_noop("Control by exploiters"),
    gettext_noop("Economic reasons"),
    gettext_noop("False information about the law or the attitude of the authorities"),
    gettext_noop("False information about successful migration"),
    gettext_noop("Family situation"),
    gettext_noop("Personal situation"),
    gettext_noop("Psychological and emotional dependency"),
    gettext_noop("Relationship with authorities / legal status"),
    gettext_noop("Abuse of cultural or religious beliefs"),
    gettext_noop("General context"),
    gettext_noop("Difficulties in the past"),
    gettext_noop(
        "Grade disputed: secondary sources give medium or weak. Weak is used because the same label is weak in D6 of this list. Check against WCMS_105023."
    ),
    gettext_noop("Difficulty organising the travel"),
    gettext_noop("Excessive working days or hours"),
    gettext_noop("Bad living conditions"),
    gettext_noop("Hazardous work"),
    gettext_noop("Low or no salary"),
    gettext_noop("No respect for labour laws or the contract signed"),
    gettext_noop("No social protection (contract, social insurance, etc.)"),
    gettext_noop("Very bad working conditions"),
    gettext_noop("Wage manipulation"),
    gettext_noop("No access to education"),
    gettext_noop("Forced into illegal or criminal activities"),
    gettext_noop("Forced tasks or clients"),
    gettext_noop("Forced to act against peers"),
    gettext_noop("Forced to lie to the authorities, family, etc."),
    gettext_noop("Threat of even worse working conditions"),
    gettext_noop("Under strong influence"),
    gettext_noop("Withholding of wages"),
    gettext_noop("Dependency on exploiters"),
    gettext_noop("Difficulty living in an unknown area"),
    gettext_noop("Personal characteristics"),
    gettext_noop(
        "Grade disputed for adults (medium or weak); the child list has no weak grade, so medium is used. Check against WCMS_105023."
    ),
    gettext_noop("Deceived about the conditions of prostitution"),
    gettext_noop("Grade not known from the sources read; medium is a placeholder."),
)
