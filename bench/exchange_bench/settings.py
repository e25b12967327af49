"""Settings of the benchmark's receiving node: the node's own settings plus a
sink app (see apps.py). Used only by bench/exchange.py, never by a real node."""

from trm.settings import *  # noqa: F403
from trm.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "exchange_bench"]
ROOT_URLCONF = "exchange_bench.urls"
