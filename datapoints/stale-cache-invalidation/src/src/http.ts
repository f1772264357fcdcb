import * as http from "http";
import { Directory } from "./directory";
import { errorFields, log } from "./log";

const MAX_BODY_BYTES = 64 * 1024;

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

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null"));
      } catch {
        reject(new HttpError(400, "request body is not valid JSON"));
      }
    });
    req.on("error", reject);
  });
}

function parseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new HttpError(400, `invalid id ${raw}`);
  }
  return id;
}

export function createServer(directory: Directory): http.Server {
  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    let m: RegExpExecArray | null;

    if (url.pathname === "/healthz" && method === "GET") {
      send(res, 200, { ok: true });
      return;
    }
    if ((m = /^\/users\/([^/]+)$/.exec(url.pathname))) {
      const userId = parseId(m[1]);
      if (method === "GET") {
        const profile = await directory.getProfile(userId);
        if (!profile) {
          throw new HttpError(404, `user ${userId} not found`);
        }
        send(res, 200, profile);
        return;
      }
      if (method === "PATCH") {
        const body = (await readJson(req)) as { title?: unknown } | null;
        if (!body || typeof body.title !== "string" || body.title.length === 0) {
          throw new HttpError(400, "body must be {\"title\": \"...\"}");
        }
        const profile = await directory.updateTitle(userId, body.title);
        if (!profile) {
          throw new HttpError(404, `user ${userId} not found`);
        }
        send(res, 200, profile);
        return;
      }
      throw new HttpError(405, `${method} not allowed`);
    }
    if ((m = /^\/teams\/([^/]+)$/.exec(url.pathname))) {
      const teamId = parseId(m[1]);
      if (method !== "GET") {
        throw new HttpError(405, `${method} not allowed`);
      }
      const page = await directory.getTeamPage(teamId);
      if (!page) {
        throw new HttpError(404, `team ${teamId} not found`);
      }
      send(res, 200, page);
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
