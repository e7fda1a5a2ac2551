"""fakellm.py: the fake model server, tools/wsrouter-fakellm, run as a real
process on a free port and spoken to over raw HTTP: the byte formats of
the OpenAI SSE and Ollama NDJSON streams, max_tokens, pacing, errors,
hangs and a client's close, settings and directives, auth, the body cap
and the request records."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True

from harness import TIME_SCALE, TOP_SRCDIR, Tap  # noqa: E402

FAKELLM = os.environ.get("FAKELLM") or os.path.join(
    TOP_SRCDIR, "tools", "wsrouter-fakellm")
PYTHON3 = os.environ.get("PYTHON3") or sys.executable

CHUNK_KEYS = ["id", "object", "created", "model", "system_fingerprint",
              "choices"]
CHOICE_KEYS = ["index", "delta", "logprobs", "finish_reason"]
OLLAMA_KEYS = ["model", "created_at", "message", "done"]
OLLAMA_DONE_KEYS = ["model", "created_at", "message", "done_reason", "done",
                    "total_duration", "load_duration", "prompt_eval_count",
                    "prompt_eval_duration", "eval_count", "eval_duration"]
RECORD_KEYS = {"id", "path", "provider", "model", "stream", "messages",
               "max_tokens", "temperature", "auth", "started_ns",
               "first_token_ns", "last_token_ns", "tokens_sent", "text_sent",
               "outcome", "closed_ns", "ended_ns"}
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


class Fake:
    """The server as a child process on a free port, with its log file."""

    def __init__(self, *flags):
        self.dir = tempfile.mkdtemp(prefix="fakellm.")
        self.port_file = os.path.join(self.dir, "port")
        self.log = os.path.join(self.dir, "requests.ndjson")
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            [PYTHON3, FAKELLM, "--listen", "127.0.0.1:0", "--port-file",
             self.port_file, "--log", self.log, *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.stderr)
        end = time.monotonic() + 10 * TIME_SCALE
        while not (os.path.exists(self.port_file) and
                   open(self.port_file).read().endswith("\n")):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError("wsrouter-fakellm did not start: "
                                   + self.err())
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())

    def err(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10 * TIME_SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout * TIME_SCALE)

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes) of one request."""
        c = self.conn()
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            c.request(method, path, body, headers or {})
            r = c.getresponse()
            return r.status, r, r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        status, _, data = self.request(method, path, body, headers)
        return status, json.loads(data)

    def records(self, since=0):
        status, recs = self.json("GET", f"/_fake/requests?since={since}")
        assert status == 200, status
        return recs

    def record(self, rid):
        recs = [r for r in self.records(rid - 1) if r["id"] == rid]
        assert len(recs) == 1, (rid, recs)
        return recs[0]

    def wait_record(self, rid, timeout=3):
        """The record once it has an outcome."""
        end = time.monotonic() + timeout * TIME_SCALE
        while True:
            r = self.record(rid)
            if r["outcome"] is not None:
                return r
            assert time.monotonic() < end, f"request {rid} did not end: {r}"
            time.sleep(0.02)


def chat(provider, text, **extra):
    body = {"model": "test-model",
            "messages": [{"role": "system", "content": "Be kind."},
                         {"role": "user", "content": text}]}
    body.update(extra)
    path = "/v1/chat/completions" if provider == "openai" else "/api/chat"
    return path, json.dumps(body, ensure_ascii=False).encode("utf-8")


def stream(fake, provider, text, headers=None, **extra):
    """Send a chat request and read the stream piece by piece: returns
    (response, [(raw piece bytes, wall ns at arrival)], request wall ns).
    An OpenAI piece is one SSE event with its blank line, an Ollama piece
    one NDJSON line."""
    path, body = chat(provider, text, **extra)
    c = fake.conn()
    t0 = time.time_ns()
    c.request("POST", path, body,
              {"Content-Type": "application/json", **(headers or {})})
    r = c.getresponse()
    pieces = []
    for _ in range(100000):
        line = r.readline()
        if not line:
            break
        if provider == "openai":
            assert line.startswith(b"data: "), line
            blank = r.readline()
            assert blank == b"\n", (line, blank)
            line += blank
        pieces.append((line, time.time_ns()))
    c.close()
    return r, pieces, t0


