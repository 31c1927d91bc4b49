import { cleanupTestDatabases } from './database.js';

process.env.NODE_ENV = 'test';

export const mochaHooks = {
  async afterAll() {
    await cleanupTestDatabases();
  },
};
