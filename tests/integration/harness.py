"""harness.py: start a real router and real FastCGI handler pools on free
loopback ports in a temporary directory, for Python tests that print TAP.

Usage:

    from harness import Stack, Tap
    tap = Tap()
    tap.require(["websockets", "spawn-fcgi", "wsrouter", "testhandler"])

    @tap.case("echo works")
    async def _(t):
        async with Stack(pools={"main": {}}, config=lambda s: ...) as s:
            ...

    sys.exit(1 if tap.run() else 0)
"""

import asyncio
import http.client
import inspect
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback

TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir") or TOP_SRCDIR
WSROUTER = os.environ.get("WSROUTER") or os.path.join(
    TOP_BUILDDIR, "router", "wsrouter")
TESTHANDLER = os.environ.get("TESTHANDLER") or os.path.join(
    TOP_BUILDDIR, "tests", "handlers", "testhandler")
SPAWN_FCGI = os.environ.get("SPAWN_FCGI") or shutil.which("spawn-fcgi") or ""
TIME_SCALE = float(os.environ.get("WSR_TIME_SCALE") or 1) or 1.0
WRAPPER = (os.environ.get("WSROUTER_WRAPPER") or "").split()


def scaled(seconds):
    return seconds * TIME_SCALE


def now_us():
    """Wall-clock microseconds, comparable with CLOCK_REALTIME."""
    return time.time_ns() / 1000.0


def _executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


async def wait_for(fn, timeout, what, interval=0.025):
    """Poll fn (sync or async) until truthy; raise after timeout seconds."""
    end = time.monotonic() + scaled(timeout)
    while True:
        v = fn()
        if asyncio.iscoroutine(v):
            v = await v
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {scaled(timeout)} s "
                                 f"waiting for {what}")
        await asyncio.sleep(interval)


class ApiResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class Stack:
    """A temporary directory, handler pools and a router.

    pools: {NAME: {"bin": PATH, "workers": N}}; globals: extra global
    directives; config: a function of the stack returning the pools and
    endpoints part of the config.
    """

    def __init__(self, pools=None, config=None, globals_=None):
        self.pools_spec = pools or {}
        self.config_fn = config
        self.globals = globals_ or {}
        self.dir = tempfile.mkdtemp(prefix="wsrt-")
        self.pools = {}
        self.children = []
        self.router = None
        self.router_log = os.path.join(self.dir, "router.log")
        self.disconnect_log = os.path.join(self.dir, "disconnect.log")
        self.conf_file = os.path.join(self.dir, "wsrouter.conf")
        self.port = self.api_port = None
        self.stopped = False

    def sock(self, name):
        return os.path.join(self.dir, name + ".sock")

    def pool_conf(self, name, extra="", sock_name=None):
        """A pool block; extra lines replace the defaults of their keys."""
        lines = [x.strip() for x in extra.split("\n") if x.strip()]
        given = {x.split()[0] for x in lines}
        out = []
        if "address" not in given:
            if sock_name is None and name in self.pools:
                socks = self.pools[name]["socks"]
            else:
                socks = [self.sock(sock_name or name)]
            out += [f"address unix:{x}" for x in socks]
        for k, v in (("connect_timeout", "1s"), ("first_byte_timeout", "10s"),
                     ("idle_timeout", "10s")):
            if k not in given:
                out.append(f"{k} {v}")
        out.append(f"param WS_TEST_LOG {self.disconnect_log}")
        out += lines
        return f"pool {name} {{\n" + "".join(f"\t{x}\n" for x in out) + "}\n"

    async def __aenter__(self):
        try:
            await self.start()
        except BaseException:
            await self.stop()
            self.dump("start failed")
            self.cleanup()
            raise
        return self

    async def __aexit__(self, typ, exc, tb):
        problem = await self.stop()
        if exc is not None:
            self.dump(str(exc).split("\n")[0])
        elif problem:
            self.dump(problem)
        self.cleanup()
        if exc is None and problem:
            raise AssertionError(problem)
        return False

    async def start(self):
        self.port, self.api_port = free_ports(2)
        for name, spec in self.pools_spec.items():
            await self.start_pool(name, **spec)
        self.write_config()
        await self.start_router()
        return self

    def write_config(self):
        g = {"listen": f"127.0.0.1:{self.port}",
             "api": f"127.0.0.1:{self.api_port}",
             "log_level": os.environ.get("WSR_LOG_LEVEL") or "info",
             "shutdown_timeout": "2s"}
        g.update(self.globals)
        text = "# generated by tests/integration/harness.py\n"
        text += "".join(f"{k} {v}\n" for k, v in g.items())
        text += "\n" + (self.config_fn(self) if self.config_fn else "")
        with open(self.conf_file, "w") as f:
            f.write(text)

    async def start_pool(self, name, bin=None, workers=1, args=()):
        """One "spawn-fcgi -n" per worker, each on its own socket, so every
        worker is our child and its pid stays ours until we reap it."""
        import subprocess
        bin = bin or TESTHANDLER
        log = os.path.join(self.dir, f"pool-{name}.log")
        pool = {"name": name, "socks": [], "procs": [], "log": log}
        self.pools[name] = pool
        with open(log, "ab") as lf:
            for i in range(workers):
                sock = self.sock(name if i == 0 else f"{name}-{i + 1}")
                p = subprocess.Popen([SPAWN_FCGI, "-n", "-s", sock, "-M", "0600",
                                      "--", bin, *args],
                                     stdin=subprocess.DEVNULL, stdout=lf,
                                     stderr=lf)
                self.children.append(p)
                pool["procs"].append(p)
                pool["socks"].append(sock)

        def ready():
            if any(p.poll() is not None for p in pool["procs"]):
                raise AssertionError(f"pool {name} exited at start")
            return all(os.path.exists(x) for x in pool["socks"])
        await wait_for(ready, 10, f"the sockets of pool {name}")
        return pool

    async def start_router(self):
        import subprocess
        with open(self.router_log, "ab") as lf:
            self.router = subprocess.Popen(
                [*WRAPPER, WSROUTER, "-c", self.conf_file],
                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)

        async def up():
            if self.router.poll() is not None:
                raise AssertionError(
                    f"router exited early ({self.router.returncode}):\n"
                    + self.log())
            try:
                r = await self.api("GET", "/healthz", timeout=1)
                return r.status == 200
            except OSError:
                return False
        await wait_for(up, 10, "the router's /healthz")

    def log(self):
        try:
            with open(self.router_log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ws_url(self, path="/ws", query=""):
        return f"ws://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    def _api_sync(self, method, path, body, headers, timeout):
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port,
                                          timeout=scaled(timeout))
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **headers}
            elif isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return ApiResponse(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    async def api(self, method, path, body=None, headers=None, timeout=5):
        return await asyncio.get_running_loop().run_in_executor(
            None, self._api_sync, method, path, body, headers or {}, timeout)

    def disconnects(self):
        try:
            with open(self.disconnect_log) as f:
                lines = [x for x in f.read().split("\n") if x]
        except OSError:
            return []
        out = []
        for line in lines:
            parts = line.split(" ", 2)
            out.append({"id": parts[0],
                        "code": int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None,
                        "reason": parts[2] if len(parts) > 2 else "",
                        "line": line})
        return out

    async def stop(self):
        """Stop everything; returns a problem string or None."""
        if self.stopped:
            return None
        self.stopped = True
        problem = None
        if self.router is not None:
            if self.router.poll() is not None:
                problem = f"the router died during the test ({self.router.returncode})"
            else:
                self.router.send_signal(signal.SIGTERM)
                end = time.monotonic() + scaled(10)
                while self.router.poll() is None and time.monotonic() < end:
                    await asyncio.sleep(0.05)
                if self.router.poll() is None:
                    self.router.kill()
                    self.router.wait()
                    problem = "the router did not exit within 10 s of SIGTERM"
                elif self.router.returncode != 0:
                    problem = f"the router exited with {self.router.returncode} after SIGTERM"
        kids = [c for c in self.children if c.poll() is None]
        for c in kids:
            c.send_signal(signal.SIGCONT)
            c.send_signal(signal.SIGTERM)
        end = time.monotonic() + 3
        while time.monotonic() < end and any(c.poll() is None for c in kids):
            await asyncio.sleep(0.025)
        for c in kids:
            if c.poll() is None:
                c.kill()
            try:
                c.wait(timeout=2)
            except Exception:
                pass
        return problem

    def cleanup(self):
        """Remove the temporary directory (after stop())."""
        if not os.environ.get("WSR_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump(self, why):
        out = [f"### {why}; router log:"]
        out += self.log().split("\n")[-200:]
        for p in self.pools.values():
            try:
                with open(p["log"], errors="replace") as f:
                    t = f.read()
                if t.strip():
                    out.append(f"### pool {p['name']} log:")
                    out += t.split("\n")[-50:]
            except OSError:
                pass
        sys.stderr.write("\n".join(out) + "\n")


class Tap:
    """A tiny TAP producer: cases run one after another, a coroutine
    function each in its own event loop."""

    def __init__(self):
        self.cases = []

    def require(self, needs):
        missing = []
        for n in needs:
            if n == "websockets":
                try:
                    import websockets  # noqa: F401
                except ImportError:
                    missing.append("python3 module websockets "
                                   "(apt-get install python3-websockets)")
            elif n == "spawn-fcgi":
                if not _executable(SPAWN_FCGI):
                    missing.append("spawn-fcgi")
            elif n == "wsrouter":
                if not _executable(WSROUTER):
                    missing.append(f"router binary {WSROUTER}")
            elif n == "testhandler":
                if not _executable(TESTHANDLER):
                    missing.append(f"test handler {TESTHANDLER}")
            else:
                missing.append(f"unknown requirement {n}")
        if missing:
            print(f"1..0 # SKIP missing {', '.join(missing)}", flush=True)
            sys.exit(0)

    def case(self, name, timeout=60):
        def deco(fn):
            self.cases.append((name, fn, timeout))
            return fn
        return deco

    def run(self, *args):
        """Run every case as fn(*args), a coroutine function within its
        timeout (seconds); returns the number that failed."""
        failed = 0
        print(f"1..{len(self.cases)}", flush=True)
        for i, (name, fn, timeout) in enumerate(self.cases, 1):
            try:
                if inspect.iscoroutinefunction(fn):
                    asyncio.run(asyncio.wait_for(fn(*args), scaled(timeout)))
                else:
                    fn(*args)
                print(f"ok {i} - {name}", flush=True)
            except BaseException as e:  # noqa: B902 - report every failure
                if isinstance(e, KeyboardInterrupt):
                    raise
                failed += 1
                print(f"not ok {i} - {name}", flush=True)
                detail = "".join(traceback.format_exception(e))
                for line in detail.rstrip().split("\n"):
                    print(f"# {line}", flush=True)
        return failed


class Client:
    """A websockets client that keeps arrival times."""

    def __init__(self, ws):
        self.ws = ws

    @classmethod
    async def connect(cls, url, **kw):
        import websockets
        ws = await asyncio.wait_for(
            websockets.connect(url, max_size=None, **kw), scaled(5))
        return cls(ws)

    async def send(self, x):
        if isinstance(x, (dict, list)):
            x = json.dumps(x)
        await self.ws.send(x)

    async def next(self, timeout=5):
        """(payload, arrival_us): str for text, bytes for binary."""
        data = await asyncio.wait_for(self.ws.recv(), scaled(timeout))
        return data, now_us()

    async def json(self, timeout=5):
        data, at = await self.next(timeout)
        assert isinstance(data, str), f"expected text, got {len(data)} bytes"
        return json.loads(data), at

    async def request(self, obj, timeout=5):
        await self.send(obj)
        return (await self.json(timeout))[0]

    async def closed(self, timeout=5):
        """Wait for the close; (code, reason)."""
        import websockets
        end = time.monotonic() + scaled(timeout)
        frames = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("connection not closed in time")
            try:
                frames.append(await asyncio.wait_for(self.ws.recv(), left))
            except websockets.ConnectionClosed:
                break
        await asyncio.wait_for(self.ws.wait_closed(), scaled(timeout))
        return self.ws.close_code, self.ws.close_reason, frames

    async def close(self, code=1000, reason=""):
        await self.ws.close(code, reason)
