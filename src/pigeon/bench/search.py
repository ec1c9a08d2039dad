"""The ``search`` scenario: message search latency over N stored messages.

Unlike the other scenarios it drives the store directly, not a server: what it
measures is the index and the query (docs/architecture.md, "Message search"), and
loading a million messages through the network would take far longer than the
measurement. Messages are appended through ``MessageStore.append`` (the group
commit, so the index is written exactly as in production) in large batches.

The corpus is synthetic and seeded: sentences of two-character CJK words drawn
from a Zipf-like distribution, with one Latin word in some, spread evenly over
``CONVERSATIONS`` groups. Two searchers read different shares of it: ``wide`` is
a member of every 10th group, ``narrow`` of every 100th. Each query class is run
``REPEATS`` times per searcher after a warm-up; latencies are per request, in
process, from call to page.
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from pigeon.bench.stats import summary_ms
from pigeon.core.ids import IdPrefix, new_id
from pigeon.protocol.membership import ConversationKind, Visibility
from pigeon.store.facade import Store
from pigeon.store.groups import NewConversation
from pigeon.store.records import NewMessage, UserRecord
from pigeon.store.search import SearchQuery

Progress = Callable[[str], None]

CONVERSATIONS = 1000
# Messages per append transaction: the server's default group-commit size. Much larger
# batches are slower on PostgreSQL, whose planner takes long over the (sender, cid)
# lookup of thousands of rows.
BATCH = 512
RUN = 64  # consecutive messages of one conversation, so a batch touches a few
REPEATS = 50
WARMUP = 3
VOCABULARY = 3000
SCAN_ROWS = 20_000  # the default of search_short_scan_rows
_LATIN = ("meeting", "deadline", "coffee", "release", "budget", "holiday")
_SEED = 20_261_207


@dataclass(frozen=True, slots=True)
class Corpus:
    words: list[str]  # by rank: words[0] is the most frequent
    cum_weights: list[float]  # cumulative 1/rank, computed once (choices() is slow without)

    @classmethod
    def make(cls, rng: random.Random) -> Corpus:
        chars = [chr(0x4E00 + rng.randrange(0x5000)) for _ in range(VOCABULARY)]
        words = list(
            dict.fromkeys(a + b for a, b in zip(chars, rng.sample(chars, len(chars)), strict=True))
        )
        return cls(
            words, list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(words))))
        )

    def sentence(self, rng: random.Random) -> str:
        parts = rng.choices(self.words, cum_weights=self.cum_weights, k=rng.randint(4, 12))
        if rng.random() < 0.2:
            parts.insert(rng.randrange(len(parts)), f" {rng.choice(_LATIN)} ")
        return "".join(parts)


def _queries(corpus: Corpus, sample: str) -> dict[str, str]:
    """Query classes: frequent and rare words at 1, 2 and 4+ characters, and Latin."""
    rare = corpus.words[len(corpus.words) // 2]
    return {
        "1 char, frequent": corpus.words[0][0],
        "1 char, rare": rare[0],
        "2 chars, frequent": corpus.words[0],
        "2 chars, rare": rare,
        "4 chars, two words": corpus.words[0] + corpus.words[1],
        "6 chars from a message": sample[:6],
        "latin word": "deadline",
        "absent (3 chars)": "ABC",
    }


async def _people(store: Store) -> dict[str, UserRecord]:
    people: dict[str, UserRecord] = {}
    for name in ("owner", "wide", "narrow"):
        user = UserRecord(
            id=new_id(IdPrefix.USER),
            username=f"bench_{name}_{os.getpid()}",
            display_name=name,
            avatar=None,
            dm_policy="anyone",
            disabled=False,
            created_at=int(time.time() * 1000),
            password_hash="!",  # noqa: S106 - matches no password: it never signs in
        )
        await store.accounts.create_user(user)
        people[name] = user
    return people


async def _groups(store: Store, people: dict[str, UserRecord]) -> list[str]:
    convs = []
    for index in range(CONVERSATIONS):
        members = [people["owner"].id]
        if index % 10 == 0:
            members.append(people["wide"].id)
        if index % 100 == 0:
            members.append(people["narrow"].id)
        conv = NewConversation(
            id=new_id(IdPrefix.CONVERSATION),
            kind=ConversationKind.GROUP,
            title=f"g{index}",
            owner_id=people["owner"].id,
            visibility=Visibility.PRIVATE,
            created_at=int(time.time() * 1000),
        )
        await store.groups.create(conv, members, None, None)
        convs.append(conv.id)
    return convs


async def _load(
    store: Store, sender: str, convs: list[str], count: int, progress: Progress
) -> tuple[float, str]:
    rng = random.Random(_SEED)
    corpus = Corpus.make(rng)
    started = time.perf_counter()
    sample = ""
    for start in range(0, count, BATCH):
        batch = []
        for index in range(start, min(count, start + BATCH)):
            words = corpus.sentence(rng)
            sample = sample or words
            batch.append(
                NewMessage(
                    id=new_id(IdPrefix.MESSAGE),
                    conv_id=convs[(index // RUN) % len(convs)],
                    sender_id=sender,
                    cid=f"b{index}",
                    kind="text",
                    body={"text": words},
                    ts=1_700_000_000_000 + index,
                )
            )
        await store.messages.append(batch)
        if (start // BATCH) % 200 == 0:
            progress(f"search: {start + len(batch):,} / {count:,} messages stored")
    return time.perf_counter() - started, sample


def _visible_to(searcher: str, count: int) -> int:
    """How many of the ``count`` loaded messages ``searcher``'s groups hold (see ``_groups``)."""
    every = 100 if searcher == "narrow" else 10
    return sum(1 for index in range(count) if ((index // RUN) % CONVERSATIONS) % every == 0)


async def _measure(store: Store, user_id: str, query: str) -> dict[str, Any]:
    latencies: list[int] = []
    found = 0
    for attempt in range(WARMUP + REPEATS):
        begin = time.perf_counter_ns()
        page = await store.search.search(
            SearchQuery(user_id=user_id, text=query, limit=20, scan_rows=SCAN_ROWS)
        )
        if attempt >= WARMUP:
            latencies.append(time.perf_counter_ns() - begin)
        found = len(page.hits)
    return {"results": found, **summary_ms(latencies)}


_SQLITE_SIZES = text(
    """SELECT
         SUM(pgsize),
         SUM(CASE WHEN name LIKE 'message_text_fts%' THEN pgsize END),
         SUM(CASE WHEN name IN ('message_text', 'sqlite_autoindex_message_text_1',
                                'ix_message_text_conv_id') THEN pgsize END),
         SUM(CASE WHEN name LIKE '%messages%' THEN pgsize END)
       FROM dbstat"""
)
_POSTGRES_SIZES = text(
    "SELECT pg_database_size(current_database()), "
    "pg_relation_size('ix_message_text_trgm'), "
    "pg_total_relation_size('message_text') - pg_relation_size('ix_message_text_trgm'), "
    "pg_total_relation_size('messages')"
)


async def _sizes(store: Store) -> dict[str, int]:
    """Bytes: the database, the trigram index, the searchable-text table with its
    B-tree indexes, and the messages table with its indexes."""
    async with store.db.read() as conn:
        row = (await conn.execute(_SQLITE_SIZES if store.db.is_sqlite else _POSTGRES_SIZES)).one()
    names = ("database", "trigram_index", "message_text", "messages")
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


async def run(database_url: str | None, count: int, progress: Progress) -> dict[str, Any]:
    """Load ``count`` messages into a fresh store and time every query class.

    ``database_url`` must name an empty PostgreSQL database; None uses a temporary
    SQLite file (deleted afterwards).
    """
    with tempfile.TemporaryDirectory(prefix="pigeon-search-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'search.db'}"
        store = Store.open(url, sqlite_synchronous="NORMAL")
        try:
            await store.upgrade()
            people = await _people(store)
            convs = await _groups(store, people)
            load_s, sample = await _load(store, people["owner"].id, convs, count, progress)
            progress(f"search: loaded {count:,} messages in {load_s:.0f} s; querying")
            corpus = Corpus.make(random.Random(_SEED))
            timings = {
                searcher: {
                    name: await _measure(store, people[searcher].id, query)
                    for name, query in _queries(corpus, sample).items()
                }
                for searcher in ("narrow", "wide")
            }
            sizes = await _sizes(store)
        finally:
            await store.close()
    return {
        "backend": "sqlite" if database_url is None else "postgresql",
        "messages": count,
        "conversations": CONVERSATIONS,
        "visible": {name: _visible_to(name, count) for name in ("narrow", "wide")},
        "load_s": round(load_s, 1),
        "sizes": sizes,
        "queries": timings,
    }


def markdown(results: list[dict[str, Any]]) -> list[str]:
    lines = ["### Message search", ""]
    for run_result in results:
        lines += [
            f"{run_result['backend']}: {run_result['messages']:,} messages in "
            f"{run_result['conversations']} groups, loaded in {run_result['load_s']} s; "
            "MiB: " + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in run_result["sizes"].items()),
            "",
            "| searcher (messages visible) | query | results | p50 ms | p99 ms |",
            "|---|---|---:|---:|---:|",
        ]
        for searcher, queries in run_result["queries"].items():
            visible = run_result["visible"][searcher]
            for name, figures in queries.items():
                lines.append(
                    f"| {searcher} ({visible:,}) | {name} | {figures['results']} | "
                    f"{figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} |"
                )
        lines.append("")
    return lines
