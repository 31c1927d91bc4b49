import { expect } from 'chai';
import { client, discover } from '../support/oauth.js';
import { startLatch } from '../support/latch.js';
import { createTestDatabase } from '../support/database.js';

describe('persistence across a restart', () => {
  it('a token issued before a restart still introspects as active after it, with the same keys', async () => {
    const db = await createTestDatabase();
    const first = await startLatch({}, db);
    const port = String(new URL(first.url).port);
    const { clientId, clientSecret } = await first.container.clients.create({ name: 'M2M', grantTypes: ['client_credentials'] });
    let config = await discover(first.issuer, clientId, clientSecret);
    const tokens = await client.clientCredentialsGrant(config, {});
    const jwksBefore = await (await fetch(`${first.url}/jwks`)).json();
    await first.close();

    const second = await startLatch({ PORT: port }, db);
    try {
      config = await discover(second.issuer, clientId, clientSecret);
      const introspection = await client.tokenIntrospection(config, tokens.access_token);
      expect(introspection.active).to.equal(true);
      expect(await (await fetch(`${second.url}/jwks`)).json()).to.deep.equal(jwksBefore);
    } finally {
      await second.close();
    }
  });
});
