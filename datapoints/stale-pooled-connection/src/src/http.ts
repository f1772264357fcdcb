import * as http from "http";
import { emit } from "./events";
import { errorFields, log } from "./log";
import { SettlementJob } from "./settlement";

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new HttpError(400, `invalid batch id ${raw}`);
  }
  return id;
}

export function createServer(rulesUrl: string): http.Server {
  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    let m: RegExpExecArray | null;

    if (url.pathname === "/healthz" && method === "GET") {
      send(res, 200, { ok: true });
      return;
    }
    if ((m = /^\/batches\/([^/]+)\/settle$/.exec(url.pathname))) {
      if (method !== "POST") {
        throw new HttpError(405, `${method} not allowed`);
      }
      req.resume();
      const job = new SettlementJob(rulesUrl, parseId(m[1]));
      emit({ flow: job.flow, activity: "SettleBatch", kind: "started" });
      try {
        const settlement = await job.run();
        if (!settlement) {
          throw new HttpError(404, `batch ${m[1]} not found`);
        }
        emit({ flow: job.flow, activity: "SettleBatch", kind: "completed", detail: `settlement ${settlement.settlementId}` });
        send(res, 200, settlement);
      } catch (err) {
        emit({ flow: job.flow, activity: "SettleBatch", kind: "failed", detail: String(err) });
        throw err;
      }
      return;
    }
    throw new HttpError(404, `no route for ${method} ${url.pathname}`);
  }

  return http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        send(res, err.status, { error: err.message });
        return;
      }
      log.error("request failed", { method: req.method, url: req.url, ...errorFields(err) });
      if (!res.headersSent) {
        send(res, 500, { error: "internal error" });
      } else {
        res.destroy();
      }
    });
  });
}
