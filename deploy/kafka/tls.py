"""TLS material for brokers that serve SASL_SSL (the compose project), made with openssl.

A private certificate authority per install signs one certificate per Kafka node: clients
verify the node against `ca.pem` (hostname included), and the nodes authenticate each other
on the controller listener with the same certificates (mutual TLS; KRaft controllers cannot
check SCRAM, which lives in the metadata they serve). Only node certificates are ever
issued, so a certificate this CA signed is a node.

Files (in DIR/tls, keys mode 600, made once and kept):
    ca.key, ca.pem           the authority (ca.key never leaves the secrets volume's maker)
    <node>.pem               the node's private key (PKCS#8, unencrypted), its certificate, the CA
                             -- Kafka's PEM keystore format (ssl.keystore.type=PEM)
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

DAYS = 825  # the longest validity clients commonly accept for a server certificate
CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


def openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise SystemExit(f"openssl {args[0]}: {lines[-1] if lines else f'exit {done.returncode}'}")


def authority(tls: Path) -> Path:
    """The install's CA, made on first use."""
    tls.mkdir(parents=True, exist_ok=True)
    tls.chmod(0o700)
    key, cert = tls / "ca.key", tls / "ca.pem"
    if not (key.exists() and cert.exists()):
        openssl("req", "-x509", *CURVE, "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(DAYS),
                "-subj", "/CN=complaints Kafka CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        key.chmod(0o600)
    return cert


def node_keystore(tls: Path, node: str, names: list[str]) -> Path:
    """`<node>.pem`: a key and a certificate for the node, CN = node, SAN = node and `names`
    (the host names clients reach it by), signed by the install's CA; made once."""
    pem = tls / f"{node}.pem"
    if pem.exists():
        return pem
    ca = authority(tls)
    with tempfile.TemporaryDirectory(dir=tls) as scratch:
        key, csr, cert, ext = (Path(scratch) / n for n in ("node.key", "node.csr", "node.crt", "ext.cnf"))
        sans = ",".join(f"IP:{n}" if n.replace(".", "").isdigit() else f"DNS:{n}" for n in dict.fromkeys([node, *names]))
        ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n")
        openssl("req", *CURVE, "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={node}")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(tls / "ca.key"),
                "-CAcreateserial", "-CAserial", str(tls / "ca.srl"), "-days", str(DAYS), "-out", str(cert),
                "-extfile", str(ext))
        pem.write_text(key.read_text() + cert.read_text() + ca.read_text())
    pem.chmod(0o600)
    return pem
