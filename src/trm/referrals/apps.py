from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "trm.referrals"
    label = "referrals"
    verbose_name = "Referrals"
