from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "trm.referrals"
    label = "referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        # Withdrawing the consent a referral relied on revokes it (SOPS §3).
        from trm.consent.services import register_withdrawal_hook
        from trm.referrals.receiving import on_consent_withdrawn

        register_withdrawal_hook(on_consent_withdrawn)
