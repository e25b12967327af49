"""Time one Argon2id password hash with the node's parameters.

Run: .venv/bin/python bench/password_hash.py
"""

from __future__ import annotations

import statistics
import time

from trm.accounts.hashers import TRMArgon2PasswordHasher


def main() -> None:
    hasher = TRMArgon2PasswordHasher()
    samples = []
    for _ in range(10):
        start = time.perf_counter()
        encoded = hasher.encode("correct horse battery staple", hasher.salt())
        samples.append(time.perf_counter() - start)
    assert hasher.verify("correct horse battery staple", encoded)
    print(
        f"argon2id m={hasher.memory_cost} KiB t={hasher.time_cost} "
        f"p={hasher.parallelism}: median {statistics.median(samples) * 1000:.0f} ms, "
        f"max {max(samples) * 1000:.0f} ms over {len(samples)} hashes"
    )


if __name__ == "__main__":
    main()
