"""Tables of the run store, in portable SQLAlchemy Core: the same tables on SQLite and on PostgreSQL.

Timestamps are UNIX seconds (float). JSON columns are TEXT holding JSON. Token ids and log-probs are
compact binary (little-endian int32 / float32 arrays), not JSON lists. Where the two databases would
store a value differently, the column types below make them agree (`Txt`, `RowId`).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator


class Txt(TypeDecorator):
    """Text of any length: VARCHAR(length) in SQLite's DDL, as the store always wrote it (SQLite never enforces the
    length), TEXT on PostgreSQL, which would enforce it, so a long prompt id fails on neither. PostgreSQL's text cannot
    hold a NUL character, which a model's response may decode to: there it is stored as U+FFFD instead of failing
    the iteration's write."""

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None):
        super().__init__()
        self.declared_length = length  # not `length`: SQLAlchemy would carry that over to PostgreSQL's type

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql" or self.declared_length is None:
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(String(self.declared_length))

    def process_bind_param(self, value, dialect):
        if dialect.name == "postgresql" and isinstance(value, str) and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value


RowId = Integer().with_variant(BigInteger(), "postgresql")
"""The id of a table that grows by the row per sample: SQLite's INTEGER is 64-bit already, PostgreSQL's is not."""

SCHEMA_VERSION = 8

# How to bring an older store up to SCHEMA_VERSION: version -> statements (portable SQL). The store runs
# them in one transaction when it opens an older file, so a workspace never has to be thrown away.
# PostgreSQL stores began at version 6, so the statements below only ever ran on SQLite (BLOB is SQLite's word);
# a later migration runs on both and is tested on both.
MIGRATIONS: dict[int, list[str]] = {
    # 1 -> 2: label events carry the user action they belong to (one key press, one bulk action) and,
    # for an undo, the action they undo.
    1: [
        "ALTER TABLE label_events ADD COLUMN action VARCHAR(64)",
        "ALTER TABLE label_events ADD COLUMN undoes VARCHAR(64)",
        "UPDATE label_events SET action = 'v1-' || CAST(seq AS VARCHAR(20))",
        "CREATE INDEX ix_label_events_author_seq ON label_events (author, seq)",
    ],
    # 2 -> 3: per-token entropy of the sampling policy, kept beside the log-probs (NULL for older rows).
    # The Rollouts tab lists a run's newest samples: an index in that order keeps it from sorting the whole run.
    2: ["ALTER TABLE trajectories ADD COLUMN entropies BLOB", "CREATE INDEX ix_trajectories_run_id ON trajectories (run_id, id)"],
    # 3 -> 4: the RL group a sample was trained in, a column rather than a reading of the tag. Older trainers
    # tagged RL samples "group:N": N becomes group_id. The digits check keeps a look-alike tag ("group:x") an
    # evaluation row and keeps CAST from failing on PostgreSQL; 9 digits at most fit an INTEGER.
    3: [
        "ALTER TABLE trajectories ADD COLUMN group_id INTEGER",
        "UPDATE trajectories SET group_id = CAST(SUBSTR(tag, 7) AS INTEGER) WHERE SUBSTR(tag, 1, 6) = 'group:' "
        "AND LENGTH(tag) BETWEEN 7 AND 15 AND TRIM(SUBSTR(tag, 7), '0123456789') = ''",
    ],
    # 4 -> 5: the run_owners table (which process trains a run, k15core.runlock). A new table, so the store's
    # create_all, which runs before the migrations, has made it: nothing to alter. Runs an older trainer left
    # 'running' have no owner row, and read as 'running (owner gone)'.
    4: [],
    # 5 -> 6: each trajectory's verdict (who decided its correctness: the task's rule or the chain-of-thought judge,
    # with the judge's reasoning), JSON; NULL for older rows and for samples never verified in RL (evaluation).
    5: ["ALTER TABLE trajectories ADD COLUMN verdict TEXT"],
    # 6 -> 7: the images an image prompt shows, as a JSON list of image-store addresses (k15core.vlm.images); NULL for
    # a text prompt and for every older row. TEXT is a type both databases know: the first migration run on both.
    6: ["ALTER TABLE prompts ADD COLUMN images TEXT"],
    # 7 -> 8: the triage_reviews table (who marked which item of a run's triage queue reviewed, k15core.triage). A new
    # table, which create_all, run before the migrations, has made on both databases: nothing to alter. The version
    # still moves, so an older k15 refuses the store rather than silently ignoring its reviews.
    7: [],
}

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", Txt(64), primary_key=True),
    Column("value", Txt, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Txt(200), nullable=False),
    Column("kind", Txt(32), nullable=False),  # sft | eval | rl | ...
    Column("config", Txt, nullable=False),  # JSON of the full config used
    Column("status", Txt(32), nullable=False),  # running | finished | failed | stopped
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
)

