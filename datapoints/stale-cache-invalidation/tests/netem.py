"""TCP proxies between service instances and Postgres/Redis, under the tests' control.

Each service instance talks to Postgres and Redis through its own `Link`, so a
test can give one instance a slow database link (a database in another zone)
and another a slow Redis link, count the queries an instance sends to
Postgres, reset an instance's connections in the middle of a request, or stall
an instance's Redis traffic at a chosen write (`hold_writes`): the proxy parses
the Redis protocol and, from the (k+1)-th command that is not a plain read on,
holds every byte the instance sends to Redis until the test releases it (a
slow network at exactly that moment) or resets the connections (the write is
lost). Holding bytes is only a delay: a correct service is correct under any
delay, so a stall can expose a wrong one but never fail a right one.

The links also remember the local port of every upstream connection they
open, so a test can check (pg_stat_activity, CLIENT LIST) that every
connection the service holds to Postgres and Redis came through them.
Bytes from the service are held back by the link's latency and forwarded in
order, as a slow network would; replies come back immediately.
"""

import asyncio
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
PG_QUERY_MESSAGES = (ord("Q"), ord("E"))  # simple query, extended-protocol Execute

# Redis commands that only read (or set up the connection); every other
# command counts as a write for hold_writes. MULTI and EXEC are writes.
REDIS_READS = {
    "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "GETRANGE", "WATCH", "UNWATCH",
    "PING", "ECHO", "AUTH", "HELLO", "SELECT", "CLIENT", "INFO", "COMMAND", "QUIT", "RESET",
    "HGET", "HMGET", "HGETALL", "HEXISTS", "HLEN", "SMEMBERS", "SISMEMBER", "SCARD", "ZSCORE",
    "ZRANGE", "ZCARD", "LRANGE", "LLEN", "SCAN", "KEYS", "DBSIZE", "EVAL_RO", "EVALSHA_RO",
    "READONLY", "SCRIPT",
}


class PgQueryCounter:
    """Parses the frontend half of one Postgres connection and counts queries."""

    def __init__(self, on_query):
        self.buf = bytearray()
        self.in_startup = True
        self.on_query = on_query

    def feed(self, data):
        self.buf += data
        pos = 0
        buf = self.buf
        while True:
            if self.in_startup:
                if len(buf) - pos < 8:
                    break
                length = int.from_bytes(buf[pos:pos + 4], "big")
                if len(buf) - pos < length:
                    break
                code = int.from_bytes(buf[pos + 4:pos + 8], "big")
                pos += length
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    self.in_startup = False
            else:
                if len(buf) - pos < 5:
                    break
                length = int.from_bytes(buf[pos + 1:pos + 5], "big")
                if len(buf) - pos < 1 + length:
                    break
                if buf[pos] in PG_QUERY_MESSAGES:
                    self.on_query()
                pos += 1 + length
        del buf[:pos]


