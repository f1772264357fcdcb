import { Db } from "../db";

export interface Batch {
  id: number;
  merchant: string;
  status: "open" | "settled";
  items: { id: number; amountCents: number }[];
}

export class BatchRepository {
  constructor(private readonly db: Db) {}

  async load(batchId: number): Promise<Batch | null> {
    const b = await this.db.query<{ id: number; merchant: string; status: "open" | "settled" }>(
      "SELECT id, merchant, status FROM batches WHERE id = $1",
      [batchId],
    );
    if (!b.rows.length) {
      return null;
    }
    const items = await this.db.query<{ id: number; amount_cents: string }>(
      "SELECT id, amount_cents FROM line_items WHERE batch_id = $1 ORDER BY id",
      [batchId],
    );
    return {
      ...b.rows[0],
      items: items.rows.map((r) => ({ id: r.id, amountCents: Number(r.amount_cents) })),
    };
  }
}
