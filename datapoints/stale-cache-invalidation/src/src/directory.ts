import { DirectoryCache, TeamPage } from "./cache";
import { Database, Profile } from "./db";

// Read-through cached access to profiles and team pages.
export class Directory {
  constructor(private readonly db: Database, private readonly cache: DirectoryCache) {}

  async getProfile(userId: number): Promise<Profile | null> {
    const cached = await this.cache.getProfile(userId);
    if (cached) {
      return cached;
    }
    const profile = await this.db.getUser(userId);
    if (profile) {
      await this.cache.putProfile(profile, { onlyIfAbsent: true });
    }
    return profile;
  }

  async getTeamPage(teamId: number): Promise<TeamPage | null> {
    const cached = await this.cache.getTeamPage(teamId);
    if (cached) {
      return cached;
    }
    const team = await this.db.getTeam(teamId);
    if (!team) {
      return null;
    }
    return this.cache.buildTeamPage(team, (ids) => this.db.getUsers(ids));
  }

  async updateTitle(userId: number, title: string): Promise<Profile | null> {
    const profile = await this.db.updateTitle(userId, title);
    if (!profile) {
      return null;
    }
    // Write-through: the next read of this profile is served from Redis.
    await this.cache.putProfile(profile);
    await this.invalidateRelated(profile);
    return profile;
  }

  // Team pages embed member profiles, so they go stale when a member changes.
  private async invalidateRelated(profile: Profile): Promise<void> {
    const teamIds = await this.db.teamIdsOfUser(profile.id);
    await this.cache.invalidateTeamPages(teamIds);
  }
}
