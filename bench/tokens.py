"""Round trip (issue, then verify) of a signed link token: onboardkit against its peers.

Compares, in the same process and interleaved round by round so that machine noise hits all alike:

* ``onboardkit``: ``TokenSigner.issue`` + ``TokenSigner.verify`` (purpose, subject, binding to an
  email address and a state, expiry with leeway);
* ``itsdangerous``: ``URLSafeTimedSerializer.dumps`` + ``loads(max_age=...)`` of the same facts
  (subject, address, state), with the purpose as salt, and the caller's comparison of address and
  state after loading;
* ``django``: ``django.core.signing.dumps`` + ``loads(max_age=...)`` of the same, likewise.

Run: ``/tmp/venv/bin/python bench/tokens.py [--rounds 41] [--iterations 2000]``. The last line of
output is one JSON object with the medians in microseconds per round trip (wall clock, and CPU
time of this process) and the ratios; ``goal_met`` is the wall-clock median at most 12 us and at
least twice as fast as itsdangerous.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable

import django  # type: ignore[import-untyped]
import itsdangerous
from django.conf import settings  # type: ignore[import-untyped]

from onboardkit.tokens import KeyRing, SigningKey, TokenSigner

PURPOSE = "registration.confirm"
# What the registration flow signs: an account id (32 hex digits, as ``new_id()`` makes) and the
# account's state fingerprint (``Account.state()``: id, status, version).
SUBJECT = "3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b"
EMAIL = "ada.lovelace@example.org"
STATE = f"{SUBJECT}:pending_confirmation:1"
TTL = 3 * 24 * 3600
SECRET = "bench-secret-key-with-enough-entropy-0123456789abcdef"


def onboardkit_round_trip() -> Callable[[], object]:
    signer = TokenSigner(KeyRing([SigningKey.generate("2025-06"), SigningKey.generate("2025-01")]))

    def round_trip() -> object:
        token = signer.issue(PURPOSE, SUBJECT, email=EMAIL, state=STATE, ttl=TTL)
        return signer.verify(token, PURPOSE, email=EMAIL, state=STATE)

    return round_trip


def itsdangerous_round_trip() -> Callable[[], object]:
    serializer = itsdangerous.URLSafeTimedSerializer(SECRET, salt=PURPOSE)

    def round_trip() -> object:
        token = serializer.dumps([SUBJECT, EMAIL, STATE])
        subject, email, state = serializer.loads(token, max_age=TTL)
        if email != EMAIL or state != STATE:
            raise AssertionError("binding mismatch")
        return subject

    return round_trip


def django_round_trip() -> Callable[[], object]:
    if not settings.configured:
        settings.configure(SECRET_KEY=SECRET, USE_TZ=True)
        django.setup()
    from django.core import signing  # type: ignore[import-untyped]

    def round_trip() -> object:
        token = signing.dumps([SUBJECT, EMAIL, STATE], salt=PURPOSE)
        subject, email, state = signing.loads(token, salt=PURPOSE, max_age=TTL)
        if email != EMAIL or state != STATE:
            raise AssertionError("binding mismatch")
        return subject

    return round_trip


def time_per_call(function: Callable[[], object], iterations: int) -> tuple[float, float]:
    """Microseconds per call over ``iterations`` calls: wall-clock time and this process's CPU time.

    CPU time leaves out the moments another process had the CPU, so it is the steadier of the two
    on a busy machine.
    """
    wall_start, cpu_start = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(iterations):
        function()
    wall, cpu = time.perf_counter_ns() - wall_start, time.process_time_ns() - cpu_start
    return wall / iterations / 1000, cpu / iterations / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--iterations", type=int, default=2000)
    options = parser.parse_args()

    contenders = {
        "onboardkit": onboardkit_round_trip(),
        "itsdangerous": itsdangerous_round_trip(),
        "django": django_round_trip(),
    }
    for function in contenders.values():
        time_per_call(function, options.iterations)  # warm up

    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    gc.disable()
    try:
        for round_number in range(options.rounds):
            # Rotate the order so no contender always runs first (or last) in a round.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                wall_us, cpu_us = time_per_call(contenders[name], options.iterations)
                wall[name].append(wall_us)
                cpu[name].append(cpu_us)
    finally:
        gc.enable()

    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"round trip, median of {options.rounds} rounds x {options.iterations} iterations")
    print(f"  {'':13} {'wall us':>9} {'cpu us':>9}   fastest / slowest round (wall)")
    for name in names:
        print(
            f"  {name:13} {medians[name]:9.2f} {cpu_medians[name]:9.2f}"
            f"   {min(wall[name]):.2f} / {max(wall[name]):.2f}"
        )
    ours, ours_cpu = medians["onboardkit"], cpu_medians["onboardkit"]
    result = {
        "onboardkit_us": round(ours, 2),
        "itsdangerous_us": round(medians["itsdangerous"], 2),
        "django_us": round(medians["django"], 2),
        "itsdangerous_over_onboardkit": round(medians["itsdangerous"] / ours, 2),
        "django_over_onboardkit": round(medians["django"] / ours, 2),
        "onboardkit_cpu_us": round(ours_cpu, 2),
        "itsdangerous_cpu_us": round(cpu_medians["itsdangerous"], 2),
        "django_cpu_us": round(cpu_medians["django"], 2),
        "itsdangerous_over_onboardkit_cpu": round(cpu_medians["itsdangerous"] / ours_cpu, 2),
        "django_over_onboardkit_cpu": round(cpu_medians["django"] / ours_cpu, 2),
        "goal_met": ours <= 12.0 and medians["itsdangerous"] / ours >= 2.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
