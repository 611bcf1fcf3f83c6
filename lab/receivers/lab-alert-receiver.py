#!/usr/bin/python3
"""The lab's stand-in for a tenant's (or the operations team's) alert webhook.

Listens on ADDRESS:PORT and appends every notification Alertmanager POSTs, with the time
it came, as one JSON line to OUTPUT: tests/test_lab_monitoring.py reads what each receiver
got. Lab only: production receivers are the tenants' and the operations team's own tools.

    lab-alert-receiver ADDRESS PORT OUTPUT
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class Receiver(BaseHTTPRequestHandler):
    output = ""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self.send_error(413)
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_error(400)
            return
        line = json.dumps({"received": time.time(), "from": self.client_address[0], "body": body})
        with open(self.output, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def main(address: str, port: str, output: str) -> None:
    Receiver.output = output
    ThreadingHTTPServer((address, int(port)), Receiver).serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])
