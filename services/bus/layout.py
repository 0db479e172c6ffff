"""Where ``LocalLog`` keeps things in its directory, and the small files besides segments.

::

    <root>/topics/<topic>/partitions                  partition count, "8\\n"
    <root>/topics/<topic>/<partition>/<base>.log      segments (see segments.py)
    <root>/groups/<group>/<topic>/<partition>.offset  committed offset, "1234\\n"

Small files are replaced atomically (temporary file, fsync, rename, fsync of the directory),
so a reader sees the old or the new content, never a mix; leftover ``*.tmp`` files of an
interrupted replacement are removed on open. Topic and group names are used as directory
names, so they are restricted to Kafka's topic alphabet ``[A-Za-z0-9._-]``.

Blocking functions; ``LocalLog`` runs them in worker threads.
"""

from __future__ import annotations

import re
from pathlib import Path

from services.bus.errors import InvalidName, LogCorrupt
from services.bus.records import TopicPartition
from services.bus.segments import Fsync, make_dirs, write_atomically

_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
PARTITIONS_FILE = "partitions"
OFFSET_SUFFIX = ".offset"


def check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name) or name in {".", ".."}:
        raise InvalidName(f"{kind} name {name!r} must match [A-Za-z0-9._-]{{1,200}}")
    return name


def topic_dir(root: Path, topic: str) -> Path:
    return root / "topics" / topic


def partition_dir(root: Path, tp: TopicPartition) -> Path:
    return root / "topics" / tp.topic / str(tp.partition)


def offset_file(root: Path, group: str, tp: TopicPartition) -> Path:
    return root / "groups" / group / tp.topic / f"{tp.partition}{OFFSET_SUFFIX}"


def remove_temporaries(root: Path) -> None:
    for tmp in root.rglob("*.tmp"):
        tmp.unlink(missing_ok=True)


def read_topics(root: Path) -> dict[str, int]:
    """The topics on disk and their partition counts."""
    topics: dict[str, int] = {}
    base = root / "topics"
    if not base.is_dir():
        return topics
    for directory in sorted(base.iterdir()):
        meta = directory / PARTITIONS_FILE
        if not meta.is_file():
            raise LogCorrupt(f"{directory} has no {PARTITIONS_FILE} file")
        text = meta.read_text().strip()
        if not text.isdigit() or int(text) < 1:
            raise LogCorrupt(f"{meta}: bad partition count {text!r}")
        topics[directory.name] = int(text)
    return topics


def write_topic(root: Path, topic: str, partitions: int, fsync: Fsync) -> None:
    directory = topic_dir(root, topic)
    make_dirs(directory, fsync)
    write_atomically(directory / PARTITIONS_FILE, f"{partitions}\n".encode(), fsync)


def read_group_offsets(root: Path) -> dict[str, dict[TopicPartition, int]]:
    groups: dict[str, dict[TopicPartition, int]] = {}
    base = root / "groups"
    if not base.is_dir():
        return groups
    for path in sorted(base.glob(f"*/*/*{OFFSET_SUFFIX}")):
        group, topic = path.parent.parent.name, path.parent.name
        stem, text = path.name.removesuffix(OFFSET_SUFFIX), path.read_text().strip()
        if not stem.isdigit() or not text.isdigit():
            raise LogCorrupt(f"{path}: bad committed offset {text!r}")
        groups.setdefault(group, {})[TopicPartition(topic, int(stem))] = int(text)
    return groups


def write_group_offsets(
    root: Path, group: str, offsets: dict[TopicPartition, int], fsync: Fsync
) -> None:
    for tp, offset in sorted(offsets.items()):
        path = offset_file(root, group, tp)
        make_dirs(path.parent, fsync)
        write_atomically(path, f"{offset}\n".encode(), fsync)
