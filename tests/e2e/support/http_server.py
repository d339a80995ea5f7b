#!/usr/bin/env python3
"""A small HTTP server for end-to-end tests, on 127.0.0.1 and a free port.

Every request is appended to a log (one line: METHOD PATH) before the reply, so tests can
count side effects. Paths:
  /json?delay=S        {"ok": true, "path": ..., "n": <request count>} after S seconds
  /status/CODE         that status code, with a JSON body
  /echo                the request body back as JSON {"body": ...}
  /redirect?to=URL     302 to URL (code=N for another 3xx)
Usage: http_server.py PORT_FILE LOG_FILE [HEADER_LOG]
With HEADER_LOG, every request is also appended there as a JSON line {"path", "headers"}, so
a test can check which headers reached this server (e.g. none carrying a credential).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

port_file, log_file = sys.argv[1], sys.argv[2]
header_log = sys.argv[3] if len(sys.argv) > 3 else None
lock = threading.Lock()
count = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        global count
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        with lock:
            count += 1
            n = count
            with open(log_file, "a") as f:
                f.write(f"{self.command} {self.path}\n")
            if header_log:
                with open(header_log, "a") as f:
                    f.write(json.dumps({"path": self.path, "headers": dict(self.headers.items())}) + "\n")
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path.startswith("/status/"):
            return self.reply(int(url.path.split("/")[2]), {"status": url.path})
        if url.path == "/redirect":
            self.send_response(int(query.get("code", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if url.path == "/echo":
            return self.reply(200, {"body": body})
        time.sleep(float(query.get("delay", ["0"])[0]))
        return self.reply(200, {"ok": True, "path": self.path, "n": n})

    do_GET = do_POST = do_PUT = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients killed mid-request (crash tests) are expected


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
