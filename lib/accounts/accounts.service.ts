import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { AuditService } from '../audit/audit.service.js';
import { LatchError } from '../http/errors.js';
import type { MailService } from '../mail/mail.service.js';
import type { OidcPayloadQueries } from '../oidc/oidc-payloads.queries.js';
import type { ThrottleService } from '../throttling/throttle.service.js';
import { newAccountId } from './account-ids.js';
import type { AccountQueries, AccountRow, EmailTokenRow } from './accounts.queries.js';
import { hashPassword, passwordNeedsRehash, passwordProblem, PASSWORD_PROBLEM_MESSAGES, verifyPassword } from './passwords.js';

/**
 * People: sign-up, password sign-in, e-mail verification and password reset.
 * SECURITY.md D.24–D.27 and D.31.
 */
export const EMAIL_TOKEN_BYTES = 32; // 256 bits
export const VERIFY_EMAIL_TTL_SECONDS = 30 * 60;
export const RESET_PASSWORD_TTL_SECONDS = 10 * 60;
const EMAIL_MAX_LENGTH = 254;
const NAME_MAX_LENGTH = 200;
/** How finely an account's last sign-in is kept: one write per account per hour at most. */
const LAST_SIGN_IN_RESOLUTION_MS = 60 * 60 * 1000;
// a pragmatic shape check; the address is proven by the verification mail, not by a regex
const EMAIL_SHAPE = /^[^\s@<>()[\]\\,;:"\u0000-\u001f]+@[^\s@<>()[\]\\,;:"\u0000-\u001f]+\.[^\s@<>()[\]\\,;:"\u0000-\u001f]+$/;

export class AccountError extends LatchError {
  constructor(code: string, message: string, readonly field?: string) {
    super(code, message, 400);
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

const sha256 = (value: string) => crypto.createHash('sha256').update(value).digest('base64url');

export type Account = {
  id: string;
  email: string;
  name: string | null;
  emailVerified: boolean;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: Date;
  lastLoginAt: Date | null;
};

/** An account as a token, userinfo or an API call sees it (AccountService.findClaims). */
export type AccountClaims = Pick<Account, 'id' | 'email' | 'name' | 'emailVerified' | 'disabled'>;

export function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    emailVerified: row.email_verified,
    isAdmin: row.is_admin,
    disabled: row.disabled,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  };
}

export type AccountService = ReturnType<typeof createAccountService>;

export function createAccountService(deps: {
  knex: Knex;
  queries: AccountQueries;
  payloads: OidcPayloadQueries;
  mail: MailService;
  throttle: ThrottleService;
  issuer: string;
  /** told the outcome of every password sign-in (metrics) */
  onSignIn?: (outcome: 'success' | 'failure' | 'throttled') => void;
  audit?: Pick<AuditService, 'record'>;
}) {
  const { knex, queries, payloads, mail, throttle, issuer } = deps;
  const audit = async (event: Parameters<AuditService['record']>[0]) => deps.audit?.record(event);

  function validEmail(raw: unknown): string {
    const email = typeof raw === 'string' ? raw.trim() : '';
    if (!email || email.length > EMAIL_MAX_LENGTH || !EMAIL_SHAPE.test(email)) {
      throw new AccountError('invalid_email', 'Enter a valid e-mail address.', 'email');
    }
    return email;
  }

  function validPassword(raw: unknown, email?: string): string {
    const password = typeof raw === 'string' ? raw : '';
    const problem = passwordProblem(password, { email });
    if (problem) throw new AccountError(`password_${problem}`, PASSWORD_PROBLEM_MESSAGES[problem], 'password');
    return password;
  }

  /** Creates a one-time e-mail token; older unused tokens of the same purpose stop working. */
  async function issueEmailToken(accountId: string, purpose: EmailTokenRow['purpose'], ttlSeconds: number, db: Knex = knex) {
    const token = crypto.randomBytes(EMAIL_TOKEN_BYTES).toString('base64url');
    await queries.expireEmailTokens(accountId, purpose, db);
    await queries.insertEmailToken(
      { id: crypto.randomUUID(), account_id: accountId, purpose, token_hash: sha256(token), expires_at: new Date(Date.now() + ttlSeconds * 1000) },
      db,
    );
    return token;
  }

  async function sendVerificationMail(account: Pick<AccountRow, 'id' | 'email' | 'name'>) {
    if (!(await throttle.mailAllowed(account.id))) return;
    const token = await issueEmailToken(account.id, 'verify-email', VERIFY_EMAIL_TTL_SECONDS);
    await mail.send(account.email, 'verify-email', {
      name: account.name,
      link: `${issuer}/verify-email?token=${token}`,
      minutes: VERIFY_EMAIL_TTL_SECONDS / 60,
    });
  }

  return {
    validEmail,

    async findById(id: string): Promise<Account | undefined> {
      const row = await queries.findById(id);
      return row && toAccount(row);
    },

    /** Claims and `disabled` for tokens, userinfo and API callers: kept in memory until the account changes (accounts.queries.ts). */
    async findClaims(id: string): Promise<AccountClaims | undefined> {
      const row = await queries.findClaims(id);
      return row && { id: row.id, email: row.email, name: row.name, emailVerified: row.email_verified, disabled: row.disabled };
    },

    /** Sets the display name (validated by the caller), announced like every change to an account's claims. */
    async setName(accountId: string, name: string | null) {
      await queries.transaction(async (trx, changed) => {
        await queries.update(accountId, { name }, trx);
        await changed(accountId);
      });
    },

    async findByEmail(email: string): Promise<Account | undefined> {
      const row = await queries.findByEmail(normalizeEmail(email));
      return row && toAccount(row);
    },

    /**
     * Creates an account and sends the verification mail; the first account of a fresh install
     * becomes the administrator. When the address is taken, its owner is told by mail instead.
     * The caller answers both cases with the same page, and both hash a password, so sign-up
     * does not reveal which addresses have accounts.
     */
    async signUp(input: { email: unknown; password: unknown; name?: unknown }, ctx: { ip: string }): Promise<{ account: Account; created: boolean }> {
      await throttle.signUp(ctx.ip);
      const email = validEmail(input.email);
      const password = validPassword(input.password, email);
      const name = typeof input.name === 'string' ? input.name.replace(/[\u0000-\u001f]/g, '').trim().slice(0, NAME_MAX_LENGTH) || null : null;
      const passwordHash = await hashPassword(password);

      const result = await knex.transaction(async (trx) => {
        await queries.lockForSignUp(trx);
        const existing = await queries.findByEmail(normalizeEmail(email), trx);
        if (existing) return { row: existing, created: false };
        const row = {
          id: newAccountId(),
          email,
          email_normalized: normalizeEmail(email),
          name,
          password_hash: passwordHash,
          is_admin: !(await queries.anyExists(trx)),
        };
        await queries.insert(row, trx);
        return { row: (await queries.findById(row.id, trx))!, created: true };
      });
      if (result.created) await sendVerificationMail(result.row);
      else if (await throttle.mailAllowed(result.row.id)) {
        await mail.send(result.row.email, 'account-exists', { signInLink: `${issuer}/forgot-password` });
      }
      return { account: toAccount(result.row), created: result.created };
    },

    /**
     * Creates an account for a person who signed in through another identity provider: no
     * password, the address confirmed only when that provider says it is verified. `then` runs
     * in the same transaction (it links the identity). Undefined when the address is taken.
     */
    async createWithoutPassword(
      input: { email: unknown; name: string | null; emailVerified: boolean },
      then: (trx: Knex.Transaction, accountId: string) => Promise<void>,
    ): Promise<Account | undefined> {
      const email = validEmail(input.email);
      const name = input.name?.replace(/[\u0000-\u001f]/g, '').trim().slice(0, NAME_MAX_LENGTH) || null;
      const row = await knex.transaction(async (trx) => {
        await queries.lockForSignUp(trx);
        if (await queries.findByEmail(normalizeEmail(email), trx)) return undefined;
        const id = newAccountId();
        await queries.insert({ id, email, email_normalized: normalizeEmail(email), name, password_hash: null, email_verified: input.emailVerified, is_admin: !(await queries.anyExists(trx)) }, trx);
        await then(trx, id);
        return (await queries.findById(id, trx))!;
      });
      return row && toAccount(row);
    },

    /** Whether the account has a password (an account made through GitHub and the like may not). */
    async hasPassword(accountId: string): Promise<boolean> {
      return !!(await queries.findById(accountId))?.password_hash;
    },

    /**
     * Password sign-in. Unknown address, wrong password and disabled account all fail the same
     * way and take the same time (a dummy hash is verified when there is no account).
     */
    async authenticate(input: { email: unknown; password: unknown }, ctx: { ip: string }): Promise<Account> {
      // control characters never belong to an address (and NUL cannot be stored in a key)
      const email = typeof input.email === 'string' ? input.email.replace(/[\u0000-\u001f]/g, '') : '';
      const password = typeof input.password === 'string' ? input.password : '';
      const key = normalizeEmail(email).slice(0, 320);
      const check = await throttle.checkSignIn(key, ctx.ip).catch(async (err) => {
        deps.onSignIn?.('throttled');
        await audit({ type: 'sign_in.password', outcome: 'throttled', details: { email: key } });
        throw err;
      });
      const row = email && email.length <= EMAIL_MAX_LENGTH ? await queries.findByEmail(key) : undefined;
      const ok = await verifyPassword(row?.password_hash, password);
      if (!row || !ok || row.disabled) {
        await throttle.recordSignInFailure(key, ctx.ip);
        deps.onSignIn?.('failure');
        const reason = !row ? 'unknown_account' : !ok ? 'wrong_password' : 'disabled';
        await audit({ type: 'sign_in.password', outcome: 'failure', subject: row?.id, details: { email: key, reason } });
        throw new AccountError('invalid_credentials', 'That e-mail address and password do not match an account.');
      }
      await throttle.recordSignInSuccess(check);
      deps.onSignIn?.('success');
      await audit({ type: 'sign_in.password', actor: row.id, subject: row.id });
      // the last sign-in is kept to the hour: a person signing in again soon costs no write
      const changes: Partial<AccountRow> = {};
      if (!row.last_login_at || Date.now() - row.last_login_at.getTime() >= LAST_SIGN_IN_RESOLUTION_MS) changes.last_login_at = new Date();
      if (passwordNeedsRehash(row.password_hash!)) changes.password_hash = await hashPassword(password);
      if (Object.keys(changes).length) await queries.update(row.id, changes);
      return toAccount({ ...row, ...changes });
    },

    sendVerificationMail: async (accountId: string) => {
      const row = await queries.findById(accountId);
      if (row && !row.email_verified) await sendVerificationMail(row);
    },

    /** Shows whose address a verification link is for, without spending it (GET is safe). */
    async peekEmailVerification(token: unknown): Promise<Account | undefined> {
      if (typeof token !== 'string' || token.length > 200) return undefined;
      const row = await queries.findLiveEmailToken(sha256(token), 'verify-email');
      return row ? this.findById(row.account_id) : undefined;
    },

    async verifyEmail(token: unknown): Promise<Account> {
      const spent = typeof token === 'string' && token.length <= 200 ? await queries.consumeEmailToken(sha256(token), 'verify-email') : undefined;
      if (!spent) throw new AccountError('invalid_token', 'This link has expired or was already used.');
      await queries.transaction(async (trx, changed) => {
        await queries.update(spent.account_id, { email_verified: true }, trx);
        await changed(spent.account_id);
      });
      return (await this.findById(spent.account_id))!;
    },

    /** Sends a reset link when the address has an account; answers the same either way. */
    async requestPasswordReset(emailInput: unknown, ctx: { ip: string }) {
      await throttle.resetRequest(ctx.ip);
      const email = validEmail(emailInput);
      const row = await queries.findByEmail(normalizeEmail(email));
      if (!row || row.disabled || !(await throttle.mailAllowed(row.id))) return;
      const token = await issueEmailToken(row.id, 'reset-password', RESET_PASSWORD_TTL_SECONDS);
      await mail.send(row.email, 'reset-password', { link: `${issuer}/reset-password?token=${token}`, minutes: RESET_PASSWORD_TTL_SECONDS / 60 });
    },

    async peekPasswordReset(token: unknown): Promise<boolean> {
      return typeof token === 'string' && token.length <= 200 && !!(await queries.findLiveEmailToken(sha256(token), 'reset-password'));
    },

    /**
     * Changes the password of a signed-in person who proves the current one (throttled like a
     * sign-in). Every other session and every token ends; the person is told by mail.
     */
    async changePassword(accountId: string, currentPassword: unknown, newPassword: unknown, ctx: { ip: string; keepSessionUid?: string }) {
      const row = await queries.findById(accountId);
      if (!row) throw new AccountError('invalid_credentials', 'That is not your current password.');
      await throttle.checkSignIn(row.email_normalized, ctx.ip);
      if (!(await verifyPassword(row.password_hash, typeof currentPassword === 'string' ? currentPassword : ''))) {
        await throttle.recordSignInFailure(row.email_normalized, ctx.ip);
        await audit({ type: 'password.changed', outcome: 'failure', actor: accountId, subject: accountId, details: { reason: 'wrong_current_password' } });
        throw new AccountError('invalid_credentials', 'That is not your current password.', 'current_password');
      }
      const passwordHash = await hashPassword(validPassword(newPassword, row.email));
      await knex.transaction(async (trx) => {
        await queries.update(accountId, { password_hash: passwordHash, password_changed_at: new Date() }, trx);
        const ended = trx('oidc_payloads').where({ account_id: accountId });
        if (ctx.keepSessionUid) ended.whereNot((q) => q.where({ model: 'Session', uid: ctx.keepSessionUid }));
        await ended.delete();
      });
      await audit({ type: 'password.changed', actor: accountId, subject: accountId });
      await mail.send(row.email, 'password-changed', { when: new Date().toUTCString() });
    },

    /**
     * Sets a new password from a reset link: the link is spent, every session, grant and token
     * of the account ends, and the person is told by mail. It does not sign anyone in, so a
     * second factor is still asked for at the next sign-in.
     */
    async resetPassword(token: unknown, newPassword: unknown): Promise<Account> {
      if (typeof token !== 'string' || token.length > 200) throw new AccountError('invalid_token', 'This link has expired or was already used.');
      const live = await queries.findLiveEmailToken(sha256(token), 'reset-password');
      const owner = live && (await queries.findById(live.account_id));
      const password = validPassword(newPassword, owner?.email);
      const passwordHash = await hashPassword(password);
      const account = await queries.transaction(async (trx, changed) => {
        const spent = await queries.consumeEmailToken(sha256(token), 'reset-password', trx);
        if (!spent) throw new AccountError('invalid_token', 'This link has expired or was already used.');
        await queries.update(spent.account_id, { password_hash: passwordHash, password_changed_at: new Date(), email_verified: true }, trx);
        await changed(spent.account_id);
        await payloads.deleteAllForAccount(spent.account_id, trx);
        return (await queries.findById(spent.account_id, trx))!;
      });
      await throttle.clearSignInFailures(account.email_normalized);
      await audit({ type: 'password.reset', actor: account.id, subject: account.id });
      await mail.send(account.email, 'password-changed', { when: new Date().toUTCString() });
      return toAccount(account);
    },
  };
}
