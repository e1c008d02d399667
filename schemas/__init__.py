"""The event contract as code: pydantic models, topic names, settings, administrative units."""

from schemas.models import (
    SLA,
    ComplaintEscalated,
    ComplaintResolved,
    ComplaintSubmitted,
    DailyDigest,
    DeadLetter,
    Delegation,
    Handler,
    RoutedComplaint,
    Routing,
)

__all__ = [
    "SLA",
    "ComplaintEscalated",
    "ComplaintResolved",
    "ComplaintSubmitted",
    "DailyDigest",
    "DeadLetter",
    "Delegation",
    "Handler",
    "RoutedComplaint",
    "Routing",
]
