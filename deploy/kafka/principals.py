"""The local broker's users, their client files and their ACLs (run by kafka.sh).

    principals.py secrets     generate a password per user, once (.run/kafka/secrets.json, mode 600),
                              and write .run/kafka/clients/<user>.properties for each
    principals.py scram-args  the StorageTool --add-scram arguments (one per line)
    principals.py jaas        the broker's own JAAS line (its listener's credentials)
    principals.py acls        create the SCRAM users the broker lacks (principals added after its
                              storage was formatted) and every ACL of schemas/identities.py, as
                              admin (idempotent)
    principals.py rotate USER a new password for USER: set on the broker, in secrets.json and in
                              its client file (clients holding the old one must restart)
    principals.py compose NODE[=NAME,...] ...
                              the compose project's secrets (its `secrets` service): the above
                              with SASL_SSL client files, a CA and a certificate per node
                              (deploy/kafka/tls.py), and one directory per mount (mounts/<name>:
                              a node's keystore and logins, a client's file and the CA; the
                              console's: every office's file and the CA)

KAFKA_SECRETS_DIR puts it all somewhere else than .run/kafka (the compose secrets volume).
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

RUN = Path(os.environ.get("KAFKA_SECRETS_DIR") or ROOT / ".run" / "kafka")
SECRETS = RUN / "secrets.json"
CLIENTS = RUN / "clients"
BOOTSTRAP = os.environ.get("LOCAL_KAFKA", "127.0.0.1:9092")
# The compose clients' mounts: each service sees its own principal's directory here.
CLIENT_MOUNT = "/etc/kafka/client"


def jaas(user: str, password: str) -> str:
    return ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{user}" password="{password}";')


def load() -> dict[str, str]:
    return json.loads(SECRETS.read_text())


def client_ca() -> str | None:
    """Where clients find the CA, once the install has one (compose: SASL_SSL), else None
    (the local broker: SASL_PLAINTEXT on 127.0.0.1)."""
    if not (RUN / "tls" / "ca.pem").exists():
        return None
    return os.environ.get("KAFKA_CLIENT_CA", f"{CLIENT_MOUNT}/ca.pem")


def make_secrets() -> None:
    """Passwords (made once, kept) and a client file per principal, SASL_SSL when the
    install has a CA; a service's mount gets its principal's file again."""
    RUN.mkdir(parents=True, exist_ok=True)
    tls_ca = client_ca()
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
        tls = f"ssl.truststore.type=PEM\nssl.truststore.location={tls_ca}\n" if tls_ca else ""
        path.write_text(f"# {user}: written by deploy/kafka/principals.py\n"
                        f"security.protocol={'SASL_SSL' if tls_ca else 'SASL_PLAINTEXT'}\n"
                        f"sasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config={jaas(user, password)}\n{tls}")
        path.chmod(0o600)
        mounted = RUN / "mounts" / user / "client.properties"
        if mounted.exists():
            mounted.write_text(path.read_text())


def admin_client():
    """The admin API as `admin`, with the settings of its client file (SASL_PLAINTEXT locally,
    SASL_SSL in compose)."""
    from kafka.admin import KafkaAdminClient

    from schemas.kafka_client import client_security

    settings = client_security("admin", str(CLIENTS / "admin.properties")).kafka_python()
    if (RUN / "tls" / "ca.pem").exists():  # the maker of the secrets reads the CA where it keeps it
        settings["ssl_cafile"] = str(RUN / "tls" / "ca.pem")
    return KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="complaints-principals", **settings)


def set_passwords(admin, passwords: dict[str, str]) -> None:
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    if not passwords:
        return
    failed = {user: error for user, error in admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password)
         for user, password in passwords.items()]).items() if error}
    if failed:
        raise SystemExit(f"users: the broker refused {', '.join(sorted(failed))}: {next(iter(failed.values()))}")


def ensure_users(admin) -> list[str]:
    """Principals without a SCRAM credential on the broker get theirs (storage is formatted with
    the users known then; a principal added later is created here)."""
    known = {user for user, d in admin.describe_user_scram_credentials().items() if not d.get("error")}
    missing = {user: password for user, password in load().items() if user != "broker" and user not in known}
    set_passwords(admin, missing)
    return sorted(missing)


def rotate(user: str) -> None:
    passwords = load()
    if user not in passwords or user == "broker":
        raise SystemExit(f"rotate: no principal {user!r} (the broker's own password changes with its storage)")
    admin = admin_client()
    try:
        passwords[user] = secrets.token_urlsafe(24)
        set_passwords(admin, {user: passwords[user]})
    finally:
        admin.close()
    SECRETS.write_text(json.dumps(passwords, indent=1))
    SECRETS.chmod(0o600)
    make_secrets()  # rewrites the client files from secrets.json
    print(f"kafka: new password for {user} in .run/kafka/clients/{user}.properties", file=sys.stderr)


def apply_acls() -> int:
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern,
                             ResourcePatternFilter, ResourceType)

    settings = Settings.from_env()  # TOPIC_PREFIX: the deployment whose names the ACLs grant
    make_secrets()  # a principal of the map in force that is new here (ADMIN_MAP changed) gets its file
    admin = admin_client()
    try:
        created = ensure_users(admin)
        if created:
            print(f"kafka: SCRAM users created: {', '.join(created)}", file=sys.stderr)
        acls = [ACL(principal=f"User:{g.principal}", host="*", operation=ACLOperation[g.operation],
                    permission_type=ACLPermissionType.ALLOW,
                    resource_pattern=ResourcePattern(ResourceType[g.resource], g.name,
                                                     ACLResourcePatternType.PREFIXED if g.prefixed
                                                     else ACLResourcePatternType.LITERAL))
                for g in grants(settings.topics, settings.faust_app_id,
                                f"{settings.topic_prefix}{settings.sink_group_id}")]
        result = admin.create_acls(acls)
        if result.get("failed"):
            raise SystemExit(f"acls: {len(result['failed'])} ACLs refused: {result['failed'][0]}")
        # What the rules no longer grant is taken back: an office of a province not in the map
        # in force, a write to the shared topics that only admin may make now ("Who sent it").
        def identity(acl) -> tuple:
            pattern = acl.resource_pattern
            return (acl.principal, acl.host, acl.operation.name, acl.permission_type.name,
                    pattern.resource_type.name, pattern.resource_name, pattern.pattern_type.name)

        wanted = {identity(acl) for acl in acls}
        any_pattern = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
        ours = {f"User:{user}" for user in load() if user not in ("admin", "broker")}
        existing, error = admin.describe_acls(ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                                        any_pattern))
        stale = [acl for acl in existing if acl.principal in ours and identity(acl) not in wanted
                 and (settings.topic_prefix == "" or acl.resource_pattern.resource_name.startswith(settings.topic_prefix))]
        if stale:
            admin.delete_acls([ACLFilter(acl.principal, acl.host, acl.operation, acl.permission_type,
                                         ResourcePatternFilter(acl.resource_pattern.resource_type,
                                                               acl.resource_pattern.resource_name,
                                                               acl.resource_pattern.pattern_type))
                               for acl in stale])
            print(f"kafka: {len(stale)} ACLs no longer granted removed", file=sys.stderr)
        return len(acls)
    finally:
        admin.close()


def compose(nodes: list[str]) -> None:
    """Everything the compose project's services mount, made once and kept: NODE=NAME,NAME
    adds host names to the node's certificate (the test on this machine reaches it as
    localhost). The client files name the CA where each service mounts it
    (KAFKA_CLIENT_CA, default /etc/kafka/client/ca.pem)."""
    import shutil

    from tls import authority, node_keystore

    tls_dir = RUN / "tls"
    ca = authority(tls_dir)
    make_secrets()
    passwords = load()

    def mount(name: str, files: dict[str, str | Path]) -> None:
        target = RUN / "mounts" / name
        target.mkdir(parents=True, exist_ok=True)
        for file, content in files.items():
            path = target / file
            if isinstance(content, Path):
                shutil.copyfile(content, path)
            else:
                path.write_text(content)
            path.chmod(0o600)

    for spec in nodes:
        node, _, extra = spec.partition("=")
        keystore = node_keystore(tls_dir, node, [n for n in extra.split(",") if n])
        mount(node, {"node.pem": keystore, "ca.pem": ca, "broker.jaas": jaas("broker", passwords["broker"]),
                     "scram.args": "".join(f"SCRAM-SHA-512=[name={u},password={passwords[u]}]\n"
                                           for u in ("admin", "broker"))})
    # The services of the compose project, each with its own principal only; the console
    # sends each office's results as that office, so it holds the offices' files (no other).
    for user in ("admin", "router", "sink"):
        mount(user, {"client.properties": CLIENTS / f"{user}.properties", "ca.pem": ca})
    mount("console", {"ca.pem": ca, **{f"{user}.properties": CLIENTS / f"{user}.properties"
                                       for user in principals() if user.startswith("office-")}})
    print(f"kafka: compose secrets in {RUN} (nodes {', '.join(n.partition('=')[0] for n in nodes)})", file=sys.stderr)


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
    elif command == "rotate" and len(sys.argv) == 3:
        rotate(sys.argv[2])
    elif command == "compose" and len(sys.argv) > 2:
        compose(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
