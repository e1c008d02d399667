"""The Faust ceiling: what one Faust process with exactly-once reaches on this machine when the
agent does nothing but forward each submission unchanged to one topic, in the source
partition's transaction (processors.eos), with the router's app settings.

No validation, routing, state or metrics: the router's rate divided by this one is the share
of the per-event cost that is ours.

    python -m benchmarks.ceiling SOURCE_PREFIX   # reads SOURCE_PREFIX's submissions; the rest from
                                                 # the environment, forwarding to its triage topic
"""

from __future__ import annotations

import sys
from dataclasses import replace

import faust
import mode.loop

from processors.app import faust_app
from processors.eos import Record, TransactionalSender
from schemas.settings import Settings
from schemas.topics import Topics


def build(source: Settings, target: Settings, app_id: str) -> faust.App:
    app = faust_app(target, app_id)
    sender = TransactionalSender(app)
    submitted = app.topic(Topics(source.topic_prefix).submitted, key_serializer="raw", value_serializer="raw")
    out = Topics(target.topic_prefix).triage

    @app.agent(submitted)
    async def forward(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            await sender.send_atomically(message.tp, [Record(out, message.key, message.value, message.partition)])

    return app


def main() -> None:
    target = Settings.from_env()
    mode.loop.use(target.faust_loop)
    source = replace(target, topic_prefix=sys.argv[1] if len(sys.argv) > 1 else target.topic_prefix)
    faust.Worker(build(source, target, target.faust_app_id), loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
