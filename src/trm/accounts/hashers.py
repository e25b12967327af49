"""Password hashing: Argon2id with parameters chosen for a 2-core server.

Parameters: memory 64 MiB, 3 passes, 2 lanes. On the 2-core reference machine
one hash takes about 0.2 s (``bench/password_hash.py`` prints the figure), so a
login costs ~0.2 s of one core and 64 MiB for that moment: cheap for people, and
well above the OWASP minimum (19 MiB, t=2) against offline guessing. Django
re-hashes stored passwords to these parameters at the next sign-in.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class TRMArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id, m=64 MiB, t=3, p=2 (see module docstring)."""

    algorithm = "argon2"
    time_cost = 3
    memory_cost = 64 * 1024  # KiB
    parallelism = 2
