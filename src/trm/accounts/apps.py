from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "trm.accounts"
    label = "accounts"
    verbose_name = "Accounts"
