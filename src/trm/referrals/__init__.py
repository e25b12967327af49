"""Referrals to service providers (SOPS §2 SOP 1 step 6 [BG 1.4]): one state machine,
consent-gated, with the provider's inbox.
"""
