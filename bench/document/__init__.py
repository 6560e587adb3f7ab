"""docs/benchmarks.md from a run's results (bench.run's results.json).

Every figure comes from the results; the prose around them is written here, and where it
says more than a label (an analysis), it is chosen by the measured values.
"""
from __future__ import annotations

from . import analysis, sections, summary


def document(results: dict) -> str:
    quick = results["quick"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run{' --quick' if quick else ''}`) on "
        f"{results['date']}; the run took {results['elapsed_s'] / 60:.1f} min."
        + (" **Quick run: small sizes, a smoke test, not the reference figures.**" if quick else ""),
        "Every figure below comes from that run; nothing is edited by hand except the analysis "
        "paragraphs, which are written by bench/document/ around the measured values.",
        "",
    ]
    lines += summary.targets_section(results)
    lines += summary.before_after_section(results)
    lines += _machine_section(results)
    if "pipeline" in results:
        lines += sections.pipeline_section(results["pipeline"])
    if "latency" in results:
        lines += sections.latency_section(results["latency"])
    if "bridge" in results:
        lines += sections.bridge_section(results["bridge"])
    if "state" in results:
        lines += sections.state_section(results["state"], results.get("pipeline"))
    lines += summary.reliability_section(results.get("reliability"))
    lines += analysis.bottlenecks_section(results)
    lines += analysis.changes_section()
    lines += _method_section(results["sizes"])
    return "\n".join(lines) + "\n"


def _machine_section(results: dict) -> list:
    m, v = results["machine"], results["versions"]
    return [
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['nproc']} × {m['cpu']} |",
        f"| memory | {m['memory_gib']:.1f} GiB |",
        f"| kernel | Linux {m['kernel']} |",
        f"| Python | {m['python']} |",
        f"| Java | {m['java']} |",
        f"| Kafka | {v['kafka']} ({results['broker']}) |",
        f"| faust-streaming | {v['faust-streaming']} (mode-streaming {v['mode-streaming']}) |",
        f"| aiokafka | {v['aiokafka']} |",
        f"| orjson / rocksdict / aiohttp | {v['orjson']} / {v['rocksdict']} / {v['aiohttp']} |",
        f"| load average before the run | {' / '.join(f'{x:.2f}' for x in m['load_before'])} |",
        "",
        "Everything runs on this one machine over loopback: the broker, the workers, the load "
        "generators. The broker and the load generators share the same cores as the workers, "
        "and so do any other processes running at the time. Before each measured phase the "
        "benchmark waits (a bounded time) until other processes use less than 0.3 of a core; "
        "each phase then notes how busy the machine was and how much of that was not this "
        "benchmark (\"other processes\").",
        "",
    ]


def _method_section(sizes: dict) -> list:
    return [
        "## How it is measured",
        "",
        "- Workers are `python -m streams worker` processes with their own app id and topic "
        "names (config `topics:` renames), data directory and web port; the at-least-once "
        "guarantee and the RocksDB store, as shipped.",
        "- Throughput: completion is read from the worker's `/metrics` "
        "(`survey_streams_processed_total` over the inbound topics reaching N minus the "
        "redeliveries) and from `surveys.eligibility`'s end offsets staying unchanged for 3 s; "
        "the end time is the later of the last input applied and the last decision's Kafka timestamp. "
        "CPU per event is the worker processes' CPU from the first input read to the last applied, "
        "over the messages; the loop's, its process's CPU over the messages it moved.",
        "- The plain loop (bench/baseline.py) is a separate process with the same inputs, run just "
        "before and just after the one worker on the same broker (a consumer group of its own each "
        "time; the faster run is the reference): AIOKafkaConsumer.getmany, orjson.loads, "
        "orjson.dumps, AIOKafkaProducer.send per message.",
        "- The broker's share: the Kafka process's CPU (from /proc) over the same window as the "
        "workers' (first input read to all applied), in cores, and over the machine's cores.",
        "- Latency (bench/latency.py) and HTTP load (bench/httpload.py) run as separate processes.",
        "- Recovery: after the cold recovery and after the warm restart, a sample of users is read "
        "back through `GET /v1/users/{userId}` with the admin key and compared with what was "
        "written to the changelog (userId, name, email), and an id never written must answer 404.",
        "- Profiles: pyinstrument on a separate run of the same kind (its overhead would distort the "
        "figures above), only for the targets missed; sessions and text trees in var/bench/profiles/.",
        f"- Sizes of this run: {', '.join(f'{k}={_size(v)}' for k, v in sizes.items())}; `--quick` runs every "
        "step small. The figures are also in var/bench/results.json; "
        "`python -m bench.run --render var/bench/results.json` rewrites this page from them.",
        "",
    ]


def _size(value) -> str:
    """A size as the run had it, whether read from the run or from results.json (lists)."""
    return "/".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
