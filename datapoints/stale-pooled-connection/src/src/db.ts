// The runner's Postgres client. One client is kept in module scope and reused
// by every job (opening a connection per job was too slow), and it is health
// checked before it is handed out, so jobs never start on a dead connection.
import { Client } from "pg";
import { emit } from "./events";
import { errorFields, log } from "./log";

export type Db = Client;

let connectionString = "";
let client: Client | null = null;
let connecting: Promise<Client> | null = null;

export function configureDatabase(url: string): void {
  connectionString = url;
}

function describe(c: Client): string {
  return `backend pid ${(c as unknown as { processID?: number }).processID ?? "?"}`;
}

async function connect(flow: string, reason: string): Promise<Client> {
  const c = new Client({ connectionString, application_name: "settlement-runner" });
  await c.connect();
  emit({ flow, activity: "Connect", kind: "completed", subject: "db-client", detail: `${reason}; ${describe(c)}` });
  log.info("connected to postgres", { reason, backend: describe(c) });
  return c;
}

/** The shared client, health checked just now. */
export async function getClient(flow: string): Promise<Client> {
  const current = client;
  if (current) {
    try {
      await current.query("SELECT 1");
      emit({ flow, activity: "HealthCheck", kind: "completed", role: "check", subject: "db-client",
             detail: `reused client healthy (${describe(current)})` });
      emit({ flow, activity: "GetClient", kind: "completed", subject: "db-client", detail: `handed out ${describe(current)}` });
      return current;
    } catch (err) {
      emit({ flow, activity: "HealthCheck", kind: "failed", role: "check", subject: "db-client", detail: String(err) });
      log.warn("health check of reused client failed; reconnecting", errorFields(err));
      await forceDisconnect(flow, "health check failed");
    }
  }
  if (!connecting) {
    connecting = connect(flow, "no healthy client").then(
      (c) => {
        client = c;
        connecting = null;
        return c;
      },
      (err) => {
        connecting = null;
        throw err;
      },
    );
  }
  const c = await connecting;
  emit({ flow, activity: "GetClient", kind: "completed", subject: "db-client", detail: `handed out new ${describe(c)}` });
  return c;
}

/** Drops the shared client; the next getClient() connects again. */
export async function forceDisconnect(flow: string, reason: string): Promise<void> {
  const c = client;
  client = null;
  if (c) {
    emit({ flow, activity: "Disconnect", kind: "note", subject: "db-client", detail: `${reason}; ${describe(c)}` });
    c.end().catch(() => undefined);
  }
}

export async function closeDatabase(): Promise<void> {
  const c = client;
  client = null;
  if (c) {
    await c.end();
  }
}

const CONNECTION_ERRORS = [
  "Connection terminated",
  "Client was closed",
  "not queryable",
  "terminating connection",
  "ECONNRESET",
  "EPIPE",
  "ECONNREFUSED",
];

export function isConnectionError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string } | null)?.code ?? "";
  return code.startsWith("08") || code.startsWith("57P") || CONNECTION_ERRORS.some((m) => message.includes(m));
}
