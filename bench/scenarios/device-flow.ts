import { setTimeout as sleep } from 'node:timers/promises';
import { PERSON_SCOPE, type BenchPerson } from '../seed/fixture.js';
import { approveDeviceCode, authorize, Browser } from './browser.js';
import { FORM, form, parseJson, statusProblem } from './requests.js';
import type { Scenario } from './types.js';

/**
 * Scenario 7: the device flow (RFC 8628) with many devices in flight. Each flow is one
 * device: it asks for a code at /device/auth, then polls /token every POLL_INTERVAL_MS
 * (authorization_pending) while a signed-in person approves the code on /device (code,
 * confirm, remembered consent); the flow ends when a poll returns the tokens. Several devices
 * per connection run at once (4 in a full run), so most requests are polls against pending codes, as on a real
 * deployment. Approvers are browsers signed in once (a password sign-in), reused.
 * Counted in device flows/s, with polls beside it.
 */
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
// RFC 8628 suggests 5 s; a shorter interval puts the same load as proportionally more devices.
// Latch answers slow_down to a device polling faster than its interval (SECURITY B.17), so the
// bench starts it with LATCH_DEVICE_POLL_INTERVAL=1 (servers/start.ts) and polls at that pace.
export const DEVICE_POLL_INTERVAL_S = 1;
const POLL_INTERVAL_MS = DEVICE_POLL_INTERVAL_S * 1000;
const MAX_POLLS = 120;

type Approver = { browser: Browser; person: BenchPerson };

export const deviceFlow: Scenario = {
  id: '7',
  title: `device flow: devices polling every ${POLL_INTERVAL_MS} ms while people approve their codes (device flows/s)`,
  floor: 'echo',
  pacedAt70: false,
  unit: 'flows',
  countWrites: true,
  storesTokens: true,
  targets: [],
  async prepare(target, sizes) {
    const { people, deviceClientId, resource } = target.fixture;
    if (!people.length || !deviceClientId) return { unavailable: 'no seeded people or device client' };
    // browsers with a session: one password sign-in each (a code flow), then kept for approvals;
    // a device waits for a free one, as a code waits for its person
    const free: Approver[] = [];
    const waiting: ((approver: Approver) => void)[] = [];
    // two devices per approver waiting at most: approving takes a few requests, polling is slower
    for (const person of people.slice(-2 * sizes.devicesPerConnection)) {
      const browser = new Browser(target.url);
      await authorize(browser, person.app, person, { scope: PERSON_SCOPE, resource });
      free.push({ browser, person });
    }
    const acquire = () => new Promise<Approver>((resolve) => (free.length ? resolve(free.pop()!) : waiting.push(resolve)));
    const release = (approver: Approver) => (waiting.length ? waiting.shift()!(approver) : free.push(approver));
    const post = async (url: string, path: string, params: Record<string, string>) => {
      const res = await fetch(new URL(path, url), { method: 'POST', headers: { 'content-type': FORM }, body: form(params) });
      const text = await res.text();
      return { status: res.status, text, json: parseJson(text) };
    };
    return {
      usersPerConnection: sizes.devicesPerConnection,
      async flow(url, count) {
        const started = await post(url, '/device/auth', { client_id: deviceClientId, scope: 'openid' });
        const deviceCode = started.json?.device_code;
        const userCode = started.json?.user_code;
        if (started.status !== 200 || typeof deviceCode !== 'string' || typeof userCode !== 'string') {
          throw new Error(`device authorization: ${statusProblem(started.status, started.text) ?? 'no codes'}`);
        }
        let approvalFailed: Error | undefined;
        const approval = (async () => {
          const who = await acquire();
          try {
            await approveDeviceCode(who.browser, userCode, who.person);
          } catch (err) {
            approvalFailed = err as Error;
          } finally {
            release(who);
          }
        })();
        for (let polls = 1; ; polls += 1) {
          const res = await post(url, '/token', { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: deviceClientId });
          count('polls');
          if (res.status === 200 && typeof res.json?.access_token === 'string') break;
          if (res.status !== 400 || res.json?.error !== 'authorization_pending') throw new Error(`poll: ${statusProblem(res.status, res.text)}`);
          if (approvalFailed) throw new Error(`approval: ${approvalFailed.message}`);
          if (polls >= MAX_POLLS) throw new Error(`still pending after ${polls} polls`);
          count('pending');
          await sleep(POLL_INTERVAL_MS);
        }
        await approval;
        count('approvals');
      },
    };
  },
};
