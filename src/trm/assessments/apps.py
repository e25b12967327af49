from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "trm.assessments"
    label = "assessments"
    verbose_name = "Assessments"
