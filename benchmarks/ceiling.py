"""The Faust ceiling: what one Faust process with exactly-once reaches on this machine when the
handler does nothing but forward each submission unchanged to one topic, in the source
partition's transaction (processors.engine.eos), with the router's app settings.

Records go from the fetch to the handler a chunk at a time and each chunk's records are
sent together, through the router's own path (processors.engine.delivery and
processors.engine.app.chunk_handler). No validation, routing, state or metrics: the router's
rate divided by this one is the share of the per-event cost that is ours. With `fanout`,
each submission goes to one of the jurisdiction topics of the map in force (34; by a hash of its key) instead
of one topic: what the contract's fan-out costs by itself (each partition's transaction
touches ~70 partitions, each batch holds few records).

    python -m benchmarks.ceiling SOURCE_PREFIX [fanout]   # reads SOURCE_PREFIX's submissions; the
                                                          # rest from the environment
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import replace

import faust
import mode.loop

from processors.domain.ports import Context, Incoming, Record
from processors.engine.app import chunk_handler, faust_app
from processors.shards import Shards
from processors.engine.delivery import handle_directly
from processors.engine.eos import TransactionalSender
from schemas.settings import Settings
from schemas.topics import Topics


def build(source: Settings, target: Settings, app_id: str, fanout: bool = False) -> faust.App:
    app = faust_app(target, app_id)
    sender = TransactionalSender(app)
    submitted = app.topic(Topics(source.topic_prefix).submitted, key_serializer="raw", value_serializer="raw")
    topics = Topics(target.topic_prefix)
    outs = topics.all_jurisdictions() if fanout else [topics.triage]

    def forward(message: Incoming, ctx: Context) -> None:
        out = outs[zlib.crc32(message.key or b"") % len(outs)]
        ctx.send(Record(out, message.key, message.value, copartitioned=True))

    shards = Shards({}, target.partitions)  # no tables
    handle_directly(app, submitted, chunk_handler(sender, shards, forward), target.worker_batch_size)

    return app


def main() -> None:
    target = Settings.from_env()
    mode.loop.use(target.faust_loop)
    source = replace(target, topic_prefix=sys.argv[1] if len(sys.argv) > 1 else target.topic_prefix)
    fanout = sys.argv[2:3] == ["fanout"]
    faust.Worker(build(source, target, target.faust_app_id, fanout), loglevel="info",
                 quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