class RespSplitter:
    """Splits the client half of one Redis connection into whole commands.

    feed(data) returns [(name, bytes)] for every command completed by data;
    the bytes of an unfinished command are kept until the rest arrives."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            end, name = self._command_end(self.buf)
            if end is None:
                break
            out.append((name, bytes(self.buf[:end])))
            del self.buf[:end]
        return out

    @staticmethod
    def _command_end(buf):
        if not buf:
            return None, None
        if buf[:1] != b"*":  # inline command
            nl = buf.find(b"\r\n")
            if nl < 0:
                return None, None
            words = bytes(buf[:nl]).split()
            return nl + 2, (words[0].decode("latin-1").upper() if words else "")
        nl = buf.find(b"\r\n")
        if nl < 0:
            return None, None
        count = int(buf[1:nl])
        pos, name = nl + 2, ""
        for i in range(count):
            nl = buf.find(b"\r\n", pos)
            if nl < 0 or buf[pos:pos + 1] != b"$":
                return None, None
            length = int(buf[pos + 1:nl])
            start = nl + 2
            if len(buf) < start + length + 2:
                return None, None
            if i == 0:
                name = bytes(buf[start:start + length]).decode("latin-1").upper()
            pos = start + length + 2
        return pos, name


class Hub:
    """One asyncio loop in a daemon thread that runs every link of a test."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="netem", daemon=True)
        self.thread.start()
        self.links = []

    def run(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def link(self, name, upstream_host, upstream_port, latency_ms=0.0, count_pg_queries=False,
             redis=False):
        link = Link(self, name, upstream_host, upstream_port, latency_ms, count_pg_queries, redis)
        self.run(link.start())
        self.links.append(link)
        return link

    def close(self):
        for link in self.links:
            try:
                self.run(link.stop())
            except Exception:
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class _Conn:
    """The client-to-upstream half of one proxied connection."""

    def __init__(self, queue, splitter):
        self.queue = queue
        self.splitter = splitter
        self.held = []


class Link:
    def __init__(self, hub, name, upstream_host, upstream_port, latency_ms, count_pg_queries, redis):
        self.hub = hub
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.latency_ms = latency_ms
        self.count_pg_queries = count_pg_queries
        self.redis = redis
        self._queries = 0
        self._lock = threading.Lock()
        self.server = None
        self.port = None
        self.tasks = set()
        self.writers = set()
        self.conns = set()
        self.upstream_ports = set()  # local ports of upstream connections ever opened
        self.local_addrs = set()  # this container's address(es) as the upstream sees it
        self.accepted = 0
        # hold_writes state (only touched on the loop)
        self._gate_left = None  # writes still let through; None: not armed
        self._holding = False
        self._held_event = threading.Event()
        self.held_command = None

    @property
    def queries(self):
        with self._lock:
            return self._queries

    def _count_query(self):
        with self._lock:
            self._queries += 1

    async def start(self):
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.server.close()
        await self._drop_connections()

    async def _drop_connections(self):
        self._gate_left, self._holding = None, False
        for c in list(self.conns):
            c.held.clear()
        for t in list(self.tasks):
            t.cancel()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    def sever(self):
        """Resets every open connection through this link at once, dropping
        whatever is still held back (by the latency or hold_writes); new
        connections work."""
        self.hub.run(self._drop_connections())
        self._held_event.clear()

    # ---- hold_writes: stall the instance's Redis traffic at a chosen write ----

    def hold_writes(self, after=0):
        """Arms the link: the first `after` write commands pass, and from the
        next one on every byte the instance sends to Redis (on any connection)
        is held until release() or sever()."""
        assert self.redis, "hold_writes works on Redis links"

        async def arm():
            self._gate_left, self._holding = after, False
            self.held_command = None
        self.hub.run(arm())
        self._held_event.clear()

    def wait_held(self, timeout):
        """True once the armed link holds a write."""
        return self._held_event.wait(timeout)

    @property
    def holding(self):
        return self._held_event.is_set()

    def release(self):
        """Sends everything held, in order, and disarms the link."""

        async def go():
            self._gate_left, self._holding = None, False
            for c in list(self.conns):
                for data in c.held:
                    c.queue.put_nowait((0.0, data))
                c.held.clear()
        self.hub.run(go())
        self._held_event.clear()

    def _gate(self, conn, data):
        """Returns the bytes to send now; keeps the rest in conn.held."""
        if conn.splitter is None:
            return data
        if self._gate_left is None and not self._holding:
            # not armed: still split, so that an arming later starts at a command boundary
            return b"".join(chunk for _, chunk in conn.splitter.feed(data))
        send = []
        for name, chunk in conn.splitter.feed(data):
            if not self._holding and name not in REDIS_READS:
                if self._gate_left == 0:
                    self._holding = True
                    self.held_command = name
                    self._held_event.set()
                else:
                    self._gate_left -= 1
            if self._holding:
                conn.held.append(chunk)
            else:
                send.append(chunk)
        return b"".join(send)

    # ---- plumbing ----

    def _spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _accept(self, client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        sock = up_writer.get_extra_info("sockname")
        if sock:
            self.upstream_ports.add(sock[1])
            self.local_addrs.add(sock[0])
        self.accepted += 1
        self.writers.update((client_writer, up_writer))
        counter = PgQueryCounter(self._count_query) if self.count_pg_queries else None
        self._spawn(self._pump(client_reader, up_writer, delayed=True, counter=counter))
        self._spawn(self._pump(up_reader, client_writer, delayed=False, counter=None))

    async def _pump(self, reader, writer, delayed, counter):
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        conn = _Conn(queue, RespSplitter() if (self.redis and delayed) else None)
        if delayed:
            self.conns.add(conn)

        async def deliver():
            try:
                while True:
                    due, data = await queue.get()
                    wait = due - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if data is None:
                        break
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()
                self.writers.discard(writer)

        sender = self._spawn(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if counter is not None and data:
                    counter.feed(data)
                due = loop.time() + (self.latency_ms / 1000.0 if delayed else 0.0)
                if not data:
                    if conn.held:
                        conn.held.append(None)
                    else:
                        queue.put_nowait((due, None))
                    break
                data = self._gate(conn, data)
                if data:
                    queue.put_nowait((due, data))
        except (ConnectionError, OSError):
            queue.put_nowait((0.0, None))
        finally:
            if not conn.held:
                self.conns.discard(conn)
        await sender
