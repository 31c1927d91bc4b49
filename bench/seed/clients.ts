import type { ClientService } from '../../lib/clients/clients.service.js';

/**
 * Clients through Latch's own client service (its validation and policy, its table): half
 * machine clients (client_credentials), half web apps (code + refresh, with a redirect URI).
 */
export type Credential = { clientId: string; clientSecret: string };
export type AppCredential = Credential & { redirectUri: string };
export type SeededClients = { machines: Credential[]; apps: AppCredential[] };

const CONCURRENCY = 8;

export async function seedClients(clients: ClientService, count: number): Promise<SeededClients> {
  const machines: Credential[] = [];
  const apps: AppCredential[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      if (i % 2 === 0) {
        const created = await clients.create({ name: `Bench machine ${i}`, grantTypes: ['client_credentials'] });
        machines.push({ clientId: created.clientId, clientSecret: created.clientSecret! });
      } else {
        const redirectUri = `https://app-${i}.bench.example/callback`;
        const created = await clients.create({ name: `Bench app ${i}`, grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [redirectUri] });
        apps.push({ clientId: created.clientId, clientSecret: created.clientSecret!, redirectUri });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  return { machines, apps };
}
