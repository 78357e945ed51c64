"""A private certificate authority and a server certificate it signed.

Built with the ``openssl`` command line so that no Python package is needed.
Every call makes a new, unrelated CA: a client trusting one CA rejects the
certificate of another ("certificate not trusted" tests).
"""

import subprocess
from pathlib import Path

#: validity of the throw-away CA and certificate, in days
DAYS = "3650"


def _openssl(*args, cwd):
    subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def make_ca_and_cert(dirpath, name="localhost"):
    """Create ``ca.pem`` and a server key/certificate signed by it in ``dirpath``.

    The server certificate names ``DNS:<name>``, ``DNS:localhost`` and
    ``IP:127.0.0.1`` so that clients may connect by name or by address.

    :param dirpath: folder to write into (created if missing)
    :param str name: DNS name of the server certificate
    :return: dict with ``ca_pem`` (PEM text), ``ca_path``, ``cert_path`` and
        ``key_path`` (strings)
    """
    folder = Path(dirpath).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_path = folder / "ca.key", folder / "ca.pem"
    key_path, csr_path = folder / "server.key", folder / "server.csr"
    cert_path, ext_path = folder / "server.pem", folder / "server.ext"
    _openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS),
        *("-keyout", ca_key, "-out", ca_path),
        # the serial in the subject keeps two CAs apart even for humans
        *("-subj", f"/O=crm_mail_client test CA/CN=Test CA {folder.name}"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        cwd=folder,
    )
    _openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key_path),
        *("-out", csr_path, "-subj", f"/O=crm_mail_client test/CN={name}"),
        cwd=folder,
    )
    sans = dict.fromkeys([f"DNS:{name}", "DNS:localhost", "IP:127.0.0.1"])
    ext_path.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        # key identifiers: Python 3.13+ verifies with VERIFY_X509_STRICT
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        f"subjectAltName={','.join(sans)}\n"
    )
    _openssl(
        *("x509", "-req", "-in", csr_path, "-CA", ca_path, "-CAkey", ca_key),
        *("-CAcreateserial", "-days", DAYS, "-extfile", ext_path),
        *("-out", cert_path),
        cwd=folder,
    )
    key_path.chmod(0o600)
    ca_key.chmod(0o600)
    return {
        "ca_pem": ca_path.read_text(),
        "ca_path": str(ca_path),
        "cert_path": str(cert_path),
        "key_path": str(key_path),
    }
