"""llm.py: the chat handler's model client (handlers/chat/llm.c) over real
HTTP, through tests/handlers/llmprobe. Against the fake model server
(tools/wsrouter-fakellm): both providers' streams, text integrity,
mid-stream and HTTP errors, the three timeouts, the client going away
while the model streams or hangs (the server must see the close), and
twenty calls at once. Against a small server of this file's own: what the
fake does not do (the exact request body, surrogate pairs and UTF-8 bytes
split over events, the record and answer caps, a stream cut short, a
silent server, a huge error body)."""

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True

from harness import TOP_BUILDDIR, TOP_SRCDIR, Tap, scaled  # noqa: E402

FAKELLM = os.environ.get("FAKELLM") or os.path.join(
    TOP_SRCDIR, "tools", "wsrouter-fakellm")
LLMPROBE = os.environ.get("LLMPROBE") or os.path.join(
    TOP_BUILDDIR, "tests", "handlers", "llmprobe")
PYTHON3 = os.environ.get("PYTHON3") or sys.executable
KEY = "sk-test-0123456789abcdefSECRET"
MiB = 1024 * 1024


def probe(url, *args, provider="openai", timeout=20, key=None, **kw):
    """Run llmprobe once (or -j N times); the list of its JSON reports."""
    cmd = [LLMPROBE, "-p", provider, "-u", url, "-m", "fake-model"]
    env = dict(os.environ)
    env.pop("CHAT_LLM_API_KEY", None)
    if key is not None:
        env["CHAT_LLM_API_KEY"] = key
    for flag, value in kw.items():
        if value is True:
            cmd.append("-" + flag)
        elif value is not False and value is not None:
            cmd += ["-" + flag, str(value)]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=scaled(timeout),
                       env=env)
    assert p.returncode == 0, f"llmprobe exited {p.returncode}: {p.stderr!r}"
    out = p.stdout.decode()
    reports = [json.loads(line) for line in out.splitlines() if line]
    assert reports, f"no report; stderr {p.stderr!r}"
    for r in reports:
        r["stderr"] = p.stderr.decode(errors="replace")
    return reports


def one(url, *args, **kw):
    rs = probe(url, *args, **kw)
    assert len(rs) == 1, rs
    return rs[0]


