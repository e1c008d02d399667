"""The offices' side: the web console for health-office staff, the citizens' status lookup,
and the Inbox for office systems that read their jurisdiction topic from Kafka."""

from offices.inbox import Inbox

__all__ = ["Inbox"]