# At most one row per run: the process that trains it (k15core.runlock). Written when the run is created or
# resumed, deleted when that process lets go of it; a row whose process is gone is taken over by the next resume.
run_owners = Table(
    "run_owners", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", Txt(255), nullable=False),
    Column("start", Txt(64)),  # the process's start time as the OS counts it: a reused pid is another process; NULL where unknown
    Column("since", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

metrics = Table(
    "metrics", metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("name", Txt(200), nullable=False),
    Column("value", Float, nullable=False),
    Index("ix_metrics_run_iteration", "run_id", "iteration"),
    Index("ix_metrics_run_name", "run_id", "name"),
)

trajectories = Table(
    "trajectories", metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("iteration", Integer, nullable=False),
    Column("prompt_id", Txt(200), nullable=False),
    Column("sample_index", Integer, nullable=False),
    Column("prompt", Txt, nullable=False),
    Column("response", Txt, nullable=False),
    Column("token_ids", LargeBinary, nullable=False),  # int32 little-endian
    Column("logprobs", LargeBinary, nullable=False),  # float32 little-endian
    Column("entropies", LargeBinary),  # float32 little-endian; NULL when not recorded (stores older than version 3)
    Column("reward", Float, nullable=False),
    Column("reward_parts", Txt, nullable=False),  # JSON {name: value}
    Column("correct", Float, nullable=False),
    Column("length", Integer, nullable=False),
    Column("finished", Boolean, nullable=False),
    Column("truncated", Boolean, nullable=False),
    Column("repeated", Boolean, nullable=False),
    Column("segments", Integer, nullable=False),
    Column("difficulty", Integer, nullable=False),
    Column("tag", Txt(64), nullable=False),
    Column("group_id", Integer),  # the RL group it was trained in; NULL for samples never trained on (evaluation, curation)
    Column("verdict", Txt),  # JSON of k15core.types.Verdict {correct, by, reasoning, malformed}; NULL where none was kept
    Index("ix_trajectories_run_iteration", "run_id", "iteration"),
    Index("ix_trajectories_run_id", "run_id", "id"),
    Index("ix_trajectories_prompt", "prompt_id"),
)

prompts = Table(
    "prompts", metadata,
    Column("id", Txt(200), primary_key=True),
    Column("text", Txt, nullable=False),
    Column("reference", Txt, nullable=False),
    Column("task", Txt(64), nullable=False),
    Column("difficulty", Integer, nullable=False),
    Column("source", Txt(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("images", Txt),  # JSON list of image addresses (<workspace>/images); NULL for a text prompt. Never image bytes.
)

# Append-only: a prompt's current labels are derived by folding its events in `seq` order
# (k15core.labels); undo is a compensating event, so nothing an annotator does is ever lost.
label_events = Table(
    "label_events", metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("prompt_id", Txt(200), nullable=False, index=True),
    Column("field", Txt(64), nullable=False),  # status | difficulty | reference | tags | note | hackable | excluded
    Column("value", Txt, nullable=False),  # JSON; null resets the field
    Column("author", Txt(200), nullable=False),
    Column("source", Txt(64), nullable=False),  # studio | auto | cli | notebook
    Column("created_at", Float, nullable=False),
    Column("action", Txt(64)),  # the user action (one key press, one bulk action) that wrote this event
    Column("undoes", Txt(64)),  # on an undo event: the action it undoes
    Index("ix_label_events_author_seq", "author", "seq"),
)

# Who marked which item of a run's triage queue (k15core.triage) reviewed, and what they did about it. One row per
# (run, item, author): a second click by the same person writes nothing, a second person's review is kept beside
# the first. An item is reviewed when it has any row. `item` is the queue item's stable key (QueueItem.key).
triage_reviews = Table(
    "triage_reviews", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("item", Txt(400), primary_key=True),
    Column("author", Txt(200), primary_key=True),
    Column("outcome", Txt(32), nullable=False),  # reviewed | exclude | flag | penalise (k15core.triage.OUTCOMES)
    Column("created_at", Float, nullable=False),
)
