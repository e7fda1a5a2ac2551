"""python_client.py: the core flow through Python's websockets library, a
second client implementation next to Node's ws: connect, echo text and
binary, a stream that arrives progressively, and a rejection close code."""

import sys

sys.dont_write_bytecode = True

import asyncio  # noqa: E402

from harness import Client, Stack, Tap  # noqa: E402

tap = Tap()
tap.require(["websockets", "spawn-fcgi", "wsrouter", "testhandler"])


def config(s):
    return s.pool_conf("main") + """
endpoint /ws {
\troute $connect main
\troute $disconnect main
\troute $default main
}
"""


def stack():
    return Stack(pools={"main": {}}, config=config)


@tap.case("text and binary echo")
async def _():
    async with stack() as s:
        c = await Client.connect(s.ws_url("/ws"))
        for text in ["hello", "h\u00e9llo \u2713 \U0001f680", "x" * 50000]:
            await c.send(text)
            data, _ = await c.next()
            assert data == text, f"text echo differs: {data[:80]!r}"
        blob = bytes(range(256)) * 100
        await c.send(blob)
        data, _ = await c.next()
        assert isinstance(data, bytes), "binary echo came back as text"
        assert data == blob, "binary echo differs"
        await c.send({"type": "binary", "size": 1000})
        data, _ = await c.next()
        assert isinstance(data, bytes)
        assert data == bytes(i & 255 for i in range(1000))
        r = await c.request({"type": "echo", "k": [1, 2]})
        assert r == {"type": "echo", "k": [1, 2]}, r
        await c.close(1000)


@tap.case("identity from CONNECT and the hello frame")
async def _():
    async with stack() as s:
        c = await Client.connect(s.ws_url("/ws", "identity=py&hello=1"))
        f, _ = await c.json()
        assert f == {"type": "connection", "status": "connected"}, f
        w = await c.request({"type": "whoami"})
        assert w["type"] == "whoami", w
        assert w["identity"] == "py", w
        assert w["context"] == {"via": "testhandler", "q": "identity=py&hello=1"}, w
        assert len(w["connection_id"]) == 22, w
        r = await s.api("GET", f"/@connections/{w['connection_id']}")
        assert r.status == 200, r.status
        assert r.json()["identity"]["principalId"] == "py", r.text
        r = await s.api("POST", f"/@connections/{w['connection_id']}", "pushed",
                        {"Content-Type": "text/plain"})
        assert 200 <= r.status < 300, r.status
        data, _ = await c.next()
        assert data == "pushed", data
        await c.close(4000, "py bye")
        for _ in range(100):
            if any(d["id"] == w["connection_id"] for d in s.disconnects()):
                break
            await asyncio.sleep(0.05)
        mine = [d for d in s.disconnects() if d["id"] == w["connection_id"]]
        assert len(mine) == 1 and mine[0]["code"] == 4000, s.disconnects()


@tap.case("a stream arrives progressively")
async def _():
    async with stack() as s:
        c = await Client.connect(s.ws_url("/ws"))
        await c.request({"type": "echo"})
        n, interval = 8, 120
        await c.send({"type": "stream", "n": n, "interval_ms": interval, "size": 16})
        chunks = []
        while True:
            f, at = await c.json(5)
            if f["type"] == "done":
                break
            assert f["type"] == "chunk", f
            chunks.append((f, at))
        assert [f["seq"] for f, _ in chunks] == list(range(n))
        first_at = chunks[0][1]
        last_made = chunks[-1][0]["ts_us"]
        # The first frame was on the client long before the last was made.
        assert first_at < last_made - 0.5 * (n - 1) * interval * 1000, \
            (first_at, last_made)
        span_ms = (chunks[-1][1] - chunks[0][1]) / 1000
        assert span_ms > 0.5 * (n - 1) * interval, span_ms
        lags = sorted((at - f["ts_us"]) / 1000 for f, at in chunks)
        assert lags[len(lags) // 2] < 40, lags


@tap.case("a rejected CONNECT closes with 4403 and no frame")
async def _():
    async with stack() as s:
        c = await Client.connect(s.ws_url("/ws", "reject=403"))
        code, _, frames = await c.closed(5)
        assert code == 4403, code
        assert frames == [], frames
        c = await Client.connect(s.ws_url("/ws", "reject=429"))
        code, _, frames = await c.closed(5)
        assert code == 4429, code
        assert frames == [], frames
        await asyncio.sleep(0.3)
        assert s.disconnects() == [], s.disconnects()


sys.exit(1 if tap.run() else 0)
