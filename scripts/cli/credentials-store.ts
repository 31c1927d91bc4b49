import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Where `latch login` keeps tokens: $XDG_CONFIG_HOME/latch/credentials.json (else
 * ~/.config/latch/…), a directory only the user can enter (0700) and a file only the user can
 * read (0600), written to a temporary file and renamed so a crash never leaves half a file.
 * One entry per issuer; `current` is the last one signed in to.
 */
export type StoredLogin = {
  issuer: string;
  clientId: string;
  accessToken: string;
  /** seconds since the epoch */
  expiresAt: number;
  refreshToken?: string;
  scope?: string;
  resource?: string;
  tokenEndpoint: string;
  revocationEndpoint?: string;
};

type CredentialsFile = { version: 1; current?: string; logins: Record<string, StoredLogin> };

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'latch', 'credentials.json');
}

async function read(file: string): Promise<CredentialsFile> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as CredentialsFile;
    if (parsed?.version === 1 && parsed.logins && typeof parsed.logins === 'object') return parsed;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  return { version: 1, logins: {} };
}

async function write(file: string, content: CredentialsFile) {
  if (!Object.keys(content.logins).length) {
    await fs.rm(file, { force: true });
    return;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.rm(temporary, { force: true });
  await fs.writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await fs.rename(temporary, file);
}

/**
 * Runs `change` with the file locked (an O_EXCL lock file), so two `latch token` calls never
 * both spend the same refresh token: a rotated token used twice revokes the whole grant.
 */
async function withLock<T>(file: string, change: () => Promise<T>): Promise<T> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const lock = `${file}.lock`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      await (await fs.open(lock, 'wx', 0o600)).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (await fs.stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > 30_000) await fs.rm(lock, { force: true }); // left by a killed process
      else if (attempt > 200) throw new Error(`${lock} is held by another latch command`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await change();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

export function createCredentialsStore(file = credentialsPath()) {
  return {
    file,
    async find(issuer?: string): Promise<StoredLogin | undefined> {
      const content = await read(file);
      const key = issuer ?? content.current;
      return key ? content.logins[key] : undefined;
    },
    async save(login: StoredLogin) {
      await withLock(file, async () => {
        const content = await read(file);
        content.logins[login.issuer] = login;
        content.current = login.issuer;
        await write(file, content);
      });
    },
    /** Reads, maybe replaces, and writes one login under the lock. */
    async update(issuer: string | undefined, change: (login: StoredLogin) => Promise<StoredLogin>): Promise<StoredLogin | undefined> {
      return withLock(file, async () => {
        const content = await read(file);
        const key = issuer ?? content.current;
        const login = key ? content.logins[key] : undefined;
        if (!login) return undefined;
        const next = await change(login);
        if (next !== login) {
          content.logins[login.issuer] = next;
          await write(file, content);
        }
        return next;
      });
    },
    async remove(issuer: string) {
      await withLock(file, async () => {
        const content = await read(file);
        delete content.logins[issuer];
        if (content.current === issuer) content.current = Object.keys(content.logins)[0];
        await write(file, content);
      });
    },
  };
}
