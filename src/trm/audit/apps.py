from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "trm.audit"
    label = "audit"
    verbose_name = "Audit log"
