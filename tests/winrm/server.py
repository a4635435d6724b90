"""The stand-in's HTTP(S) side: one listener per Windows host, on 127.0.0.1 only.

Authentication as a default WinRM listener does it: Basic (only when the host's
scenario enables it, and only over HTTPS here) or NTLM through `Negotiate`, with the
acceptor from pyspnego and SPNEGO message encryption on plain HTTP — unencrypted SOAP
over HTTP is refused, as `AllowUnencrypted=false` does. The NTLM handshake binds to the
TCP connection: later requests on it carry no Authorization header, so the connection
must stay open (HTTP/1.1 keep-alive) and a rejected password gets a 401, not a reset.
"""

from __future__ import annotations

import base64
import hmac
import ssl
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import spnego
from spnego.exceptions import SpnegoError

from tests.winrm import wsman
from tests.winrm.shells import Service

BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"


class HostServer(ThreadingHTTPServer):
    """One stand-in host's listener (its own port, as every real host has its own address)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        port: int,
        service: Service,
        *,
        auth: str,
        user: str,
        password: str,
        tls: ssl.SSLContext | None,
        silent: bool,
    ) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.service, self.auth, self.user, self.password = service, auth, user, password
        self.tls, self.silent = tls, silent

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.silent:  # accepts TCP, never answers: a hung WinRM service
            request.settimeout(120)
            try:
                while request.recv(65536):
                    pass
            except OSError:
                return
            return
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):  # the client refused our certificate
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-request is normal here (timeouts are tested)."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body in one segment (else Nagle + delayed ACK: ~40 ms)
    server: HostServer

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None
        self.authenticated = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.lower() != "/wsman":
            self._send(404, b"", {})
            return
        if self.server.auth == "basic":
            self._basic(body)
        else:
            self._negotiate(body)

    def _basic(self, body: bytes) -> None:
        # ISO-8859-1, as requests (and RFC 2617) encode Basic credentials
        credentials = f"{self.server.user}:{self.server.password}".encode("latin-1")
        expected = base64.b64encode(credentials).decode()
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Basic {expected}".encode()):
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        self._soap(body, encrypt=False)

    def _negotiate(self, body: bytes) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme in ("Negotiate", "NTLM") and token:
            raw = base64.b64decode(token)
            if raw[8:12] == struct.pack("<I", 1) or self.ntlm is None:  # a new handshake
                self.ntlm, self.authenticated = spnego.server(protocol="ntlm"), False
            try:
                answer = self.ntlm.step(raw)
            except SpnegoError:
                self.ntlm = None
                self._send(401, b"", {"WWW-Authenticate": "Negotiate"})
                return
            if not self.ntlm.complete:
                challenge = base64.b64encode(answer or b"").decode()
                self._send(401, b"", {"WWW-Authenticate": f"{scheme} {challenge}"})
                return
            self.authenticated = True
        if not self.authenticated:
            self._send(401, b"", {"WWW-Authenticate": "Negotiate"})
            return
        if not body:  # pywinrm's empty POST that completes the handshake
            self._send(200, b"", {})
            return
        if not self.headers.get("Content-Type", "").startswith("multipart/encrypted"):
            self._send(500, b"", {})  # AllowUnencrypted=false
            return
        self._soap(self._unwrap(body), encrypt=True)

    def _soap(self, payload: bytes, *, encrypt: bool) -> None:
        relates_to = ""
        try:
            relates_to = wsman.Request.parse(payload).message_id
            status, reply = 200, self.server.service.handle(payload, self.server.user)
        except wsman.Fault as fault:
            status, reply = (
                500,
                wsman.fault_envelope(fault, relates_to, self.server.service.machine),
            )
        if encrypt:
            self._send(status, *self._wrap(reply))
        else:
            self._send(status, reply, {"Content-Type": "application/soap+xml;charset=UTF-8"})

    def _unwrap(self, body: bytes) -> bytes:
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        payload = parts[1].removesuffix(BOUNDARY + b"--\r\n")
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        size = struct.unpack("<i", payload[:4])[0]
        return bytes(self.ntlm.unwrap_winrm(payload[4 : 4 + size], payload[4 + size :]))

    def _wrap(self, plain: bytes) -> tuple[bytes, dict[str, str]]:
        wrapped = self.ntlm.wrap_winrm(plain)
        body = (
            BOUNDARY + b"\r\n"
            b"\tContent-Type: " + SPNEGO_ENCRYPTED.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(plain)).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(wrapped.header))
            + wrapped.header
            + wrapped.data
            + BOUNDARY
            + b"--\r\n"
        )
        content_type = (
            f'multipart/encrypted;protocol="{SPNEGO_ENCRYPTED}";boundary="Encrypted Boundary"'
        )
        return body, {"Content-Type": content_type}

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Server", "Microsoft-HTTPAPI/2.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
