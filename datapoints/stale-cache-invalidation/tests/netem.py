"""Latency-injecting TCP proxies between service instances and Postgres/Redis.

Each service instance talks to Postgres and Redis through its own `Link`, so a
test can give one instance a slow database link (a database in another zone)
and another a slow Redis link, count the queries an instance sends to
Postgres, or reset an instance's connections in the middle of a request.
Bytes from the service are held back by the link's latency and forwarded in
order, as a slow network would; replies come back immediately.
"""

import asyncio
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
PG_QUERY_MESSAGES = (ord("Q"), ord("E"))  # simple query, extended-protocol Execute


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


class Hub:
    """One asyncio loop in a daemon thread that runs every link of a test."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="netem", daemon=True)
        self.thread.start()
        self.links = []

    def run(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def link(self, name, upstream_host, upstream_port, latency_ms=0.0, count_pg_queries=False):
        link = Link(self, name, upstream_host, upstream_port, latency_ms, count_pg_queries)
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


class Link:
    def __init__(self, hub, name, upstream_host, upstream_port, latency_ms, count_pg_queries):
        self.hub = hub
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.latency_ms = latency_ms
        self.count_pg_queries = count_pg_queries
        self._queries = 0
        self._lock = threading.Lock()
        self.server = None
        self.port = None
        self.tasks = set()
        self.writers = set()

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
        for t in list(self.tasks):
            t.cancel()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    def sever(self):
        """Resets every open connection through this link at once, dropping
        whatever is still held back by the latency; new connections work."""
        self.hub.run(self._drop_connections())

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
        self.writers.update((client_writer, up_writer))
        counter = PgQueryCounter(self._count_query) if self.count_pg_queries else None
        self._spawn(self._pump(client_reader, up_writer, delayed=True, counter=counter))
        self._spawn(self._pump(up_reader, client_writer, delayed=False, counter=None))

    async def _pump(self, reader, writer, delayed, counter):
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

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
                queue.put_nowait((due, data or None))
                if not data:
                    break
        except (ConnectionError, OSError):
            queue.put_nowait((0.0, None))
        await sender
