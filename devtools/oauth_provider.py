"""A local OAuth2 provider for tests and the demo: the one stand-in for
Google, Microsoft, Yandex or Mail.ru (their token endpoints cannot be reached
here); the mail servers that check its tokens are real (Dovecot asks this
provider's introspection endpoint, the SMTP peer does the same).

Endpoints (loopback only):

- ``GET /authorize``: consents at once, as ``login_hint`` (or the default
  user), and redirects to ``redirect_uri`` with ``code`` and ``state``
- ``POST /token``: ``grant_type=authorization_code`` (``code``) or
  ``refresh_token`` (``refresh_token``): a new access token, and a refresh
  token for the first grant; ``400 invalid_grant`` for a revoked, unknown or
  used code or refresh token
- ``POST /introspect`` (``token=...``): RFC 7662 ``{"active": ..., "username": ...}``
- ``POST /revoke`` (``token=...``): revokes an access or refresh token

Its state is one JSON file, changed under a file lock, so tests (in another
process) can issue, expire and revoke tokens with :class:`TokenStore`.

CLI: ``python -m devtools.oauth_provider --port P --store FILE``
"""

import argparse
import contextlib
import fcntl
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

LOOPBACK = "127.0.0.1"
#: lifetime of an access token unless the store says otherwise
EXPIRES_IN = 3600


class TokenStore:
    """The provider's tokens in a JSON file: ``access``, ``refresh`` and
    ``codes`` map a token to ``{"username", "revoked"}`` (plus ``expires``
    for access tokens); ``default_user`` and ``expires_in`` are settings."""

    def __init__(self, path):
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self.path.read_text()) if self.path.exists() else {}
            except ValueError:
                data = {}
            for key in ("access", "refresh", "codes"):
                data.setdefault(key, {})
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)

    def read(self):
        with self._locked() as data:
            return data

    def settings(self, **values):
        """Set ``default_user`` and/or ``expires_in``."""
        with self._locked() as data:
            data.update(values)

    def issue(self, username, expires_in=None):
        """A new access token (and a refresh token) for ``username``.

        :return: ``(access_token, refresh_token)``
        """
        with self._locked() as data:
            access = self._access(data, username, expires_in)
            refresh = "r-" + secrets.token_urlsafe(16)
            data["refresh"][refresh] = {"username": username, "revoked": False}
            return access, refresh

    def code(self, username):
        """A one-time authorization code consenting as ``username``."""
        with self._locked() as data:
            code = "c-" + secrets.token_urlsafe(12)
            data["codes"][code] = {"username": username, "revoked": False}
            return code

    def revoke(self, token):
        """Revoke an access, refresh token or code; unknown: ignored."""
        with self._locked() as data:
            for kind in ("access", "refresh", "codes"):
                if token in data[kind]:
                    data[kind][token]["revoked"] = True

    def revoke_user(self, username):
        """Revoke every token of ``username`` (the user withdrew consent)."""
        with self._locked() as data:
            for kind in ("access", "refresh", "codes"):
                for entry in data[kind].values():
                    if entry["username"] == username:
                        entry["revoked"] = True

    def expire(self, token):
        """Make an access token expired now."""
        with self._locked() as data:
            if token in data["access"]:
                data["access"][token]["expires"] = 0

    @staticmethod
    def _access(data, username, expires_in=None):
        lifetime = expires_in or data.get("expires_in") or EXPIRES_IN
        token = "a-" + secrets.token_urlsafe(16)
        data["access"][token] = {
            "username": username,
            "revoked": False,
            "expires": int(time.time()) + lifetime,
        }
        return token

    def grant(self, grant_type, values):
        """The token endpoint's answer: ``(status, body)``."""
        with self._locked() as data:
            if grant_type == "authorization_code":
                entry = data["codes"].get(values.get("code", ""))
                if not entry or entry["revoked"]:
                    return 400, {"error": "invalid_grant"}
                entry["revoked"] = True  # a code is used once
                refresh = "r-" + secrets.token_urlsafe(16)
                data["refresh"][refresh] = {
                    "username": entry["username"],
                    "revoked": False,
                }
            elif grant_type == "refresh_token":
                refresh = values.get("refresh_token", "")
                entry = data["refresh"].get(refresh)
                if not entry or entry["revoked"]:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    }
            else:
                return 400, {"error": "unsupported_grant_type"}
            access = self._access(data, entry["username"])
            body = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": data["access"][access]["expires"] - int(time.time()),
                "refresh_token": refresh,
            }
            return 200, body

    def introspect(self, token):
        """RFC 7662: whether ``token`` is a live access token, and whose."""
        entry = self.read()["access"].get(token)
        if not entry or entry["revoked"] or entry["expires"] < time.time():
            return {"active": False}
        return {"active": True, "username": entry["username"]}


class Handler(BaseHTTPRequestHandler):
    store = None  # set by serve()

    def log_message(self, *args):  # quiet: tests read the store, not logs
        pass

    def _reply(self, status, body, headers=None):
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path != "/authorize" or not query.get("redirect_uri"):
            return self._reply(404, {"error": "not_found"})
        user = query.get("login_hint") or self.store.read().get("default_user")
        if not user:
            return self._reply(400, {"error": "access_denied"})
        code = self.store.code(user)
        target = (
            query["redirect_uri"]
            + "?"
            + urlencode({"code": code, "state": query.get("state", "")})
        )
        return self._reply(302, {}, {"Location": target})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        if path == "/token":
            status, body = self.store.grant(form.get("grant_type"), form)
            return self._reply(status, body)
        if path == "/introspect":
            return self._reply(200, self.store.introspect(form.get("token", "")))
        if path == "/revoke":
            self.store.revoke(form.get("token", ""))
            return self._reply(200, {})
        return self._reply(404, {"error": "not_found"})


def serve(port, store_path):
    """Serve until killed."""
    Handler.store = TokenStore(store_path)
    server = ThreadingHTTPServer((LOOPBACK, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main(argv=None):
    parser = argparse.ArgumentParser(description="A local OAuth2 provider.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
