"""TRM: a Transnational Referral Mechanism node for trafficked persons."""

__version__ = "0.1.0"
