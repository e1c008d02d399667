"""Who may read and write what on the broker: the principals of the contract's Identities
section and their ACLs, least privilege per role. The one place these rules live: the local
stack (deploy/kafka/principals.py) applies them; the Strimzi KafkaUsers mirror them.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.admin_units import province_codes
from schemas.topics import Topics

SERVICE_ROLES = ["admin", "router", "sink", "portal", "site-system", "triage", "delegations", "registry"]


def office(province_code: str) -> str:
    return f"office-{province_code}"


def principals(admin_map: str | None = None) -> list[str]:
    """Every user the local broker knows (plus `broker`, its own): an office per province of
    the map in force."""
    return [*SERVICE_ROLES, *(office(p) for p in province_codes(admin_map))]


@dataclass(frozen=True)
class Grant:
    principal: str
    operation: str  # READ, WRITE, DESCRIBE, CREATE, IDEMPOTENT_WRITE
    resource: str  # TOPIC, GROUP, TRANSACTIONAL_ID, CLUSTER
    name: str
    prefixed: bool = False


def grants(topics: Topics, app_id: str = "complaints-router", sink_group: str = "complaints-sink") -> list[Grant]:
    """The ACLs: `admin` is a super user and needs none."""
    out: list[Grant] = []

    def read(who: str, *names: str) -> None:
        out.extend(Grant(who, op, "TOPIC", n) for n in names for op in ("READ", "DESCRIBE"))

    def write(who: str, *names: str) -> None:
        out.extend(Grant(who, op, "TOPIC", n) for n in names for op in ("WRITE", "DESCRIBE"))

    # router: its inputs and outputs, its group, its changelogs and internal topics
    # (prefixed by its app id), its transactional ids. It writes back to its inputs only to
    # re-key a record that sits on the wrong partition (the same topic, so the same origin).
    read("router", *topics.inputs(), *topics.internal(), *topics.routed_outputs(), topics.escalations)
    write("router", topics.submitted, *topics.resolution_inputs(), *topics.internal(), *topics.outputs())
    out += [Grant("router", op, "TOPIC", app_id, True) for op in ("READ", "WRITE", "DESCRIBE", "CREATE")]
    out += [Grant("router", "READ", "GROUP", app_id, True),
            Grant("router", "WRITE", "TRANSACTIONAL_ID", app_id, True),
            Grant("router", "DESCRIBE", "TRANSACTIONAL_ID", app_id, True),
            Grant("router", "IDEMPOTENT_WRITE", "CLUSTER", "kafka-cluster"),
            Grant("router", "DESCRIBE", "CLUSTER", "kafka-cluster")]
    # sink: reads everything it records (the dead letters included), its own group.
    read("sink", *topics.recorded())
    out.append(Grant("sink", "READ", "GROUP", sink_group))
    # portal backends: they write submissions and read each complaint's status, to tell the
    # citizen (groups under their own name); nothing else.
    write("portal", topics.submitted)
    read("portal", topics.status)
    out += [Grant("portal", "IDEMPOTENT_WRITE", "CLUSTER", "kafka-cluster"),
            Grant("portal", "READ", "GROUP", "portal", True)]
    # the immunization registry: the corrections to citizens' records, and nothing else (they
    # carry the national ID and birth date).
    read("registry", topics.record_corrections)
    out.append(Grant("registry", "READ", "GROUP", "registry", True))
    # The writers of resolutions and delegations, each on topics of its own, so that the origin
    # of what they write is proven by the broker ("Who sent it"): only admin writes the shared
    # complaints.resolved and complaints.delegations (replays, migration).
    for who, topic, resolutions in (("site-system", topics.site_system, topics.resolved_by_site_system),
                                    ("triage", topics.triage, topics.resolved_by_triage)):
        read(who, topic)
        write(who, resolutions)
        out += [Grant(who, "READ", "GROUP", who, True), Grant(who, "IDEMPOTENT_WRITE", "CLUSTER", "kafka-cluster")]
    # each province's office: its own jurisdiction topic, groups under its own name, its own
    # resolutions and delegations topics. (The `delegations` principal of the first contract
    # grants nothing any more: a province grants for its own units only.)
    for code in province_codes(topics.admin_map):
        who = office(code)
        read(who, topics.jurisdiction(code))
        write(who, topics.resolved_by_office(code), topics.delegations_of(code))
        out += [Grant(who, "READ", "GROUP", who, True), Grant(who, "IDEMPOTENT_WRITE", "CLUSTER", "kafka-cluster")]
    return out
