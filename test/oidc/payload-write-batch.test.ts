import { expect } from 'chai';
import request from 'supertest';
import { writeKind } from '../../bench/measure/write-log.js';
import { createAdapterFactory } from '../../adapters/knex-adapter.js';
import { createOidcPayloadQueries } from '../../lib/oidc/oidc-payloads.queries.js';
import { PayloadWriteBatch } from '../../lib/oidc/payload-write-batch.js';
import { authParams, countRows, csrfFrom, interactionForm, latchPath, pkcePair, PASSWORD, signUpAccount } from '../support/flow.js';
import { startLatch, type TestLatch } from '../support/latch.js';
import { queriesDuring } from '../support/queries.js';

/** The statements that write, labelled as the bench labels them, while `fn` runs. */
async function writesDuring(latch: TestLatch, fn: () => Promise<unknown>): Promise<string[]> {
  const { queries } = await queriesDuring(latch.container.knex, fn);
  return queries.flatMap((q) => writeKind(q.sql, q.bindings, q.queryContext?.rows) ?? []);
}

/**
 * A protocol request's adapter writes go to the database as one statement at the end of the
 * request (lib/oidc/payload-write-batch.ts): one commit instead of one per row, and all or
 * nothing.
 */
describe('adapter writes batched per protocol request', () => {
  let latch: TestLatch;

  before(async () => {
    latch = await startLatch();
  });
  after(() => latch.close());

  describe('the batch', () => {
    const payloads = () => createOidcPayloadQueries(latch.container.knex);

    it('holds writes until it is sent, as one statement; a look-up sees what the request wrote', async () => {
      const batch = new PayloadWriteBatch(payloads());
      const adapterFor = createAdapterFactory({ payloads: payloads(), clients: latch.container.queries.clients }, () => (batch.open ? batch : undefined));
      await adapterFor('Interaction').upsert('gone-soon', { uid: 'u-gone' } as never, 60);
      await batch.close();
      const fresh = new PayloadWriteBatch(payloads());
      const batched = createAdapterFactory({ payloads: payloads(), clients: latch.container.queries.clients }, () => (fresh.open ? fresh : undefined));

      const writes = await writesDuring(latch, async () => {
        await batched('Grant').upsert('g-batch', { jti: 'g-batch', accountId: 'a', clientId: 'c' } as never, 60);
        await batched('Session').upsert('s-batch', { uid: 's-uid', accountId: 'a' } as never, 60);
        await batched('Interaction').destroy('gone-soon');
        // nothing has reached the database yet
        expect(await countRows(latch, 'oidc_payloads', { model: 'Grant', id: 'g-batch' })).to.equal(0);
        expect(await countRows(latch, 'oidc_payloads', { model: 'Interaction', id: 'gone-soon' })).to.equal(1);
        // but the request sees its own writes: a deleted row is gone for it
        expect(await batched('Interaction').find('gone-soon')).to.equal(undefined);
        await fresh.close();
      });

      expect(writes).to.deep.equal(['one statement on oidc_payloads (delete Interaction, upsert Grant, upsert Session)']);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Grant', id: 'g-batch' })).to.equal(1);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Session', id: 's-batch' })).to.equal(1);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Interaction', id: 'gone-soon' })).to.equal(0);
    });

    it('sends what is pending before reading back a row the request wrote, and before consume', async () => {
      const batch = new PayloadWriteBatch(payloads());
      const adapterFor = createAdapterFactory({ payloads: payloads(), clients: latch.container.queries.clients }, () => (batch.open ? batch : undefined));
      await adapterFor('AuthorizationCode').upsert('code-read-back', { jti: 'code-read-back', grantId: 'g-rb' } as never, 60);
      expect(await countRows(latch, 'oidc_payloads', { id: 'code-read-back' })).to.equal(0);
      expect(await adapterFor('AuthorizationCode').find('code-read-back')).to.include({ grantId: 'g-rb' });
      expect(await countRows(latch, 'oidc_payloads', { id: 'code-read-back' })).to.equal(1);

      await adapterFor('AuthorizationCode').upsert('code-consumed', { jti: 'code-consumed', grantId: 'g-rb' } as never, 60);
      await adapterFor('AuthorizationCode').consume('code-consumed');
      expect(await adapterFor('AuthorizationCode').find('code-consumed')).to.have.property('consumed').that.is.a('number');
      await batch.close();
    });

    it('writes nothing when its statement fails, and nothing more once abandoned or closed', async () => {
      const queries = payloads();
      await queries.upsert({ model: 'Interaction', id: 'kept', payload_json: '{}', grant_id: null, client_id: null, account_id: null, user_code: null, uid: null, expires_at: null });
      const batch = new PayloadWriteBatch(queries);
      const row = { payload_json: '{}', grant_id: null, client_id: null, account_id: null, user_code: null, uid: null };
      batch.upsert({ ...row, model: 'Grant', id: 'half-1', expires_at: null });
      batch.upsert({ ...row, model: 'Session', id: 'half-\u0000', expires_at: null });
      batch.destroy('Interaction', 'kept');
      let failed: unknown;
      await batch.close().catch((err: unknown) => (failed = err));
      expect(failed, 'PostgreSQL text cannot hold NUL: the statement fails').to.be.instanceOf(Error);
      expect(await countRows(latch, 'oidc_payloads', { id: 'half-1' })).to.equal(0);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Interaction', id: 'kept' })).to.equal(1);

      const abandoned = new PayloadWriteBatch(queries);
      abandoned.upsert({ ...row, model: 'Grant', id: 'abandoned', expires_at: null });
      abandoned.abandon();
      expect(abandoned.open).to.equal(false);
      await abandoned.send();
      expect(await countRows(latch, 'oidc_payloads', { id: 'abandoned' })).to.equal(0);
    });
  });

  describe('across concurrent requests (group commit)', () => {
    const row = { payload_json: '{}', grant_id: null, client_id: null, account_id: null, user_code: null, uid: null, expires_at: null };
    const payloads = () => createOidcPayloadQueries(latch.container.knex);

    it('requests that finish in the same turn share one statement, and each waits for its commit', async () => {
      const queries = payloads();
      const batches = ['a', 'b', 'c'].map((name) => {
        const batch = new PayloadWriteBatch(queries);
        batch.upsert({ ...row, model: 'ClientCredentials', id: `gc-${name}` });
        batch.upsert({ ...row, model: 'Grant', id: `gc-grant-${name}` });
        return batch;
      });
      let committed = 0;
      const writes = await writesDuring(latch, () =>
        Promise.all(
          batches.map(async (batch) => {
            await batch.close();
            committed += 1;
          }),
        ),
      );
      expect(writes, 'three requests, six rows, one statement').to.have.length(1);
      expect(writes[0]).to.match(/one statement on oidc_payloads/);
      expect(committed).to.equal(3);
      expect(await countRows(latch, 'oidc_payloads', { model: 'ClientCredentials', id: 'gc-b' })).to.equal(1);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Grant', id: 'gc-grant-c' })).to.equal(1);
    });

    it('writes to the same row never share a statement, and the later one wins', async () => {
      const queries = payloads();
      const first = queries.writeMany([{ ...row, model: 'Session', id: 'gc-same', payload_json: JSON.stringify({ n: 1 }) }], []);
      const second = queries.writeMany([{ ...row, model: 'Session', id: 'gc-same', payload_json: JSON.stringify({ n: 2 }) }], []);
      const third = queries.writeMany([{ ...row, model: 'Session', id: 'gc-other', payload_json: JSON.stringify({ n: 3 }) }], []);
      const writes = await writesDuring(latch, () => Promise.all([first, second, third]));
      expect(writes, 'the overlapping write starts a second statement; the third joins it').to.have.length(2);
      const stored = await latch.container.knex('oidc_payloads').where({ model: 'Session', id: 'gc-same' }).first();
      expect(stored.payload).to.deep.equal({ n: 2 });
    });

    it('a row the database refuses fails only its own request; the others are committed', async () => {
      const queries = payloads();
      const outcomes = await Promise.allSettled([
        queries.writeMany([{ ...row, model: 'Grant', id: 'gc-ok-1' }], []),
        queries.writeMany([{ ...row, model: 'Session', id: 'gc-bad-\u0000' }, { ...row, model: 'Grant', id: 'gc-bad-grant' }], []),
        queries.writeMany([{ ...row, model: 'Grant', id: 'gc-ok-2' }], []),
      ]);
      expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Grant', id: 'gc-ok-1' })).to.equal(1);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Grant', id: 'gc-ok-2' })).to.equal(1);
      expect(await countRows(latch, 'oidc_payloads', { model: 'Grant', id: 'gc-bad-grant' }), 'all or nothing within the request').to.equal(0);
    });
  });

  describe('in a sign-in', () => {
    const redirectUri = 'https://batch.example.com/cb';
    let clientId: string;

    before(async () => {
      ({ clientId } = await latch.container.clients.create({ name: 'Batch App', public: true, redirectUris: [redirectUri] }));
    });

    /** Signs in and consents; returns the agent and the resume path oidc-provider sends the browser to. */
    async function upToResume(email: string) {
      await signUpAccount(latch, email);
      const agent = request.agent(latch.url);
      const { verifier, challenge } = pkcePair();
      const start = await agent.get('/auth').query(authParams({ clientId, redirectUri }, challenge, 'st'));
      let page = await agent.get(latchPath(latch, start.headers.location!)!);
      const login = await agent.post(`/interaction/${interactionForm(page.text)!.uid}/login`).type('form').send({ email, password: PASSWORD, _csrf: csrfFrom(page.text) });
      expect(login.status).to.equal(303);
      let next = await agent.get(latchPath(latch, login.headers.location!)!);
      // first time for this client: the consent page, through the resume, then Allow
      if (next.status === 303 && latchPath(latch, next.headers.location!)?.startsWith('/interaction/')) {
        page = await agent.get(latchPath(latch, next.headers.location!)!);
        const consent = await agent.post(`/interaction/${interactionForm(page.text)!.uid}/consent`).type('form').send({ decision: 'allow', _csrf: csrfFrom(page.text) });
        expect(consent.status).to.equal(303);
        return { agent, verifier, resumePath: latchPath(latch, consent.headers.location!)! };
      }
      throw new Error(`expected the consent step, got ${next.status} ${next.headers.location ?? next.text.slice(0, 200)}`);
    }

    it('resuming after consent saves the grant, the session and the code and deletes the interaction in one statement', async () => {
      const { agent, resumePath } = await upToResume('batch-one@example.com');
      let res: request.Response | undefined;
      const writes = await writesDuring(latch, async () => {
        res = await agent.get(resumePath);
      });
      expect(res!.status).to.equal(303);
      const code = new URL(res!.headers.location!).searchParams.get('code');
      expect(code, 'the client got a code').to.be.a('string');
      const payloadWrites = writes.filter((w) => w.includes('oidc_payloads'));
      expect(payloadWrites).to.have.length(1);
      expect(payloadWrites[0]).to.match(/^one statement on oidc_payloads \(.*delete Interaction.*upsert AuthorizationCode.*upsert Session.*\)$/);
      expect(await countRows(latch, 'oidc_payloads', { model: 'AuthorizationCode' })).to.be.at.least(1);
    });

    it('a resume whose writes the database refuses answers 503, writes none of them, and can be resumed again', async () => {
      const { agent, resumePath } = await upToResume('batch-fault@example.com');
      const before = { codes: await countRows(latch, 'oidc_payloads', { model: 'AuthorizationCode' }), sessions: await countRows(latch, 'oidc_payloads', { model: 'Session' }) };
      const interactions = await countRows(latch, 'oidc_payloads', { model: 'Interaction' });
      // the database refuses new sessions as a server that cannot take connections would
      await latch.container.knex.raw(`CREATE FUNCTION refuse_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.model = 'Session' THEN RAISE EXCEPTION 'not now' USING ERRCODE = '57P03'; END IF; RETURN NEW; END $$`);
      await latch.container.knex.raw('CREATE TRIGGER refuse_sessions BEFORE INSERT ON oidc_payloads FOR EACH ROW EXECUTE FUNCTION refuse_sessions()');
      try {
        const res = await agent.get(resumePath);
        expect(res.status).to.equal(503);
        expect(res.headers.location, 'no redirect carrying a code').to.equal(undefined);
        expect(res.body).to.include({ error: 'temporarily_unavailable' });
        expect(await countRows(latch, 'oidc_payloads', { model: 'AuthorizationCode' })).to.equal(before.codes);
        expect(await countRows(latch, 'oidc_payloads', { model: 'Session' })).to.equal(before.sessions);
        expect(await countRows(latch, 'oidc_payloads', { model: 'Interaction' }), 'the interaction is still there').to.equal(interactions);
      } finally {
        await latch.container.knex.raw('DROP TRIGGER refuse_sessions ON oidc_payloads');
        await latch.container.knex.raw('DROP FUNCTION refuse_sessions()');
      }
      const again = await agent.get(resumePath);
      expect(again.status).to.equal(303);
      expect(new URL(again.headers.location!).searchParams.get('code')).to.be.a('string');
    });
  });
});
