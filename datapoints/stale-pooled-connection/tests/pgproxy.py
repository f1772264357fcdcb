"""A TCP proxy between the service and Postgres that the tests own.

The service is given only this proxy's address, so every connection it opens
to Postgres goes through it (`assert_service_connections_through` checks that
against pg_stat_activity). The proxy counts connections and can kill them the
ways production does, at the moment a test picks:

* `doom_existing()`: every connection open now dies at its next message from
  the service, which is never forwarded (an idle connection that the network
  or a failover dropped: the next query finds it dead);
* `doom_after_exchanges(1)`: the first connection that completes one
  request/reply exchange (a ping, a health check, a query) from now dies at
  its next message (a connection that passed a check and is dead at use);
* `drop_reply_when(predicate)`: the first reply after which `predicate()` is
  true (checked at each ReadyForQuery outside a transaction, e.g. "the
  settlement of batch 7 is committed") is not forwarded and its connection is
  reset: the commit happened, the service never hears of it;
* `blackhole_existing()`: every connection open now goes silent without a
  reset (nothing forwarded either way, no FIN, no RST); its server side is
  closed, so the backend goes away while the service's socket stays open. Only
  a timeout of the service's own notices; TCP keepalive probes are answered
  by this proxy's kernel like any live peer's.

New connections always work.
"""

import asyncio
import threading
import time


class _Conn:
    def __init__(self, cid, client_writer, up_writer, up_port):
        self.id = cid
        self.client_writer = client_writer
        self.up_writer = up_writer
        self.up_port = up_port
        self.doomed = False
        self.blackholed = False
        self.dead = False
        self.exchanges = 0
        self.upstream_open = True


class PgProxy:
    def __init__(self, upstream_host, upstream_port, on_event=None):
        self.upstream = (upstream_host, upstream_port)
        self.on_event = on_event or (lambda activity, detail: None)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pgproxy", daemon=True)
        self.thread.start()
        self._lock = threading.Lock()
        self.conns = {}
        self.next_id = 1
        self.opened = 0
        self.current = 0
        self.max_current = 0
        self.ports_ever = set()
        self.drops = 0
        self._doom_after = None        # remaining exchanges before dooming the next connection
        self._reply_predicate = None
        self.server = self._run(self._start())
        self.port = self.server.sockets[0].getsockname()[1]

    # ---- control (from test threads) ----
    def _run(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _call(self, fn):
        async def wrapper():
            return fn()
        return self._run(wrapper())

    def stats(self):
        with self._lock:
            return {"opened": self.opened, "current": self.current, "max_current": self.max_current,
                    "drops": self.drops}

    def reset_max(self):
        with self._lock:
            self.max_current = self.current

    def upstream_ports(self):
        with self._lock:
            return set(self.ports_ever)

    def doom_existing(self):
        def fn():
            n = 0
            for c in self.conns.values():
                if not c.dead and not c.blackholed:
                    c.doomed = True
                    n += 1
            return n
        return self._call(fn)

    def doom_after_exchanges(self, n=1):
        def fn():
            self._doom_after = n
        self._call(fn)

    def drop_reply_when(self, predicate):
        def fn():
            self._reply_predicate = predicate
        self._call(fn)

    def disarm(self):
        def fn():
            self._doom_after = None
            self._reply_predicate = None
        self._call(fn)

    def armed(self):
        return self._call(lambda: self._doom_after is not None or self._reply_predicate is not None)

    def blackhole_existing(self):
        def fn():
            n = 0
            for c in list(self.conns.values()):
                if c.dead or c.blackholed:
                    continue
                c.blackholed = True
                c.up_writer.transport.abort()
                n += 1
            return n
        return self._call(fn)

    def close(self):
        def fn():
            self.server.close()
            for c in list(self.conns.values()):
                self._kill(c, "proxy closed", count=False)
        try:
            self._call(fn)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    # ---- inside the loop ----
    async def _start(self):
        return await asyncio.start_server(self._accept, "127.0.0.1", 0)

    def _upstream_closed(self, c):
        if c.upstream_open:
            c.upstream_open = False
            with self._lock:
                self.current -= 1

    def _kill(self, c, why, count=True):
        if c.dead:
            return
        c.dead = True
        if count:
            with self._lock:
                self.drops += 1
            self.on_event("ProxyDrop", f"connection {c.id} (upstream port {c.up_port}): {why}")
        c.client_writer.transport.abort()
        c.up_writer.transport.abort()
        self._upstream_closed(c)

    async def _accept(self, client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        up_port = up_writer.get_extra_info("sockname")[1]
        c = _Conn(self.next_id, client_writer, up_writer, up_port)
        self.next_id += 1
        self.conns[c.id] = c
        with self._lock:
            self.opened += 1
            self.current += 1
            self.max_current = max(self.max_current, self.current)
            self.ports_ever.add(up_port)
        self.loop.create_task(self._from_client(c, client_reader))
        self.loop.create_task(self._from_server(c, up_reader))

    async def _from_client(self, c, reader):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if c.dead:
                    return
                if c.blackholed:
                    continue
                if c.doomed:
                    self._kill(c, "died before the service's next message reached the server")
                    return
                c.up_writer.write(data)
        except (ConnectionError, OSError):
            pass
        finally:
            if not c.dead:
                if c.blackholed:
                    c.dead = True
                    c.client_writer.transport.abort()
                else:
                    try:
                        c.up_writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
            self.conns.pop(c.id, None) if c.dead else None

    async def _from_server(self, c, reader):
        buf = bytearray()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if c.dead or c.blackholed:
                    continue
                buf += data
                if not self._forward_complete(c, buf):
                    return
        except (ConnectionError, OSError):
            pass
        finally:
            self._upstream_closed(c)
            if not c.dead and not c.blackholed:
                if buf:
                    try:
                        c.client_writer.write(bytes(buf))
                    except (OSError, RuntimeError):
                        pass
                try:
                    c.client_writer.close()
                except (OSError, RuntimeError):
                    pass
                c.dead = True
                self.conns.pop(c.id, None)

    def _forward_complete(self, c, buf):
        """Forwards every complete backend message in buf, one exchange (up to
        a ReadyForQuery) at a time; returns False when the connection was killed."""
        pos = 0
        seg_start = 0
        n = len(buf)
        while n - pos >= 5:
            mtype = buf[pos]
            length = int.from_bytes(buf[pos + 1:pos + 5], "big")
            if n - pos < 1 + length:
                break
            end = pos + 1 + length
            if mtype == ord("Z"):
                status = chr(buf[pos + 5]) if length >= 5 else "?"
                pred = self._reply_predicate
                if pred is not None and status == "I":
                    try:
                        hit = pred()
                    except Exception:
                        hit = False
                    if hit:
                        self._reply_predicate = None
                        self._kill(c, "reply to a committed write never reached the service")
                        return False
                c.client_writer.write(bytes(buf[seg_start:end]))
                seg_start = end
                c.exchanges += 1
                if self._doom_after is not None:
                    self._doom_after -= 1
                    if self._doom_after <= 0:
                        self._doom_after = None
                        c.doomed = True
                        self.on_event("ProxyArm", f"connection {c.id} completed an exchange; dies at its next message")
            pos = end
        if self._reply_predicate is None:
            # Nothing to hold back: forward whole messages as they come.
            if pos > seg_start:
                c.client_writer.write(bytes(buf[seg_start:pos]))
                seg_start = pos
        del buf[:seg_start]
        return True
