// Pricing rules come from the pricing service, per batch (rules change at any
// time and a batch is settled with the rules in force when it runs).
import * as http from "http";

export interface PricingRules {
  feeBps: number;
}

export function fetchRules(rulesUrl: string, batchId: number, timeoutMs = 10_000): Promise<PricingRules> {
  const url = new URL(`/rules?batch=${batchId}`, rulesUrl);
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (res.statusCode !== 200) {
          reject(new Error(`pricing service answered ${res.statusCode}`));
          return;
        }
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { feeBps?: unknown };
          if (typeof body.feeBps !== "number") {
            throw new Error("no feeBps");
          }
          resolve({ feeBps: body.feeBps });
        } catch (err) {
          reject(new Error(`bad pricing rules: ${String(err)}`));
        }
      });
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("pricing service timed out")));
    req.on("error", reject);
  });
}

export interface PricedItem {
  lineItemId: number;
  payoutCents: number;
}

export interface PricedBatch {
  grossCents: number;
  feeCents: number;
  netCents: number;
  items: PricedItem[];
}

export function applyRules(rules: PricingRules, items: { id: number; amountCents: number }[]): PricedBatch {
  const priced = items.map((it) => ({
    lineItemId: it.id,
    payoutCents: it.amountCents - Math.round((it.amountCents * rules.feeBps) / 10_000),
  }));
  const grossCents = items.reduce((s, it) => s + it.amountCents, 0);
  const netCents = priced.reduce((s, it) => s + it.payoutCents, 0);
  return { grossCents, feeCents: grossCents - netCents, netCents, items: priced };
}
