"""A throw-away node in a subprocess: its own data directory, SQLite files and KEK.

Used to test what only a fresh process shows: the start-up check, and key
rotation followed by a restart. The environment is built from scratch so that
nothing leaks in from the test settings or the developer's shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_TRM_SCRIPT = Path(sys.executable).with_name("trm")
TRM = [str(_TRM_SCRIPT)] if _TRM_SCRIPT.exists() else [sys.executable, "-m", "trm.cli"]

#: Opens a case for a fictional person; prints the case id.
OPEN_CASE = """
from trm.accounts.models import Membership, Organisation, Role, User
from trm.cases import services
from trm.cases.identity import PersonIdentity
org = Organisation.objects.create(
    name="Fictional Org R", country="BG", org_type="NGO", functions=["SP"]
)
user = User.objects.create(username="rotation-test", organisation=org)
Membership.objects.create(user=user, role=Role.CASE_MANAGER)
identity = PersonIdentity.model_validate_json(IDENTITY_JSON)
case = services.case_open(actor=user, identity=identity)
print(case.pk)
"""

#: Reads the person back and searches by name; prints the identity and hit count.
READ_CASE = """
from trm.accounts.models import User
from trm.cases import selectors
user = User.objects.get(username="rotation-test")
case, _ = selectors.case_get_for_user(user=user, case_id=CASE_ID)
identity = selectors.person_identity_for_user(user=user, case=case)
hits = selectors.case_search(user=user, name=SEARCH_NAME).count()
print(identity.model_dump_json())
print(hits)
"""

#: Prints how many keys a rotation must re-wrap: node keys and live data keys.
COUNT_KEYS = """
from trm.dataprotection.models import DataKey, NodeKey
print(NodeKey.objects.count() + DataKey.objects.filter(wrapped__isnull=False).count())
"""


@dataclass
class Node:
    """A node rooted in ``data_dir``; ``kek`` (base64) overrides the key file."""

    data_dir: Path
    kek: str | None = None

    @property
    def kek_file(self) -> Path:
        return self.data_dir / "keys" / "kek.b64"

    def environment(self, **overrides: str | None) -> dict[str, str]:
        env: dict[str, str | None] = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.data_dir.parent),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "trm.settings",
            "TRM_ENV": "production",
            "TRM_SECRET_KEY": "synthetic-node-secret-" + "n" * 32,
            "TRM_NODE_ID": "key-test-node",
            "TRM_COUNTRY": "BG",
            "TRM_ALLOWED_HOSTS": "trm.example.invalid",
            "TRM_DATA_DIR": str(self.data_dir),
            "TRM_KEK": self.kek,
        }
        env.update(overrides)
        return {name: value for name, value in env.items() if value is not None}

    def run(
        self, *args: str, **overrides: str | None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``trm <args>``."""
        return subprocess.run(  # noqa: S603 - fixed argv, no shell
            [*TRM, *args],
            env=self.environment(**overrides),
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str, **overrides: str | None) -> str:
        """Run ``trm <args>``, assert it succeeded, and return its output."""
        result = self.run(*args, **overrides)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def python(self, code: str, **variables: str) -> str:
        """Run ``code`` in ``trm shell`` with ``variables`` bound (as strings)."""
        prelude = "".join(f"{name} = {value!r}\n" for name, value in variables.items())
        return self.ok("shell", "--no-startup", "-v", "0", "-c", prelude + code)

    def start(self) -> None:
        """Create the key file (unless ``kek`` is set) and migrate both databases."""
        if self.kek is None:
            self.ok("keys", "init")
        self.ok("migrate", "--noinput", "--verbosity", "0")
