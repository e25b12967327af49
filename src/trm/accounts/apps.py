from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "trm.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from trm.accounts import signals

        user_login_failed.connect(
            signals.on_login_failed, dispatch_uid="trm.accounts.login_failed"
        )
        user_locked_out.connect(
            signals.on_locked_out, dispatch_uid="trm.accounts.locked_out"
        )
