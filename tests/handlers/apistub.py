#!/usr/bin/env python3
"""apistub.py: stands in for the router's management API in the SDK's own
test, so that the libcurl client is checked byte for byte without a router.
It logs one line per request, "METHOD PATH CONTENT-TYPE BODY-HEX", and
answers as the contract says: 410 for the connection id "gone", 200
otherwise (a JSON body for GET, 204 for DELETE).

usage: apistub.py LOG (--port-file FILE | --unix PATH)
"""
import http.server
import os
import socketserver
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n > 0 else b""
        line = "%s %s %s %s\n" % (self.command, self.path,
                                  self.headers.get("Content-Type", "-"),
                                  body.hex() or "-")
        with self.server.lock:
            with open(self.server.log, "a") as f:
                f.write(line)

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def gone(self):
        return self.path.startswith("/@connections/gone")

    def do_POST(self):
        self.record()
        self.answer(410 if self.gone() else 200)

    def do_GET(self):
        self.record()
        if self.gone():
            self.answer(410)
        else:
            self.answer(200, b'{"connection_id":"%s"}' %
                        self.path.split("/")[-1].encode())

    def do_DELETE(self):
        self.record()
        self.answer(410 if self.gone() else 204)


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        sock, _ = super().get_request()
        return sock, ("unix", 0)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    log, how, where = sys.argv[1:]
    if how == "--unix":
        if os.path.exists(where):
            os.unlink(where)
        srv = UnixServer(where, Handler)
    else:
        srv = TCPServer(("127.0.0.1", 0), Handler)
        with open(where + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(where + ".tmp", where)
    srv.log = log
    srv.lock = threading.Lock()
    srv.serve_forever()


if __name__ == "__main__":
    main()
