"""What the pure tests' HTTP servers on 127.0.0.1 share."""

import socket
from http.server import BaseHTTPRequestHandler


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive request handler that answers without delay and logs nothing."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body are written separately: without this a reused connection
        # stalls ~40 ms per request (Nagle + delayed ACK).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass
