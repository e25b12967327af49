"""Settings for the test suite: production settings with test-only inputs.

Only what a test run needs differs: a fixed development secret, a test node
identity, a fast password hasher (Argon2 at production cost would dominate the
suite's run time; ``test_hashers`` checks the production hasher separately), and
a key-encryption key generated for this run.
"""

from __future__ import annotations

import base64
import os
import tempfile

os.environ.setdefault("TRM_ENV", "development")
os.environ.setdefault("TRM_NODE_ID", "test-node")
os.environ.setdefault("TRM_COUNTRY", "BG")
os.environ.setdefault("TRM_SECRET_KEY", "test-only-secret-key-" + "x" * 32)
os.environ.setdefault("TRM_DATA_DIR", tempfile.mkdtemp(prefix="trm-test-"))
os.environ.setdefault("TRM_KEK", base64.b64encode(os.urandom(32)).decode())
# Tests run in one transaction per test: delivery threads with their own
# connections would not see its data.
os.environ.setdefault("TRM_EXCHANGE_CONCURRENCY", "1")

from trm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_AUTOREFRESH = True