def sse_events(pieces):
    out = []
    for raw, _ in pieces:
        assert raw.endswith(b"\n\n") and raw.count(b"\n") == 2, raw
        payload = raw[len(b"data: "):-2]
        out.append(payload if payload == b"[DONE]" else json.loads(payload))
    return out


def compact(obj):
    return json.dumps(obj, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def rid_of(r):
    return int(r.getheader("X-Fake-Request-Id"))


tap = Tap()


@tap.case("OpenAI stream: every SSE event byte for byte, usage, [DONE]")
def _(fake):
    r, pieces, _ = stream(fake, "openai", "hello [[fake tokens=6 tps=0]]",
                          stream=True,
                          stream_options={"include_usage": True})
    assert r.status == 200, r.status
    assert r.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert r.getheader("Transfer-Encoding") == "chunked"
    ev = sse_events(pieces)
    assert ev[-1] == b"[DONE]", ev[-1]
    assert pieces[-1][0] == b"data: [DONE]\n\n"
    chunks = ev[:-1]
    assert len(chunks) == 1 + 6 + 1 + 1, len(chunks)
    for (raw, _), c in zip(pieces, chunks):
        # Compact JSON, raw UTF-8: the bytes re-encode to themselves.
        assert raw == b"data: " + compact(c) + b"\n\n", raw
        assert list(c)[:6] == CHUNK_KEYS, list(c)
        assert c["object"] == "chat.completion.chunk"
        assert c["model"] == "test-model"
        assert c["system_fingerprint"] == "fp_fake"
        assert c["id"] == chunks[0]["id"]
        assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", c["id"]), c["id"]
        assert "usage" in c and (c["usage"] is None) == (c is not chunks[-1])
    first, tokens, stop, usage = chunks[0], chunks[1:7], chunks[7], chunks[8]
    assert first["choices"] == [{"index": 0, "delta": {
        "role": "assistant", "content": ""}, "logprobs": None,
        "finish_reason": None}], first
    for t in tokens:
        (ch,) = t["choices"]
        assert list(ch) == CHOICE_KEYS, ch
        assert list(ch["delta"]) == ["content"] and ch["delta"]["content"]
        assert ch["finish_reason"] is None and ch["logprobs"] is None
    assert stop["choices"] == [{"index": 0, "delta": {}, "logprobs": None,
                                "finish_reason": "stop"}], stop
    assert usage["choices"] == [], usage
    u = usage["usage"]
    assert u["completion_tokens"] == 6, u
    assert u["prompt_tokens"] > 0 and \
        u["total_tokens"] == u["prompt_tokens"] + 6, u
    text = "".join(t["choices"][0]["delta"]["content"] for t in tokens)
    rec = fake.wait_record(rid_of(r))
    assert rec["text_sent"] == text and rec["tokens_sent"] == 6, rec
    assert rec["outcome"] == "complete" and rec["provider"] == "openai"
    # Tokens carry their leading space, as real tokenizers' do.
    assert all(t["choices"][0]["delta"]["content"].startswith(" ")
               for t in tokens[1:]), tokens

    # Without include_usage: no usage chunk and no usage member.
    r, pieces, _ = stream(fake, "openai", "[[fake tokens=3 tps=0]]",
                          stream=True)
    ev = sse_events(pieces)
    assert ev[-1] == b"[DONE]" and len(ev) == 1 + 3 + 1 + 1, ev
    assert all("usage" not in c for c in ev[:-1]), ev
    assert ev[-2]["choices"][0]["finish_reason"] == "stop"


@tap.case("Ollama stream: NDJSON lines byte for byte and the done line")
def _(fake):
    r, pieces, _ = stream(fake, "ollama", "hi <b> & [[fake tokens=5 tps=0]]")
    assert r.status == 200, r.status
    assert r.getheader("Content-Type") == "application/x-ndjson"
    assert r.getheader("Transfer-Encoding") == "chunked"
    lines = [raw for raw, _ in pieces]
    assert len(lines) == 6, lines
    objs = [json.loads(x) for x in lines]
    for raw, o in zip(lines, objs):
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw
        assert raw == compact(o) + b"\n", raw
        assert GO_TIME.match(o["created_at"]), o["created_at"]
        assert o["model"] == "test-model"
    for o in objs[:-1]:
        assert list(o) == OLLAMA_KEYS, list(o)
        assert o["done"] is False and o["message"]["role"] == "assistant"
    done = objs[-1]
    assert list(done) == OLLAMA_DONE_KEYS, list(done)
    assert done["done"] is True and done["done_reason"] == "stop"
    assert done["message"] == {"role": "assistant", "content": ""}
    assert done["eval_count"] == 5, done
    for k in OLLAMA_DONE_KEYS[5:]:
        assert isinstance(done[k], int) and done[k] > 0, (k, done)
    text = "".join(o["message"]["content"] for o in objs[:-1])
    rec = fake.wait_record(rid_of(r))
    assert rec["text_sent"] == text and rec["outcome"] == "complete", rec
    assert rec["stream"] is True and rec["provider"] == "ollama", rec

    # Go escapes <, > and & in JSON strings; so does the fake.
    r, pieces, _ = stream(fake, "ollama", "a <b> & c [[fake echo tps=0]]")
    raw = b"".join(p for p, _ in pieces)
    for esc in (b"\\u003c", b"\\u003e", b"\\u0026"):
        assert esc in raw, (esc, raw)
    assert b"<" not in raw and b"&" not in raw, raw
    text = "".join(json.loads(p)["message"]["content"] for p, _ in pieces)
    assert text == "a <b> & c", text


@tap.case("stream false: one chat.completion, one Ollama object")
def _(fake):
    status, r, data = fake.request(
        "POST", *chat("openai", "[[fake tokens=4 tps=0]]"))
    assert status == 200 and r.getheader("Content-Type") == \
        "application/json", (status, r.getheaders())
    o = json.loads(data)
    assert o["object"] == "chat.completion" and o["model"] == "test-model"
    (ch,) = o["choices"]
    assert ch["message"]["role"] == "assistant"
    assert ch["finish_reason"] == "stop"
    assert o["usage"]["completion_tokens"] == 4, o
    rec = fake.wait_record(rid_of(r))
    assert rec["stream"] is False and rec["text_sent"] == \
        ch["message"]["content"] and rec["tokens_sent"] == 4, rec

    status, r, data = fake.request(
        "POST", *chat("ollama", "[[fake tokens=4 tps=0]]", stream=False))
    assert status == 200, status
    o = json.loads(data)
    assert list(o) == OLLAMA_DONE_KEYS and o["done"] is True, o
    assert o["eval_count"] == 4 and o["message"]["content"], o
    assert fake.wait_record(rid_of(r))["text_sent"] == o["message"]["content"]


@tap.case("max_tokens, max_completion_tokens and num_predict cut the answer")
def _(fake):
    for key in ("max_tokens", "max_completion_tokens"):
        r, pieces, _ = stream(fake, "openai", "[[fake tokens=10 tps=0]]",
                              stream=True, **{key: 3})
        ev = sse_events(pieces)
        assert ev[-1] == b"[DONE]" and len(ev) == 1 + 3 + 1 + 1, (key, ev)
        assert ev[-2]["choices"][0]["finish_reason"] == "length", ev[-2]
        rec = fake.wait_record(rid_of(r))
        assert rec["tokens_sent"] == 3 and rec["max_tokens"] == 3, rec
    r, pieces, _ = stream(fake, "ollama", "[[fake tokens=10 tps=0]]",
                          options={"num_predict": 4, "temperature": 0.25})
    objs = [json.loads(p) for p, _ in pieces]
    assert len(objs) == 5 and objs[-1]["done_reason"] == "length", objs
    assert objs[-1]["eval_count"] == 4
    rec = fake.wait_record(rid_of(r))
    assert rec["max_tokens"] == 4 and rec["temperature"] == 0.25, rec
    # max_tokens above the answer's length changes nothing.
    r, pieces, _ = stream(fake, "openai", "[[fake tokens=2 tps=0]]",
                          stream=True, max_tokens=50)
    ev = sse_events(pieces)
    assert len(ev) == 5 and ev[-2]["choices"][0]["finish_reason"] == "stop"


@tap.case("pacing: tokens per second and the first token delay")
def _(fake):
    r, pieces, t0 = stream(fake, "openai", "[[fake tokens=10 tps=20]]",
                           stream=True)
    times = [at for _, at in pieces[1:11]]
    span = (times[-1] - times[0]) / 1e9
    # Nine gaps of 50 ms.
    assert 0.35 < span < 0.45 + 0.5 * TIME_SCALE, span
    gaps = sorted((b - a) / 1e6 for a, b in zip(times, times[1:]))
    assert 35 < gaps[4] < 70, gaps
    # On a schedule: a token may come late under load, never early.
    for i, at in enumerate(times):
        assert at - t0 >= i * 50e6, (i, t0, times)
    r, pieces, t0 = stream(fake, "ollama", "[[fake tokens=40 tps=0]]")
    assert len(pieces) == 41
    assert (pieces[-1][1] - t0) / 1e9 < 0.5 * TIME_SCALE

    path, body = chat("openai", "[[fake tokens=3 tps=0 "
                      "first_token_delay_ms=400]]", stream=True)
    c = fake.conn()
    t0 = time.time_ns()
    c.request("POST", path, body)
    r = c.getresponse()
    t_headers = time.time_ns()
    role = r.readline() + r.readline()
    t_role = time.time_ns()
    tok = r.readline() + r.readline()
    t_tok = time.time_ns()
    r.read()
    c.close()
    assert b'"role":"assistant"' in role and b'"content":"' in tok, tok
    assert (t_headers - t0) / 1e9 < 0.2 * TIME_SCALE, t_headers - t0
    assert (t_role - t0) / 1e9 < 0.2 * TIME_SCALE, t_role - t0
    assert 0.38 < (t_tok - t0) / 1e9 < 0.4 + 0.5 * TIME_SCALE, t_tok - t0
    rec = fake.wait_record(rid_of(r))
    assert (rec["first_token_ns"] - rec["started_ns"]) / 1e9 > 0.38, rec
    # Taken right after the write: close to the client's arrival time,
    # on the same wall clock. A loaded 2-core machine stalls the client
    # for tens of ms at times; a stamp taken before the 400 ms delay would
    # still be caught.
    assert rec["started_ns"] <= rec["first_token_ns"], rec
    assert abs(rec["first_token_ns"] - t_tok) < 150e6 * TIME_SCALE, \
        (rec["first_token_ns"] - t_tok, rec)


@tap.case("error_after: the mid-stream error of each provider")
def _(fake):
    r, pieces, _ = stream(fake, "openai", "[[fake tokens=10 tps=0 "
                          "error_after=2]]", stream=True)
    assert r.status == 200
    ev = sse_events(pieces)
    assert len(ev) == 1 + 2 + 1, ev
    assert b"[DONE]" not in ev, ev
    err = ev[-1]["error"]
    assert list(err) == ["message", "type", "param", "code"], err
    assert err["type"] == "server_error" and err["message"], err
    rec = fake.wait_record(rid_of(r))
    assert rec["outcome"] == "error" and rec["tokens_sent"] == 2, rec

    r, pieces, _ = stream(fake, "ollama", "[[fake tokens=10 tps=0 "
                          "error_after=3]]")
    objs = [json.loads(p) for p, _ in pieces]
    assert len(objs) == 4, objs
    assert list(objs[-1]) == ["error"] and objs[-1]["error"], objs[-1]
    assert all(o["done"] is False for o in objs[:-1]), objs
    rec = fake.wait_record(rid_of(r))
    assert rec["outcome"] == "error" and rec["tokens_sent"] == 3, rec

    # error_after=0: the error before any token.
    r, pieces, _ = stream(fake, "openai", "[[fake error_after=0]]",
                          stream=True)
    ev = sse_events(pieces)
    assert len(ev) == 2 and "error" in ev[1], ev


@tap.case("http_status: the provider's error body at once")
def _(fake):
    for status in (429, 500, 503, 404, 400):
        st, r, data = fake.request("POST", *chat(
            "openai", f"[[fake http_status={status}]]", stream=True))
        assert st == status, (st, status)
        assert r.getheader("Content-Type") == "application/json"
        o = json.loads(data)
        assert list(o) == ["error"], o
        assert list(o["error"]) == ["message", "type", "param", "code"], o
        assert o["error"]["param"] is None and o["error"]["message"], o
        rec = fake.wait_record(rid_of(r))
        assert rec["outcome"] == "http_error" and rec["tokens_sent"] == 0
        st, r, data = fake.request("POST", *chat(
            "ollama", f"[[fake http_status={status}]]"))
        assert st == status, (st, status)
        o = json.loads(data)
        assert list(o) == ["error"] and isinstance(o["error"], str), o
    st, r, data = fake.request("POST", *chat(
        "openai", "[[fake http_status=429]]"))
    assert json.loads(data)["error"]["code"] == "rate_limit_exceeded"


@tap.case("echo, text and a directive override one request only")
def _(fake):
    msg = "Hello there, caf\u00e9 \U0001f642 \u2014 fine."
    r, pieces, _ = stream(fake, "openai", msg + " [[fake echo tps=0]]",
                          stream=True)
    ev = sse_events(pieces)
    text = "".join(c["choices"][0]["delta"].get("content", "")
                   for c in ev[:-1] if c["choices"])
    assert text == msg, text
    assert len(ev) - 3 > 5, ev	# cut into several tokens
    r, pieces, _ = stream(fake, "ollama",
                          '[[fake text="One two, three." tps=0]]')
    text = "".join(json.loads(p)["message"]["content"] for p, _ in pieces)
    assert text == "One two, three.", text
    # Content given as OpenAI content parts.
    path, _ = chat("openai", "")
    st, r, data = fake.request("POST", path, {
        "model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "parts [[fake echo tps=0]]"}]}]})
    assert json.loads(data)["choices"][0]["message"]["content"] == "parts"

    # The defaults, changed at run time; a directive beats them once.
    st, cfg = fake.json("POST", "/_fake/config", {"tokens": 7, "tps": 0})
    assert st == 200 and cfg["tokens"] == 7 and cfg["tps"] == 0, cfg
    assert fake.json("GET", "/_fake/config")[1] == cfg
    r, pieces, _ = stream(fake, "ollama", "[[fake tokens=2]]")
    assert len(pieces) == 3, pieces
    r, pieces, _ = stream(fake, "ollama", "no directive")
    assert len(pieces) == 8, pieces
    st, body = fake.json("POST", "/_fake/config", {"tokens": "many"})
    assert st == 400 and "tokens" in body["error"], body
    st, body = fake.json("POST", "/_fake/config", {"bogus": 1})
    assert st == 400, body
    st, cfg = fake.json("DELETE", "/_fake/config")
    assert st == 200 and cfg["tokens"] == 40 and cfg["tps"] == 50, cfg
    # A bad directive is a 400 in the provider's format.
    st, r, data = fake.request("POST", *chat("openai", "[[fake tokens=x]]"))
    assert st == 400 and "tokens" in json.loads(data)["error"]["message"]
    st, r, data = fake.request("POST", *chat("ollama", "[[fake api_key=k]]"))
    assert st == 400 and "api_key" in json.loads(data)["error"], data


@tap.case("multibyte tokens join to valid UTF-8; nul puts one U+0000")
def _(fake):
    r, pieces, _ = stream(fake, "openai", "[[fake multibyte tokens=70 "
                          "tps=0]]", stream=True)
    ev = sse_events(pieces)
    toks = [c["choices"][0]["delta"]["content"] for c in ev[1:71]]
    assert len(toks) == 70
    raw = "".join(toks).encode("utf-8")
    text = raw.decode("utf-8", errors="strict")
    assert any(ord(ch) > 0xFFFF for ch in text), text	# 4-byte chars
    assert "\u200d" in text, text				# ZWJ sequences
    assert any(0x4E00 <= ord(ch) <= 0x9FFF for ch in text), text	# CJK
    non_ascii = sum(1 for t in toks if any(ord(ch) > 127 for ch in t))
    assert non_ascii > len(toks) * 0.6, non_ascii
    rec = fake.wait_record(rid_of(r))
    assert rec["text_sent"] == text, rec

    r, pieces, _ = stream(fake, "ollama", "[[fake tokens=5 tps=0 nul]]")
    raw = b"".join(p for p, _ in pieces)
    assert raw.count(b"\\u0000") == 1, raw
    text = "".join(json.loads(p)["message"]["content"] for p, _ in pieces)
    assert text.count("\x00") == 1, text
    rec = fake.wait_record(rid_of(r))
    assert rec["text_sent"] == text, rec


@tap.case("api_key: 401 in each provider's format without the key")
def _(fake):
    st, cfg = fake.json("POST", "/_fake/config", {"api_key": "s3cr3t-key"})
    assert st == 200
    try:
        st, r, data = fake.request("POST", *chat("openai", "[[fake tps=0]]"))
        assert st == 401, st
        e = json.loads(data)["error"]
        assert e["code"] == "invalid_api_key", e
        assert fake.wait_record(rid_of(r))["auth"] is False
        st, r, data = fake.request(
            "POST", *chat("openai", "[[fake tps=0]]"),
            {"Authorization": "Bearer wrong"})
        assert st == 401, st
        st, r, data = fake.request(
            "POST", *chat("ollama", "[[fake tps=0]]", stream=False),
            {"Authorization": "Bearer wrong"})
        assert st == 401 and json.loads(data) == {"error": "unauthorized"}
        st, r, data = fake.request(
            "POST", *chat("openai", "[[fake tps=0 tokens=2]]"),
            {"Authorization": "Bearer s3cr3t-key"})
        assert st == 200, (st, data)
        rec = fake.wait_record(rid_of(r))
        assert rec["auth"] is True and rec["outcome"] == "complete", rec
        st, _, _ = fake.request("GET", "/v1/models")
        assert st == 401, st
        st, _, _ = fake.request("GET", "/healthz")
        assert st == 200, st
    finally:
        fake.json("POST", "/_fake/config", {"api_key": None})
    st, _, data = fake.request("GET", "/_fake/requests")
    assert b"s3cr3t" not in data
    with open(fake.log, "rb") as f:
        assert b"s3cr3t" not in f.read()


@tap.case("the 1 MiB body cap: 413 beyond, accepted at the cap")
def _(fake):
    for provider in ("openai", "ollama"):
        path, _ = chat(provider, "")
        big = b'{"model":"m","messages":[],"pad":"' + \
            b"x" * (1024 * 1024) + b'"}'
        st, r, data = fake.request("POST", path, big)
        assert st == 413, st
        rec = fake.wait_record(rid_of(r))
        assert rec["outcome"] == "http_error" and rec["messages"] is None
        o = json.loads(data)
        assert "error" in o, o
        if provider == "openai":
            assert o["error"]["type"] == "invalid_request_error", o
    head = b'{"model":"m","stream":false,"messages":[{"role":"user",' \
        b'"content":"[[fake tokens=1 tps=0]]"}],"pad":"'
    exact = head + b"y" * (1024 * 1024 - len(head) - 2) + b'"}'
    assert len(exact) == 1024 * 1024
    st, r, data = fake.request("POST", "/v1/chat/completions", exact)
    assert st == 200, (st, data[:200])


def open_stream(fake, text, provider="openai"):
    """A raw socket with a streaming request sent; reads until n content
    tokens have arrived. Returns the socket and the request id."""
    path, body = chat(provider, text, stream=True)
    s = socket.create_connection(("127.0.0.1", fake.port),
                                 timeout=5 * TIME_SCALE)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    return s


def read_until(s, pattern, count):
    buf = b""
    for _ in range(10000):
        if buf.count(pattern) >= count:
            return buf
        got = s.recv(65536)
        assert got, f"closed early: {buf!r}"
        buf += got
    raise AssertionError(buf)


@tap.case("hang_after, and the client's close observed within a second")
def _(fake):
    s = open_stream(fake, "[[fake tokens=10 tps=0 hang_after=3]]")
    buf = read_until(s, b'"content":"', 4)	# the role chunk and 3 tokens
    rid = int(re.search(rb"X-Fake-Request-Id: (\d+)", buf).group(1))
    time.sleep(0.3)
    rec = fake.record(rid)
    assert rec["outcome"] is None and rec["tokens_sent"] == 3, rec
    t_close = time.time_ns()
    s.close()
    rec = fake.wait_record(rid)
    assert rec["outcome"] == "client_closed", rec
    assert rec["closed_ns"] is not None, rec
    lag = (rec["closed_ns"] - t_close) / 1e9
    assert -0.01 < lag < 1.5, lag
    assert rec["tokens_sent"] == 3 and rec["ended_ns"] >= rec["closed_ns"]

    # Between slow tokens (2 s apart) the close is seen at once too, not
    # at the next write.
    s = open_stream(fake, "[[fake tokens=10 tps=0.5]]", "ollama")
    buf = read_until(s, b'"content":"', 1)
    rid = int(re.search(rb"X-Fake-Request-Id: (\d+)", buf).group(1))
    t_close = time.time_ns()
    s.close()
    rec = fake.wait_record(rid, 1.5)
    assert rec["outcome"] == "client_closed", rec
    lag = (rec["closed_ns"] - t_close) / 1e9
    assert -0.01 < lag < 1.0, lag
    assert rec["tokens_sent"] == 1, rec

    # hang_max_s ends the hang: the connection closes without the end.
    s = open_stream(fake, "[[fake tokens=5 tps=0 hang_after=1 "
                    "hang_max_s=0.5]]")
    t0 = time.monotonic()
    buf = b""
    for _ in range(1000):
        got = s.recv(65536)
        if not got:
            break
        buf += got
    s.close()
    took = time.monotonic() - t0
    assert 0.4 < took < 0.5 + 1.0 * TIME_SCALE, took
    assert b"[DONE]" not in buf and not buf.endswith(b"0\r\n\r\n"), buf
    rid = int(re.search(rb"X-Fake-Request-Id: (\d+)", buf).group(1))
    rec = fake.wait_record(rid)
    assert rec["outcome"] == "hang" and rec["closed_ns"] is None, rec


@tap.case("the request records: fields, since, the log file, DELETE")
def _(fake):
    st, _ = fake.json("DELETE", "/_fake/requests")
    assert st == 200 and fake.records() == []
    _, r1, _ = fake.request("POST", *chat(
        "openai", "first [[fake tokens=2 tps=0]]", temperature=0.5,
        max_tokens=9), {"Authorization": "Bearer whatever"})
    _, r2, _ = fake.request("POST", *chat("ollama",
                                          "[[fake tokens=3 tps=0]]"))
    a, b = rid_of(r1), rid_of(r2)
    assert b == a + 1, (a, b)
    # A whole (stream false) answer is stamped just after it is sent.
    fake.wait_record(a)
    fake.wait_record(b)
    recs = fake.records()
    assert [r["id"] for r in recs] == [a, b], recs
    assert [r["id"] for r in fake.records(a)] == [b]
    ra, rb = recs
    for rec in recs:
        assert RECORD_KEYS <= set(rec), set(rec) ^ RECORD_KEYS
        assert rec["started_ns"] <= rec["first_token_ns"] <= \
            rec["last_token_ns"] <= rec["ended_ns"], rec
        assert abs(rec["started_ns"] - time.time_ns()) < 60e9, rec
    assert ra["path"] == "/v1/chat/completions" and ra["provider"] == \
        "openai" and ra["stream"] is False and ra["model"] == "test-model"
    assert ra["messages"] == [{"role": "system", "content": "Be kind."},
                              {"role": "user", "content":
                               "first [[fake tokens=2 tps=0]]"}], ra
    assert ra["max_tokens"] == 9 and ra["temperature"] == 0.5, ra
    assert ra["auth"] is True and "whatever" not in json.dumps(recs)
    assert rb["provider"] == "ollama" and rb["stream"] is True, rb
    assert rb["tokens_sent"] == 3 and rb["auth"] is False, rb
    # The log file has every ended request, with the same fields.
    with open(fake.log, encoding="utf-8") as f:
        logged = {o["id"]: o for o in map(json.loads, f)}
    assert logged[a] == ra and logged[b] == rb, (logged.get(a), ra)
    assert "whatever" not in json.dumps(list(logged.values()))


@tap.case("model lists, health, unknown paths; twenty streams at once")
def _(fake):
    st, o = fake.json("GET", "/v1/models")
    assert st == 200 and o["object"] == "list" and o["data"][0]["id"], o
    st, o = fake.json("GET", "/api/tags")
    assert st == 200 and o["models"][0]["name"], o
    st, _, data = fake.request("GET", "/healthz")
    assert st == 200 and data == b"ok\n"
    st, _, _ = fake.request("GET", "/nowhere")
    assert st == 404
    st, _, data = fake.request("POST", "/v1/nowhere", b"{}")
    assert st == 404 and json.loads(data)["error"]["type"], data

    results = {}

    def one(i):
        try:
            provider = "openai" if i % 2 else "ollama"
            extra = {"stream": True} if provider == "openai" else {}
            r, pieces, _ = stream(fake, provider,
                                  f"n{i} [[fake tokens=20 tps=40]]", **extra)
            results[i] = (rid_of(r), pieces)
        except Exception as e:  # noqa: B902 - reported below
            results[i] = e
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(15 * TIME_SCALE)
    assert len(results) == 20, results
    for i, res in results.items():
        assert not isinstance(res, Exception), (i, res)
        rec = fake.wait_record(res[0])
        assert rec["outcome"] == "complete" and rec["tokens_sent"] == 20
    # In parallel: about the half second one stream takes, not twenty.
    assert time.monotonic() - t0 < 3 * TIME_SCALE


@tap.case("SIGTERM ends it cleanly, even with a stream hanging")
def _(fake):
    s = open_stream(fake, "[[fake tokens=5 tps=0 hang_after=1]]")
    read_until(s, b'"content":"', 2)
    t0 = time.monotonic()
    rc = fake.stop()
    s.close()
    assert rc == 0, (rc, fake.err())
    assert time.monotonic() - t0 < 3 * TIME_SCALE, time.monotonic() - t0
    assert "listening on http://127.0.0.1:%d" % fake.port in fake.err()


def main():
    if not os.path.isfile(FAKELLM):
        print(f"1..0 # SKIP {FAKELLM} missing", flush=True)
        return 0
    fake = Fake()
    try:
        failed = tap.run(fake)
    finally:
        fake.stop()
    if failed:
        for line in fake.err().splitlines():
            print(f"# stderr: {line}", flush=True)
    fake.stderr.close()
    if os.environ.get("WSR_KEEP_TMP"):
        print(f"# kept {fake.dir}", flush=True)
    else:
        shutil.rmtree(fake.dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
