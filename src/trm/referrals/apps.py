from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "trm.referrals"
    label = "referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        # Withdrawing the consent a referral relied on revokes it (SOPS §3).
        from trm.consent.messages import register_restriction_hook
        from trm.consent.services import register_withdrawal_hook
        from trm.referrals import messages
        from trm.referrals.receiving import on_consent_withdrawn, restrict_received
        from trm.referrals.transport import register_remote_transport

        register_withdrawal_hook(on_consent_withdrawn)
        # Referrals abroad travel through the exchange (EXCHANGE.md §3):
        # referral.request / referral.response / referral.cancelled; a consent
        # withdrawn abroad (consent.withdrawn, M13) revokes the copies here.
        messages.register()
        register_remote_transport(messages.send_over_exchange)
        register_restriction_hook(restrict_received)
