"""The benchmark's receiving side.

``referral.request`` is re-registered with the same schema and a handler that
does nothing (the inbox still decrypts, verifies, validates and records the
message with its sealed payload): the benchmark measures the channel, not the
referral workflow. ``/bench/plain`` is the baseline: the same payload as plain
JSON, validated by the same schema, inserted as one row.
"""

from django.apps import AppConfig


class ExchangeBenchConfig(AppConfig):
    name = "exchange_bench"
    label = "exchange_bench"

    def ready(self) -> None:
        from dataclasses import replace

        from trm.exchange import registry

        real = registry.message_type("referral.request")
        if real is not None:
            registry.register(replace(real, handler=lambda inbound: None), replace=True)
