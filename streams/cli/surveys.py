"""`python -m streams surveys apply [--dry-run] [FILE] | show | diff [FILE]`: the operator's
side of the live config (docs/reference.md#live-config; the topic is read and written by
streams.runtime.liveconfig)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from streams.core import configdiff
from streams.core import topics as names
from streams.core.config import ConfigError, content_hash, load_config
from streams.runtime import liveconfig, topicread
from streams.runtime import topics as kafka_topics


def run(args, settings) -> int:
    """`python -m streams surveys apply [--dry-run] [FILE] | show | diff [FILE]`."""
    path = args.file or settings.config_path
    try:
        candidate = load_config(path) if args.action != "show" else load_config(settings.config_path)
    except ConfigError as error:
        print(f"error: invalid config: {error}", file=sys.stderr)
        print("nothing published", file=sys.stderr)
        return 2
    # The app's own config topic (STREAMS_APP_ID): no other app's workers read it.
    topic = kafka_topics.app_names(settings.bootstrap_servers, candidate.topics, settings.app_id)[names.CONFIG]
    try:
        state = liveconfig.read_active(settings.bootstrap_servers, topic)
    except topicread.TopicReadTimeout as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for error in state.skipped:  # the workers skip them too: say so, then carry on
        print(f"warning: skipped a record that is no valid config version: {error}", file=sys.stderr)
    active = state.version
    # What workers run: the active version, else (none ever published) their STREAMS_CONFIG file.
    active_config = active.config() if active is not None else load_config(settings.config_path)
    active_name = active.version if active is not None else f"{settings.config_path} (no version published yet)"
    if args.action == "show":
        if active is None:
            print(f"no version published on {topic}: workers use their STREAMS_CONFIG file")
            return 0
        print(f"active version {active.version}, applied {active.applied_at} from {active.source}")
        for survey in active_config.surveys:
            print(f"  {survey.id:24s} {survey.type:5s} {'active' if survey.active else 'inactive':8s} priority {survey.priority}")
        return 0
    lines = configdiff.diff(active_config, candidate)
    if args.action == "diff":
        print(f"{path} against {active_name}:")
        print("\n".join(f"  {line}" for line in lines) if lines else "  no change")
        return 0
    problems = configdiff.structural_changes(active_config, candidate)
    if problems:
        print("error: a running app cannot switch partitions or topics (deploy a new app for that): "
              + "; ".join(problems), file=sys.stderr)
        print("nothing published", file=sys.stderr)
        return 2
    if args.dry_run:
        changelog = names.changelog(settings.app_id, "users")
        users, moves = liveconfig.dry_run(settings.bootstrap_servers, changelog, candidate, int(time.time() * 1000))
        print(f"dry run of {path} against {active_name}: "
              f"{len(moves)} of {users} users would change decision")
        for (before, after), count in sorted(configdiff.count_moves(moves.values()).items(), key=lambda i: -i[1]):
            print(f"  {count:8d}  {before} → {after}")
        print("nothing published (dry run)")
        return 0
    same = active is not None and content_hash(active.text) == content_hash(Path(path).read_text(encoding="utf-8"))
    if same and state.on_top:
        print(f"{path} is the active version already ({active.version}): nothing published")
        return 0
    if same:  # compaction keeps only a key's last record: the bad one would outlive the active version
        print(f"{path} is the active version ({active.version}), but invalid records follow it on {topic}: "
              "publishing it again on top of them", file=sys.stderr)
    version = liveconfig.publish(settings.bootstrap_servers, topic, Path(path).read_text(encoding="utf-8"), str(path),
                      int(time.time() * 1000))
    print(f"published version {version.version} to {topic}")
    print("\n".join(f"  {line}" for line in lines) if lines else "  (no change in the surveys)")
    return 0
