import { Pool } from "pg";

export interface Profile {
  id: number;
  name: string;
  title: string;
  version: number;
  updatedAt: string;
}

export interface Team {
  id: number;
  name: string;
  memberIds: number[];
}

interface ProfileRow {
  id: number;
  name: string;
  title: string;
  version: number;
  updated_at: Date;
}

function toProfile(row: ProfileRow): Profile {
  return {
    id: row.id,
    name: row.name,
    title: row.title,
    version: row.version,
    updatedAt: row.updated_at.toISOString(),
  };
}

const PROFILE_COLUMNS = "id, name, title, version, updated_at";

export class Database {
  private readonly pool: Pool;

  constructor(connectionString: string, poolSize: number) {
    this.pool = new Pool({ connectionString, max: poolSize });
  }

  onError(handler: (err: Error) => void): void {
    this.pool.on("error", handler);
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async getUser(id: number): Promise<Profile | null> {
    const res = await this.pool.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM users WHERE id = $1`,
      [id],
    );
    return res.rows.length ? toProfile(res.rows[0]) : null;
  }

  async getUsers(ids: number[]): Promise<Profile[]> {
    if (ids.length === 0) {
      return [];
    }
    const res = await this.pool.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM users WHERE id = ANY($1::int[]) ORDER BY id`,
      [ids],
    );
    return res.rows.map(toProfile);
  }

  async getTeam(id: number): Promise<Team | null> {
    const res = await this.pool.query<{ id: number; name: string; member_ids: number[] }>(
      `SELECT t.id, t.name,
              COALESCE(array_agg(m.user_id ORDER BY m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}') AS member_ids
         FROM teams t
         LEFT JOIN team_members m ON m.team_id = t.id
        WHERE t.id = $1
        GROUP BY t.id, t.name`,
      [id],
    );
    if (!res.rows.length) {
      return null;
    }
    const row = res.rows[0];
    return { id: row.id, name: row.name, memberIds: row.member_ids };
  }

  async teamIdsOfUser(userId: number): Promise<number[]> {
    const res = await this.pool.query<{ team_id: number }>(
      "SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id",
      [userId],
    );
    return res.rows.map((r) => r.team_id);
  }

  async updateTitle(id: number, title: string): Promise<Profile | null> {
    const res = await this.pool.query<ProfileRow>(
      `UPDATE users
          SET title = $2, version = version + 1, updated_at = now()
        WHERE id = $1
    RETURNING ${PROFILE_COLUMNS}`,
      [id, title],
    );
    return res.rows.length ? toProfile(res.rows[0]) : null;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
