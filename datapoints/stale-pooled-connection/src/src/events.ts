// Timeline events for `racebench timeline`: one JSON object per line, appended
// to EVENTS_FILE when it is set. `at_us` is microseconds on the monotonic clock.
import { appendFileSync } from "fs";

export type EventKind = "scheduled" | "started" | "completed" | "failed" | "timer" | "note";

export interface TimelineEvent {
  flow: string;
  activity: string;
  kind: EventKind;
  subject?: string;
  role?: "check" | "act";
  detail?: string;
}

const eventsFile = process.env.EVENTS_FILE || "";

export function emit(event: TimelineEvent): void {
  if (!eventsFile) {
    return;
  }
  const line = JSON.stringify({ at_us: Number(process.hrtime.bigint() / 1000n), ...event });
  try {
    appendFileSync(eventsFile, line + "\n");
  } catch {
    // Events are diagnostics; never fail a job over them.
  }
}
