"""The local broker's users, their client files and their ACLs (run by kafka.sh).

    principals.py secrets     generate a password per user, once (.run/kafka/secrets.json, mode 600),
                              and write .run/kafka/clients/<user>.properties for each
    principals.py scram-args  the StorageTool --add-scram arguments (one per line)
    principals.py jaas        the broker's own JAAS line (its listener's credentials)
    principals.py acls        create every ACL of schemas/identities.py, as admin (idempotent)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from schemas.identities import grants, principals  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.topics import Topics  # noqa: E402

RUN = ROOT / ".run" / "kafka"
SECRETS = RUN / "secrets.json"
CLIENTS = RUN / "clients"
BOOTSTRAP = os.environ.get("LOCAL_KAFKA", "127.0.0.1:9092")


def jaas(user: str, password: str) -> str:
    return ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{user}" password="{password}";')


def load() -> dict[str, str]:
    return json.loads(SECRETS.read_text())


def make_secrets() -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    known = load() if SECRETS.exists() else {}
    for user in ["broker", *principals()]:
        known.setdefault(user, secrets.token_urlsafe(24))  # URL-safe: no quoting in JAAS
    SECRETS.write_text(json.dumps(known, indent=1))
    SECRETS.chmod(0o600)
    CLIENTS.mkdir(parents=True, exist_ok=True)
    CLIENTS.chmod(0o700)
    for user, password in known.items():
        if user == "broker":
            continue
        path = CLIENTS / f"{user}.properties"
        path.write_text(f"# {user}: written by make up (deploy/kafka/principals.py)\n"
                        f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
                        f"sasl.jaas.config={jaas(user, password)}\n")
        path.chmod(0o600)


def apply_acls() -> int:
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePattern, ResourceType)

    settings = Settings.from_env()  # TOPIC_PREFIX: the deployment whose names the ACLs grant
    admin_password = load()["admin"]
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="admin",
                             sasl_plain_password=admin_password, client_id="complaints-acls")
    try:
        acls = [ACL(principal=f"User:{g.principal}", host="*", operation=ACLOperation[g.operation],
                    permission_type=ACLPermissionType.ALLOW,
                    resource_pattern=ResourcePattern(ResourceType[g.resource], g.name,
                                                     ACLResourcePatternType.PREFIXED if g.prefixed
                                                     else ACLResourcePatternType.LITERAL))
                for g in grants(Topics(settings.topic_prefix), settings.faust_app_id,
                                f"{settings.topic_prefix}{settings.sink_group_id}")]
        result = admin.create_acls(acls)
        if result.get("failed"):
            raise SystemExit(f"acls: {len(result['failed'])} ACLs refused: {result['failed'][0]}")
        return len(acls)
    finally:
        admin.close()


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "secrets":
        make_secrets()
    elif command == "scram-args":
        for user, password in load().items():
            print(f"SCRAM-SHA-512=[name={user},password={password}]")
    elif command == "jaas":
        print(jaas("broker", load()["broker"]))
    elif command == "acls":
        print(f"kafka: {apply_acls()} ACLs in place", file=sys.stderr)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
