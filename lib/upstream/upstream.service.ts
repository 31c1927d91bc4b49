import crypto from 'node:crypto';
import * as client from 'openid-client';
import { AccountError, type AccountService } from '../accounts/accounts.service.js';
import { LatchError } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { OrgService } from '../orgs/orgs.service.js';
import { fetchGithubProfile } from './github.js';
import type { UpstreamProvider, UpstreamRegistry } from './upstream-providers.js';
import type { UpstreamProfile, UpstreamQueries } from './upstream.queries.js';

/**
 * Signing in through another identity provider — the rules, with no HTTP in here.
 *
 * The upstream leg (openid-client): PKCE S256, `state` and, for OpenID providers, `nonce`; the
 * ID token is checked in full (signature against the provider's JWKS, iss, aud, azp, exp, iat,
 * nonce). The state is bound to the browser that started (a random value in its cookie, whose
 * hash is stored with the state) and, for a sign-in, to the oidc-provider interaction.
 *
 * Who the person is: the provider's stable subject, never the e-mail. An existing account
 * with the same address is linked automatically only when the provider says the address is
 * verified AND the account's address is verified (SECURITY.md D.32); otherwise the person
 * signs in to that account first and links the provider from /account.
 */
export const UPSTREAM_SIGN_IN_TTL_SECONDS = 10 * 60;

export class UpstreamError extends LatchError {
  override name = 'UpstreamError';
}

const sha256 = (value: string) => crypto.createHash('sha256').update(value).digest('base64url');

export type UpstreamService = ReturnType<typeof createUpstreamService>;

