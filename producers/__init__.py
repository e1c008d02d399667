"""What portal backends use to publish complaint events: a library, a CLI, a load generator."""

from producers.client import ComplaintPublisher, InvalidEvent, PublishError

__all__ = ["ComplaintPublisher", "InvalidEvent", "PublishError"]
