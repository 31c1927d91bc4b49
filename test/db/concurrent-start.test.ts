import { expect } from 'chai';
import { loadConfig } from '../../lib/config/config.js';
import { migrateLatest, migrationStatus, openDatabase } from '../../lib/db/database.js';
import { createTestDatabase, usingPostgres } from '../support/database.js';

/** Several instances starting at once on one empty PostgreSQL all come up migrated. */
describe('migrations at start on PostgreSQL', function () {
  before(function () {
    if (!usingPostgres()) this.skip();
  });

  it('eight instances migrating an empty database together all succeed, and every migration ran once', async () => {
    const testDb = await createTestDatabase();
    const dbs = await Promise.all(Array.from({ length: 8 }, () => openDatabase(loadConfig(testDb.env).database)));
    try {
      const results = await Promise.all(dbs.map((db) => migrateLatest(db.knex)));
      const applied = results.flat();
      const status = await migrationStatus(dbs[0]!.knex);
      expect(status.pending).to.deep.equal([]);
      expect(applied.sort()).to.deep.equal([...status.applied].sort());
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});