export function createUpstreamService(deps: {
  queries: UpstreamQueries;
  registry: UpstreamRegistry;
  accounts: AccountService;
  orgs: OrgService;
  mfa: MfaService;
  issuer: string;
  signup: 'open' | 'invite' | 'closed';
  log: Logger;
}) {
  const { queries, registry, accounts, orgs, issuer, log } = deps;
  const callbackUrl = (providerId: string) => `${issuer}/upstream/${providerId}/callback`;

  async function providerOrFail(providerId: string): Promise<UpstreamProvider> {
    const provider = await registry.get(providerId);
    if (!provider) throw new UpstreamError('unknown_provider', 'This sign-in provider is not available.', 404);
    return provider;
  }

  /** Anything that goes wrong talking to the provider, as a message a person can act on. */
  function providerFailure(provider: UpstreamProvider, err: unknown, during: string): UpstreamError {
    const reasons: string[] = [];
    for (let e = err as { name?: string; message?: string; code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth += 1) {
      reasons.push([e.name, e.code].filter(Boolean).join('/'));
    }
    log.warn({ provider: provider.id, during, reason: reasons.join(' <- '), message: (err as Error)?.message?.slice(0, 300) }, 'upstream sign-in failed');
    const unreachable = /BlockedFetch|ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|TimeoutError|AbortError|fetch failed|OAUTH_TIMEOUT/.test(reasons.join(' ') + String((err as Error)?.message));
    return unreachable
      ? new UpstreamError('provider_unreachable', `${provider.name} could not be reached. Try again later, or sign in another way.`, 502)
      : new UpstreamError('provider_response_invalid', `${provider.name}'s answer could not be verified, so you were not signed in. Try again, or sign in another way.`, 502);
  }

  async function profileFrom(provider: UpstreamProvider, config: client.Configuration, tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): Promise<UpstreamProfile> {
    if (provider.kind === 'github') return fetchGithubProfile(provider.baseUrl, tokens.access_token, config[client.customFetch]!);
    const claims = tokens.claims();
    if (!claims) throw new Error('the provider returned no ID token');
    let { email, email_verified: emailVerified, name } = claims as { email?: unknown; email_verified?: unknown; name?: unknown };
    if (typeof email !== 'string' && config.serverMetadata().userinfo_endpoint) {
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      ({ email, email_verified: emailVerified, name } = { name, ...info });
    }
    return {
      subject: claims.sub,
      email: typeof email === 'string' ? email : null,
      emailVerified: emailVerified === true,
      name: typeof name === 'string' ? name : null,
    };
  }

  /** Links an identity to an account (refused when the identity belongs to someone else). */
  async function link(accountId: string, providerId: string, profile: UpstreamProfile) {
    const owner = await queries.findIdentity(providerId, profile.subject);
    if (owner && owner.account_id !== accountId) throw new UpstreamError('identity_taken', 'That account of the provider is already linked to another account here.', 409);
    if (owner) return queries.touchIdentity(providerId, profile.subject, profile.email);
    if ((await queries.identitiesOf(accountId)).some((i) => i.provider_id === providerId)) {
      throw new UpstreamError('provider_already_linked', 'Your account is already linked to another account of this provider. Unlink it first.', 409);
    }
    try {
      await queries.insertIdentity({ provider_id: providerId, subject: profile.subject, account_id: accountId, email: profile.email });
    } catch (err) {
      // two sign-ins racing to link the same identity: the one that lost sees who won
      if ((err as { code?: string }).code !== '23505') throw err;
      const winner = await queries.findIdentity(providerId, profile.subject);
      if (winner?.account_id !== accountId) throw new UpstreamError('identity_taken', 'That account of the provider is already linked to another account here.', 409);
    }
  }

  return {
    callbackUrl,

    /** Providers a person may use, for the sign-in pages and GET /api/v1/providers. */
    async enabled() {
      return (await registry.list()).map((p) => ({ id: p.id, name: p.name, type: p.kind }));
    },

    /**
     * Begins an upstream sign-in (from a hosted sign-in page) or a link (from /account):
     * returns where to send the browser and the value its cookie must hold at the callback.
     */
    async start(providerId: string, purpose: { interactionUid: string } | { linkTo: string }) {
      const provider = await providerOrFail(providerId);
      let config: client.Configuration;
      try {
        config = await registry.configuration(provider);
      } catch (err) {
        throw providerFailure(provider, err, 'discovery');
      }
      const state = client.randomState();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = provider.kind === 'oidc' ? client.randomNonce() : null;
      const browserToken = crypto.randomBytes(32).toString('base64url');
      await queries.insertSignIn({
        id: crypto.randomUUID(),
        state_hash: sha256(state),
        browser_hash: sha256(browserToken),
        provider_id: provider.id,
        purpose: 'interactionUid' in purpose ? 'sign-in' : 'link',
        interaction_uid: 'interactionUid' in purpose ? purpose.interactionUid : null,
        account_id: 'linkTo' in purpose ? purpose.linkTo : null,
        code_verifier: verifier,
        nonce,
        expires_at: new Date(Date.now() + UPSTREAM_SIGN_IN_TTL_SECONDS * 1000),
      });
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl(provider.id),
        scope: provider.kind === 'github' ? 'read:user user:email' : provider.scope,
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...(nonce ? { nonce } : {}),
        ...(provider.kind === 'github' ? { allow_signup: 'true' } : {}),
      });
      return { url: url.href, browserToken };
    },

    /**
     * The provider sent the browser back. Refused unless the state is live, unspent, of this
     * provider and started by this browser; then the code is redeemed and the person's profile
     * read. A sign-in continues at its interaction; a link is returned to be finished.
     */
    async callback(providerId: string, currentUrl: URL, browserToken: string | undefined) {
      const provider = await providerOrFail(providerId);
      const state = currentUrl.searchParams.get('state');
      const stale = () => new UpstreamError('state_mismatch', 'This sign-in was started in another browser or window, or has expired. Start again.', 400);
      if (!state || state.length > 512 || !browserToken || browserToken.length > 512) throw stale();
      const row = await queries.claimSignIn(sha256(state), provider.id);
      if (!row || !crypto.timingSafeEqual(Buffer.from(row.browser_hash), Buffer.from(sha256(browserToken)))) throw stale();
      const back = row.interaction_uid ? `/interaction/${row.interaction_uid}` : '/account';
      try {
        const error = currentUrl.searchParams.get('error');
        if (error) {
          const description = (currentUrl.searchParams.get('error_description') ?? '').replace(/[\u0000-\u001f]/g, ' ').slice(0, 200);
          throw new UpstreamError('provider_error', `${provider.name} did not sign you in (${error.slice(0, 64)}${description ? `: ${description}` : ''}).`, 400, { back });
        }
        let config: client.Configuration;
        let profile: UpstreamProfile;
        try {
          config = await registry.configuration(provider);
          const tokens = await client.authorizationCodeGrant(config, currentUrl, {
            pkceCodeVerifier: row.code_verifier,
            expectedState: state,
            ...(row.nonce ? { expectedNonce: row.nonce, idTokenExpected: true } : {}),
          });
          profile = await profileFrom(provider, config, tokens);
        } catch (err) {
          if (err instanceof UpstreamError) throw err;
          const failure = providerFailure(provider, err, 'callback');
          throw new UpstreamError(failure.code, failure.message, failure.status, { back });
        }
        if (row.purpose === 'link') {
          await queries.deleteSignIn(row.id);
          return { purpose: 'link' as const, accountId: row.account_id!, providerId: provider.id, providerName: provider.name, profile };
        }
        await queries.saveProfile(row.id, profile);
        return { purpose: 'sign-in' as const, interactionUid: row.interaction_uid! };
      } catch (err) {
        await queries.deleteSignIn(row.id);
        if (err instanceof UpstreamError && !err.details) throw new UpstreamError(err.code, err.message, err.status, { back });
        throw err;
      }
    },

    /**
     * Back at the interaction that started it: the account this person signs in to, by the
     * linking rules. Created on first sign-in (with its personal organization) when sign-up
     * is open.
     */
    async finishSignIn(interactionUid: string, browserToken: string | undefined): Promise<{ accountId: string }> {
      const row = browserToken && browserToken.length <= 512 ? await queries.takeFinished(interactionUid, sha256(browserToken)) : undefined;
      if (!row?.profile) throw new UpstreamError('state_mismatch', 'This sign-in was started in another browser or window, or has expired. Start again.', 400);
      const provider = await providerOrFail(row.provider_id);
      const profile = row.profile;

      const identity = await queries.findIdentity(provider.id, profile.subject);
      if (identity) {
        const account = await accounts.findById(identity.account_id);
        if (!account || account.disabled) throw new UpstreamError('account_disabled', 'This account cannot sign in.', 403);
        await queries.touchIdentity(provider.id, profile.subject, profile.email);
        return { accountId: account.id };
      }

      if (!profile.email) throw new UpstreamError('email_missing', `${provider.name} did not share an e-mail address, which a new account needs. Sign in another way.`, 400);
      const existing = await accounts.findByEmail(profile.email);
      if (existing) {
        if (profile.emailVerified && existing.emailVerified && !existing.disabled) {
          await link(existing.id, provider.id, profile);
          log.info({ audit: 'upstream.linked', provider: provider.id, accountId: existing.id, automatic: true }, 'upstream identity linked');
          return { accountId: existing.id };
        }
        throw new UpstreamError(
          'link_required',
          `An account with this e-mail address exists already. Sign in to it another way, then link ${provider.name} from your account settings.`,
          409,
        );
      }

      if (deps.signup !== 'open') throw new UpstreamError('signup_closed', 'This server does not accept new accounts. Sign in with an account you already have.', 403);
      let created;
      try {
        created = await accounts.createWithoutPassword({ email: profile.email, name: profile.name, emailVerified: profile.emailVerified }, (trx, accountId) =>
          queries.insertIdentity({ provider_id: provider.id, subject: profile.subject, account_id: accountId, email: profile.email }, trx),
        );
      } catch (err) {
        if (err instanceof AccountError) throw new UpstreamError('email_invalid', `${provider.name} shared an e-mail address that cannot be used here.`, 400);
        throw err;
      }
      if (!created) throw new UpstreamError('link_required', `An account with this e-mail address exists already. Sign in to it another way, then link ${provider.name} from your account settings.`, 409);
      await orgs.ensurePersonalOrganization(created.id);
      log.info({ audit: 'upstream.account_created', provider: provider.id, accountId: created.id }, 'account created through an upstream provider');
      return { accountId: created.id };
    },

    /** Finishes a link the signed-in person started from /account. */
    async finishLink(signedInAccountId: string, result: { accountId: string; providerId: string; profile: UpstreamProfile }) {
      if (signedInAccountId !== result.accountId) throw new UpstreamError('state_mismatch', 'This link was started by another account. Start again.', 400);
      await link(result.accountId, result.providerId, result.profile);
      log.info({ audit: 'upstream.linked', provider: result.providerId, accountId: result.accountId, automatic: false }, 'upstream identity linked');
    },

    /** Every enabled provider with whether (and as whom) the account is linked to it. */
    async linkedProviders(accountId: string) {
      const [enabled, identities] = await Promise.all([registry.list(), queries.identitiesOf(accountId)]);
      return enabled.map((p) => {
        const identity = identities.find((i) => i.provider_id === p.id);
        return { id: p.id, name: p.name, linked: !!identity, email: identity?.email ?? null, linkedAt: identity?.created_at ?? null };
      });
    },

    /** Unlinks a provider while another way to sign in remains (a password, a passkey, another provider). */
    async unlink(accountId: string, providerId: string) {
      const identities = await queries.identitiesOf(accountId);
      if (!identities.some((i) => i.provider_id === providerId)) throw new UpstreamError('not_linked', 'That provider is not linked to your account.', 404);
      const others = identities.length - 1;
      const hasPasskey = deps.mfa.mode !== 'off' && (await deps.mfa.passkeys.hasAny(accountId));
      if (!others && !hasPasskey && !(await accounts.hasPassword(accountId))) {
        throw new UpstreamError('last_sign_in_method', 'This is the only way to sign in to your account. Set a password (Forgot your password?) or link another provider first.', 409);
      }
      await queries.deleteIdentity(accountId, providerId);
      log.info({ audit: 'upstream.unlinked', provider: providerId, accountId }, 'upstream identity unlinked');
    },

    deleteExpiredBatch: (limit: number) => queries.deleteExpiredSignInsBatch(limit),
  };
}
