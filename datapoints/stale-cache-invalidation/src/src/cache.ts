import { RedisClientType, WatchError } from "redis";
import { Profile, Team } from "./db";
import { log } from "./log";

export interface TeamPage {
  id: number;
  name: string;
  members: Profile[];
}

export function profileKey(userId: number): string {
  return `directory:profile:${userId}`;
}

export function teamPageKey(teamId: number): string {
  return `directory:team-page:${teamId}`;
}

function parse<T>(raw: string | null): T | null {
  return raw === null ? null : (JSON.parse(raw) as T);
}

// Redis-backed cache of profiles and of the team pages that embed them.
export class DirectoryCache {
  constructor(private readonly redis: RedisClientType, private readonly ttlSeconds: number) {}

  async getProfile(userId: number): Promise<Profile | null> {
    return parse<Profile>(await this.redis.get(profileKey(userId)));
  }

  // Stores a profile read from the database. onlyIfAbsent keeps a read-through
  // fill from overwriting a profile an update has already stored.
  async putProfile(profile: Profile, opts: { onlyIfAbsent?: boolean } = {}): Promise<void> {
    const value = JSON.stringify(profile);
    if (opts.onlyIfAbsent) {
      await this.redis.set(profileKey(profile.id), value, { EX: this.ttlSeconds, NX: true });
    } else {
      await this.redis.set(profileKey(profile.id), value, { EX: this.ttlSeconds });
    }
  }

  async getTeamPage(teamId: number): Promise<TeamPage | null> {
    return parse<TeamPage>(await this.redis.get(teamPageKey(teamId)));
  }

  // Builds a team page from the cached member profiles (loading the missing
  // ones from the database) and caches it. The member profiles are WATCHed, so
  // if one of them changes while the page is being assembled the page is
  // returned to the caller but not cached.
  async buildTeamPage(
    team: Team,
    loadProfiles: (userIds: number[]) => Promise<Profile[]>,
  ): Promise<TeamPage> {
    const keys = team.memberIds.map(profileKey);
    return this.redis.executeIsolated(async (conn) => {
      try {
        if (keys.length) {
          await conn.watch(keys);
        }
        const cached = keys.length ? await conn.mGet(keys) : [];
        const byId = new Map<number, Profile>();
        const missing: number[] = [];
        team.memberIds.forEach((id, i) => {
          const profile = parse<Profile>(cached[i]);
          if (profile) {
            byId.set(id, profile);
          } else {
            missing.push(id);
          }
        });
        const loaded = await loadProfiles(missing);
        for (const profile of loaded) {
          byId.set(profile.id, profile);
        }
        const page: TeamPage = {
          id: team.id,
          name: team.name,
          members: team.memberIds.filter((id) => byId.has(id)).map((id) => byId.get(id) as Profile),
        };

        const tx = conn.multi();
        for (const profile of loaded) {
          tx.set(profileKey(profile.id), JSON.stringify(profile), { EX: this.ttlSeconds, NX: true });
        }
        tx.set(teamPageKey(team.id), JSON.stringify(page), { EX: this.ttlSeconds });
        try {
          await tx.exec();
        } catch (err) {
          if (!(err instanceof WatchError)) {
            throw err;
          }
          log.debug("team page changed while building; not cached", { teamId: team.id });
        }
        return page;
      } catch (err) {
        await conn.unwatch().catch(() => undefined);
        throw err;
      }
    });
  }

  async invalidateTeamPages(teamIds: number[]): Promise<void> {
    if (teamIds.length) {
      await this.redis.del(teamIds.map(teamPageKey));
    }
  }
}
