// Retry wrapper for database operations: a connection error reconnects and
// tries again with exponential backoff, so a dropped connection heals itself.
import { forceDisconnect, isConnectionError } from "./db";
import { emit } from "./events";
import { log } from "./log";

let attempts = 5;
let baseMs = 1000;

export function configureRetries(maxAttempts: number, backoffBaseMs: number): void {
  attempts = maxAttempts;
  baseMs = backoffBaseMs;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withRetry<T>(flow: string, activity: string, op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    emit({ flow, activity, kind: "started", role: "act", subject: "db-client", detail: `attempt ${attempt}/${attempts}` });
    try {
      const result = await op();
      emit({ flow, activity, kind: "completed", role: "act", subject: "db-client", detail: `attempt ${attempt}/${attempts}` });
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      emit({ flow, activity, kind: "failed", role: "act", subject: "db-client", detail: `attempt ${attempt}/${attempts}: ${message}` });
      if (!isConnectionError(err) || attempt >= attempts) {
        throw err;
      }
      const delay = baseMs * 2 ** (attempt - 1);
      log.warn(`[RETRY] ${activity} attempt ${attempt}/${attempts} failed: ${message}; reconnecting, next try in ${delay} ms`);
      await forceDisconnect(flow, `${activity} failed`);
      emit({ flow, activity: "Reconnect", kind: "timer", subject: "db-client", detail: `backoff ${delay} ms` });
      await sleep(delay);
    }
  }
}
