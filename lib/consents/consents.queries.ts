import type { Knex } from 'knex';

export type ConsentRow = {
  account_id: string;
  client_id: string;
  scopes: string[];
  resource_scopes: Record<string, string>;
  org_id: string | null;
  created_at: Date;
  updated_at: Date;
};

export type ConsentQueries = ReturnType<typeof createConsentQueries>;

export function createConsentQueries(knex: Knex) {
  return {
    async find(accountId: string, clientId: string): Promise<ConsentRow | undefined> {
      return knex<ConsentRow>('consents').where({ account_id: accountId, client_id: clientId }).first();
    },
    async listForAccount(accountId: string): Promise<ConsentRow[]> {
      return knex<ConsentRow>('consents').where({ account_id: accountId }).orderBy('updated_at', 'desc');
    },
    async upsert(row: Pick<ConsentRow, 'account_id' | 'client_id' | 'scopes' | 'resource_scopes' | 'org_id'>) {
      await knex('consents')
        .insert({ ...row, resource_scopes: JSON.stringify(row.resource_scopes) })
        .onConflict(['account_id', 'client_id'])
        .merge({ scopes: row.scopes, resource_scopes: JSON.stringify(row.resource_scopes), org_id: row.org_id, updated_at: new Date() });
    },
    async delete(accountId: string, clientId: string, db: Knex = knex): Promise<number> {
      return db('consents').where({ account_id: accountId, client_id: clientId }).delete();
    },
  };
}
