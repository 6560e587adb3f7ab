"""How much a page or a device rule adds to a decision (issue O: at most 10%).

    python -m bench.authoring_rules [--rounds N]

Decides the same users under the shipped surveys, then with a page rule (a `contains` and
a `regex`, on RE2) and a device rule added to every survey; users carry a page URL and a
User-Agent from their latest page message, as the users agent keeps them. The device
parse is cached per User-Agent (streams.core.devices), as it is in a worker: the first
parse of each of the few User-Agents is done before timing and reported apart.
Prints the time per decision and the ratios. Not a test: timings depend on the machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time

from streams.core import devices
from streams.core.config import PageRule, load_config
from streams.core.state import new_user_state
from streams.core.targeting import decide
from streams.core.timeutil import DAY_MS

NOW = 1_800_000_000_000
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
]
URLS = ["https://app.example.com/billing/plans", "https://app.example.com/home", "https://app.example.com/invoices/42"]


def users(count: int) -> list[dict]:
    result = []
    for index in range(count):
        state = new_user_state(f"user-{index}")
        state.update(identified=True, firstSeen=NOW - 200 * DAY_MS, lastSeen=NOW,
                     traits={"plan": ("pro", "team", "free")[index % 3]},
                     client={"url": URLS[index % len(URLS)], "userAgent": AGENTS[index % len(AGENTS)],
                             "pageAt": NOW - 60_000})
        result.append(state)
    return result


def with_rules(config, pages=(), device_types=()):
    surveys = tuple(dataclasses.replace(s, targeting=dataclasses.replace(s.targeting, pages=pages, devices=device_types))
                    for s in config.surveys)
    return dataclasses.replace(config, surveys=surveys)


def per_decision_us(config, states) -> float:
    started = time.perf_counter()
    for state in states:
        decide(state, config, NOW)
    return (time.perf_counter() - started) / len(states) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--users", type=int, default=1500)
    args = parser.parse_args()
    shipped = load_config("config/surveys.yaml")
    base = with_rules(shipped)  # the shipped surveys with no page or device rule
    pages = (PageRule("contains", "/billing"), PageRule("regex", r"^https://[^/]+/invoices/[0-9]+$"))
    variants = {"no page or device rule": base,
                "page rules": with_rules(shipped, pages=pages),
                "device rule": with_rules(shipped, device_types=("desktop", "tablet")),
                "page and device rules": with_rules(shipped, pages=pages, device_types=("desktop", "tablet"))}
    states = users(args.users)
    started = time.perf_counter()
    for agent in AGENTS:
        devices.device_of(agent)
    print(f"first parse of {len(AGENTS)} User-Agents (rules loaded, then cached): {time.perf_counter() - started:.2f} s")
    for config in variants.values():  # warm up: caches, branch predictors
        per_decision_us(config, states[:500])
    # Rounds interleave the variants in a shuffled order, so that the load of a shared
    # machine falls on all of them alike; the medians and the minimums are compared.
    samples: dict = {name: [] for name in variants}
    rng = random.Random(7)
    for _ in range(args.rounds):
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            samples[name].append(per_decision_us(variants[name], states))
    base_median = statistics.median(samples["no page or device rule"])
    base_min = min(samples["no page or device rule"])
    for name, values in samples.items():
        median, low = statistics.median(values), min(values)
        print(f"{name:24s} median {median:7.2f} µs per decision (ratio {median / base_median:.3f}), "
              f"min {low:7.2f} µs (ratio {low / base_min:.3f})")


if __name__ == "__main__":
    main()
