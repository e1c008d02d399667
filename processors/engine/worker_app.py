"""The Faust app of this worker, with what the engine's replacements need declared on it.

Faust builds the consumer thread, the transport and the table manager with the app as their
only argument, so the app is how they get the client security, the fetch settings, the timer
gate and the inputs handled directly. They are constructor arguments and typed attributes
here, not names hung on a plain faust.App and looked up with getattr."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from processors.engine.delivery import Direct
from schemas.kafka_client import ClientSecurity


class WorkerApp(faust.App):
    def __init__(self, app_id: str, *, security: ClientSecurity, fetch_tuning: tuple[int, int],
                 **options: Any) -> None:
        super().__init__(app_id, **options)
        # The plain aiokafka readers of processors/engine/recovery.py and the registry follower.
        self.client_security = security
        # (fetch_min_bytes, fetch_max_wait_ms) of the worker's consumer (processors/engine/eos.py).
        self.fetch_tuning = fetch_tuning
        # Held by a timer while it sends, so that a rebalance waits for it (processors/engine/eos.py).
        self.timer_gate = asyncio.Lock()
        # The inputs whose records go straight to a handler (processors/engine/delivery.py).
        self.direct_inputs = Direct()
        # Set when a transaction could not commit: the worker rejoins (processors/engine/worker.py).
        self.commit_failed: Exception | None = None

    def aiokafka_connection(self) -> dict[str, Any]:
        """The arguments of a plain aiokafka client to this app's cluster as the worker
        (recovery's committed ends, the changelog rebuild, the registry follower)."""
        bootstrap = ",".join(f"{url.host}:{url.port}" for url in self.conf.broker)
        return {"bootstrap_servers": bootstrap, **self.client_security.aiokafka()}