class Fake:
    """tools/wsrouter-fakellm as a real process on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsr-llm-")
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [PYTHON3, FAKELLM, "--listen", "127.0.0.1:0", "--port-file",
             port_file], stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "fakellm.log"), "w"))
        deadline = time.monotonic() + scaled(10)
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                text = open(port_file).read()
                if text.endswith("\n"):
                    self.port = int(text)
                    break
            if self.proc.poll() is not None:
                raise RuntimeError("wsrouter-fakellm exited at start")
            time.sleep(0.05)
        else:
            raise RuntimeError("wsrouter-fakellm did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=scaled(10))
        c.request(method, path, body=json.dumps(body) if body else None)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def records(self):
        return self.call("GET", "/_fake/requests")[1]

    def last(self):
        return self.records()[-1]

    def done(self):
        """The newest record once the fake has finished with it: the
        client can read the end of a stream before the fake records it."""
        return self.record_when(lambda r: r["outcome"] is not None)

    def record_when(self, pred, wait=3):
        """The newest record once pred holds for it (bounded wait)."""
        deadline = time.monotonic() + scaled(wait)
        while True:
            r = self.last()
            if pred(r) or time.monotonic() > deadline:
                return r
            time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=scaled(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)


def sse(obj):
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def delta(content):
    return {"choices": [{"index": 0, "delta": {"content": content},
                         "finish_reason": None}]}


class Stub(http.server.BaseHTTPRequestHandler):
    """The odd cases, chosen by the first path segment of the base URL."""
    protocol_version = "HTTP/1.1"
    bodies = []

    def log_message(self, *a):
        pass

    def raw(self, status, ctype, chunks, end=True):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for c in chunks:
            if c:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                self.wfile.flush()
        if end:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        Stub.bodies.append({"path": self.path, "body": body,
                            "headers": dict(self.headers)})
        case = self.path.split("/")[1]
        es = "text/event-stream"
        if case == "split":
            # A surrogate pair and a UTF-8 character's bytes, each split
            # over two events; the raw bytes are not valid JSON text.
            chunks = [sse(delta("a")),
                      b'data: {"choices":[{"delta":{"content":"\\ud83d"}}]}'
                      b"\n\n",
                      b'data: {"choices":[{"delta":{"content":"\\ude00b"}}]}'
                      b"\n\n",
                      b'data: {"choices":[{"delta":{"content":"caf\xc3"}}]}'
                      b"\n\n",
                      b'data: {"choices":[{"delta":{"content":"\xa9 \xe2"}}]}'
                      b"\n\n",
                      b'data: {"choices":[{"delta":{"content":"\x82\xac"}}]}'
                      b"\n\n",
                      b'data: {"choices":[{"delta":{"content":"\xff!"}}]}'
                      b"\n\n",
                      sse({"choices": [{"delta": {},
                                        "finish_reason": "stop"}]}),
                      b"data: [DONE]\n\n"]
            # Cut the bytes anywhere: one byte an HTTP chunk.
            data = b"".join(chunks)
            self.raw(200, es, [data[i:i + 1] for i in range(len(data))])
        elif case == "longline":
            self.raw(200, es, [sse(delta("ok")),
                               b"data: " + b"x" * MiB + b"\n\n"])
        elif case == "longndjson":
            self.raw(200, "application/x-ndjson",
                     [b'{"message":{"content":"ok"},"done":false}\n',
                      b" " * (MiB + 1) + b"\n"])
        elif case == "biganswer":
            piece = "y" * (900 * 1024)
            self.raw(200, es, [sse(delta(piece)) for _ in range(6)] +
                     [b"data: [DONE]\n\n"])
        elif case == "cut":
            self.raw(200, es, [sse(delta("half an answer"))])
        elif case == "nodone":
            self.raw(200, es, [sse(delta("whole")),
                               sse({"choices": [{"delta": {},
                                                 "finish_reason": "stop"}]})])
        elif case == "garbage":
            self.raw(200, es, [sse(delta("x")), b"data: {not json\n\n"])
        elif case == "silent":
            time.sleep(scaled(3))
        elif case == "hugeerror":
            self.raw(502, "application/json",
                     [b'{"error":{"message":"' + b"e" * 4096 + b'"}}'] +
                     [b" " * 65536 for _ in range(16)])
        elif case == "keyecho":
            self.raw(200, es, [sse({"error": {
                "message": f"Incorrect API key provided: {KEY}, also "
                           "sk-other-key9 (task-force)"}})])
        elif case == "html":
            self.raw(502, "text/html", [b"<html>Bad Gateway</html>"])
        elif case == "ollama":
            self.raw(200, "application/x-ndjson",
                     [b'{"message":{"content":"hi"},"done":false}\n',
                      b'{"message":{"content":""},"done":true,'
                      b'"eval_count":1}\n'])
        else:
            self.raw(200, es, [sse(delta("ok")), b"data: [DONE]\n\n"])


class StubServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # the client hanging up on purpose is no error here


def main():
    if not os.access(LLMPROBE, os.X_OK):
        print(f"1..0 # SKIP {LLMPROBE} is not built")
        return 0
    if not os.path.exists(FAKELLM):
        print(f"1..0 # SKIP {FAKELLM} is missing")
        return 0
    fake = Fake()
    stub = StubServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub_url = f"http://127.0.0.1:{stub.server_address[1]}"
    tap = Tap()
    f = fake.url

    @tap.case("openai: a whole answer, the request as recorded")
    def _():
        r = one(f, "user:Hi there [[fake tokens=12 tps=0 multibyte nul]]",
                s="You are kind.", t=0.25, n=12, key=KEY)
        rec = fake.done()
        assert r["status"] == "ok" and r["rv"] == 0, r
        assert r["http_status"] == 200, r
        assert r["bad_chunks"] == 0 and r["chunks"] > 0, r
        assert "\0" in rec["text_sent"], "the fake sent no U+0000"
        assert r["text"] == rec["text_sent"].replace("\0", ""), \
            (r["text"], rec["text_sent"])
        assert r["tokens"] == 12 and r["pieces"] == 12, r
        assert rec["path"] == "/v1/chat/completions", rec
        assert rec["model"] == "fake-model" and rec["stream"] is True, rec
        assert rec["max_tokens"] == 12 and rec["temperature"] == 0.25, rec
        assert rec["auth"] is True, rec
        assert [m["role"] for m in rec["messages"]] == ["system", "user"]
        assert rec["messages"][0]["content"] == "You are kind."
        assert rec["outcome"] == "complete", rec

    @tap.case("ollama: a whole answer, eval_count, /api/chat")
    def _():
        r = one(f, "user:[[fake tokens=9 tps=0 multibyte nul]]",
                provider="ollama", n=9)
        rec = fake.done()
        assert r["status"] == "ok", r
        assert r["text"] == rec["text_sent"].replace("\0", ""), r
        assert r["bad_chunks"] == 0 and r["tokens"] == 9, r
        assert rec["path"] == "/api/chat" and rec["provider"] == "ollama"
        assert rec["max_tokens"] == 9 and rec["auth"] is False, rec

    @tap.case("openai: a base URL ending in /v1/ gets no second /v1")
    def _():
        r = one(f + "/v1/", "user:[[fake tokens=3 tps=0]]")
        assert r["status"] == "ok", r
        assert fake.last()["path"] == "/v1/chat/completions"

    @tap.case("max_tokens cuts the answer (finish length is still ok)")
    def _():
        r = one(f, "user:[[fake tokens=30 tps=0]]", n=4)
        assert r["status"] == "ok" and r["pieces"] == 4, r

    @tap.case("a mid-stream error, both providers")
    def _():
        for prov in ("openai", "ollama"):
            r = one(f, "user:[[fake tokens=10 tps=0 error_after=3]]",
                    provider=prov)
            assert r["status"] == "upstream_error" and r["rv"] == -1, r
            assert r["pieces"] == 3 and r["chunks"] == 3, r
            assert "fake error after 3 tokens" in r["error"], r
            assert r["text"] == fake.done()["text_sent"], r

    @tap.case("HTTP errors: the provider's message, the status")
    def _():
        r = one(f, "user:[[fake http_status=429]]")
        assert r["status"] == "upstream_error", r
        assert r["http_status"] == 429 and "HTTP 429" in r["error"], r
        assert "Rate limit" in r["error"], r
        r = one(f, "user:[[fake http_status=500]]", provider="ollama")
        assert r["http_status"] == 500 and r["pieces"] == 0, r
        assert "error was encountered" in r["error"], r

    @tap.case("a wrong key: 401 without the key in any output")
    def _():
        fake.call("POST", "/_fake/config", {"api_key": "sk-right-key-1"})
        try:
            r = one(f, "user:hi", key=KEY, v=True)
            assert r["status"] == "upstream_error", r
            assert r["http_status"] == 401, r
            assert "credentials" in r["error"], r
            assert KEY not in json.dumps(r), "the key is in the output"
            assert KEY[8:] not in r["stderr"], "the key is in the log"
            r = one(f, "user:[[fake tokens=2 tps=0]]", key="sk-right-key-1")
            assert r["status"] == "ok", r
        finally:
            fake.call("POST", "/_fake/config", {"api_key": None})

    @tap.case("the client goes away while the model hangs: closed at once")
    def _():
        for pending in (False, True):
            r = one(f, "user:[[fake tokens=10 tps=100 hang_after=2]]",
                    c=400, D=pending)
            assert r["status"] == "cancelled", r
            assert r["pieces"] == 2, r
            back = (r["return_ns"] - r["cancel_ns"]) / 1e6
            assert back < scaled(150), f"returned {back:.0f} ms after"
            rec = fake.record_when(lambda x: x["closed_ns"] is not None)
            assert rec["closed_ns"] is not None, rec
            seen = (rec["closed_ns"] - r["cancel_ns"]) / 1e6
            assert seen < scaled(1000), f"the fake saw it {seen:.0f} ms after"
            assert rec["outcome"] == "client_closed", rec

    @tap.case("the client goes away mid-stream; the callback's -1 stops too")
    def _():
        r = one(f, "user:[[fake tokens=200 tps=100]]", P=3)
        assert r["status"] == "cancelled" and r["pieces"] == 3, r
        rec = fake.record_when(lambda x: x["closed_ns"] is not None)
        assert (rec["closed_ns"] - r["cancel_ns"]) / 1e6 < scaled(1000), rec
        assert rec["tokens_sent"] < 200, rec
        r = one(f, "user:[[fake tokens=200 tps=100]]", x=2)
        assert r["status"] == "cancelled" and r["chunks"] == 2, r
        assert "stopped" in r["error"], r
        rec = fake.record_when(lambda x: x["outcome"] != "complete" and
                               x["closed_ns"] is not None)
        assert rec["tokens_sent"] < 200, rec

    @tap.case("first-token timeout")
    def _():
        t0 = time.monotonic()
        r = one(f, "user:[[fake tokens=3 first_token_delay_ms=5000]]",
                F=300)
        took = time.monotonic() - t0
        assert r["status"] == "timeout" and r["pieces"] == 0, r
        assert "300 ms" in r["error"], r
        assert took < scaled(2), took
        rec = fake.record_when(lambda x: x["closed_ns"] is not None)
        assert rec["closed_ns"] is not None, rec

    @tap.case("stall timeout after the first pieces")
    def _():
        r = one(f, "user:[[fake tokens=10 tps=100 hang_after=3]]", S=300)
        assert r["status"] == "timeout" and r["pieces"] == 3, r
        assert "stalled" in r["error"], r
        r = one(f, "user:[[fake tokens=5 tps=10]]", S=1000)
        assert r["status"] == "ok", r

    @tap.case("unreachable, and a connect that times out")
    def _():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = one(f"http://127.0.0.1:{port}")
        assert r["status"] == "unreachable", r
        # A listener that accepts nothing, its queue full: SYNs go
        # unanswered, so connect() waits.
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        fill = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(lst.getsockname())
            fill.append(c)
        try:
            t0 = time.monotonic()
            r = one("http://127.0.0.1:%d" % lst.getsockname()[1], C=300)
            took = time.monotonic() - t0
            assert r["status"] == "timeout", r
            assert "connect" in r["error"], r
            assert took < scaled(2), took
        finally:
            for c in fill:
                c.close()
            lst.close()

    @tap.case("twenty calls at once, all intact")
    def _():
        rs = probe(f, "user:[[fake tokens=60 tps=100 multibyte]]", j=20)
        assert len(rs) == 20
        texts = {r["text"] for r in rs}
        assert all(r["status"] == "ok" for r in rs), rs
        assert all(r["bad_chunks"] == 0 and r["pieces"] == 60 for r in rs)
        recs = fake.records()[-20:]
        assert texts == {x["text_sent"] for x in recs}, texts
        assert len(texts) == 1

    @tap.case("stub: the exact request bodies and headers")
    def _():
        Stub.bodies.clear()
        one(stub_url + "/plain", "user:hi", s="sys", t=0.5, n=7, key=KEY)
        one(stub_url + "/ollama", "user:hi", provider="ollama", t=0.5, n=7)
        a, b = Stub.bodies
        assert a["path"] == "/plain/v1/chat/completions", a
        assert json.loads(a["body"]) == {
            "model": "fake-model",
            "messages": [{"role": "system", "content": "sys"},
                         {"role": "user", "content": "hi"}],
            "stream": True, "stream_options": {"include_usage": True},
            "temperature": 0.5, "max_tokens": 7}, a["body"]
        assert a["headers"]["Authorization"] == "Bearer " + KEY
        assert a["headers"]["Accept"] == "text/event-stream"
        assert a["headers"]["Content-Type"] == "application/json"
        assert b["path"] == "/ollama/api/chat", b
        assert json.loads(b["body"]) == {
            "model": "fake-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "options": {"temperature": 0.5, "num_predict": 7}}, b["body"]
        assert "Authorization" not in b["headers"]
        assert b["headers"]["Accept"] == "application/x-ndjson"

    @tap.case("stub: split surrogate pair and split UTF-8 bytes are joined")
    def _():
        r = one(stub_url + "/split")
        assert r["status"] == "ok", r
        assert r["text"] == "a\U0001F600bcaf\u00e9 \u20ac\ufffd!", r["text"]
        assert r["bad_chunks"] == 0, r

    @tap.case("stub: a record over 1 MiB is a malformed stream")
    def _():
        r = one(stub_url + "/longline")
        assert r["status"] == "upstream_error", r
        assert "malformed" in r["error"] and r["text"] == "ok", r
        r = one(stub_url + "/longndjson", provider="ollama")
        assert r["status"] == "upstream_error", r
        assert "malformed" in r["error"], r
        r = one(stub_url + "/garbage")
        assert r["status"] == "upstream_error", r
        assert "malformed" in r["error"], r

    @tap.case("stub: an answer past 4 MiB stops there, as length")
    def _():
        r = one(stub_url + "/biganswer")
        assert r["status"] == "ok", r
        assert r["text_bytes"] == 4 * MiB, r["text_bytes"]

    @tap.case("stub: a stream cut short; one without [DONE] but finished")
    def _():
        r = one(stub_url + "/cut")
        assert r["status"] == "upstream_error", r
        assert "before the answer was complete" in r["error"], r
        assert r["text"] == "half an answer", r
        r = one(stub_url + "/nodone")
        assert r["status"] == "ok" and r["text"] == "whole", r

    @tap.case("stub: a server that never answers: first-token timeout")
    def _():
        r = one(stub_url + "/silent", F=300)
        assert r["status"] == "timeout" and r["http_status"] == 0, r

    @tap.case("stub: error bodies: capped, or not JSON")
    def _():
        t0 = time.monotonic()
        r = one(stub_url + "/hugeerror")
        assert r["status"] == "upstream_error", r
        assert r["http_status"] == 502, r
        assert "HTTP 502" in r["error"], r
        assert len(r["error"]) < 256, r
        assert time.monotonic() - t0 < scaled(5)
        r = one(stub_url + "/html")
        assert r["error"] == "the model server answered HTTP 502", r

    @tap.case("stub: keys quoted back by the server are blanked")
    def _():
        r = one(stub_url + "/keyecho", key=KEY)
        assert r["status"] == "upstream_error", r
        assert "Incorrect API key provided" in r["error"], r
        assert KEY not in r["error"] and "sk-other" not in r["error"], r
        assert "key9" not in r["error"], r
        assert "(task-force)" in r["error"], r

    try:
        failed = tap.run()
    finally:
        stub.shutdown()
        fake.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
