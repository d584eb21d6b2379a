"""Certificates for the TLS tests, made in the test by trustme: a CA, a server certificate
for 127.0.0.1 and localhost, a client certificate, all as PEM files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate: what a client trusts
    server_cert: Path
    server_key: Path
    client_cert: Path  # certificate and key in one file
    other_ca: Path  # a CA that signed none of these


def make_certificates(directory: Path) -> Certificates:
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("herald-client.example")
    paths = Certificates(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        other_ca=directory / "other-ca.pem",
    )
    ca.cert_pem.write_to_path(paths.ca)
    other.cert_pem.write_to_path(paths.other_ca)
    server.private_key_pem.write_to_path(paths.server_key)
    for i, blob in enumerate(server.cert_chain_pems):
        blob.write_to_path(paths.server_cert, append=i > 0)
    client.private_key_and_cert_chain_pem.write_to_path(paths.client_cert)
    return paths
