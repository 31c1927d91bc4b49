import { z } from 'zod';
import type { Principal } from '../api/api-auth.js';
import { route, type ApiRoute } from '../api/api-router.js';
import { LatchError } from '../http/errors.js';
import type { MfaService } from './mfa.service.js';

/**
 * /api/v1/mfa — the account's second factors, for the account page. Reading needs api:read.
 * Changing them needs the browser session of a sign-in at most five minutes old (SECURITY.md
 * E.34): a leaked bearer token or an unattended, long-open session cannot turn MFA off or add
 * an attacker's authenticator.
 */
export const RECENT_SIGN_IN_SECONDS = 5 * 60;

export function requireRecentSignIn(principal: Principal) {
  if (principal.authMethod !== 'session' || !principal.sessionUid) {
    throw new LatchError('session_required', 'Second factors are changed from the account page, signed in with a browser.', 403);
  }
  if (!principal.authTime || Date.now() / 1000 - principal.authTime > RECENT_SIGN_IN_SECONDS) {
    throw new LatchError('reauthentication_required', `Sign in again to change your second factors (a sign-in within the last ${RECENT_SIGN_IN_SECONDS / 60} minutes is needed).`, 403);
  }
  return { accountId: principal.sub, binding: `session:${principal.sessionUid}` };
}

const code = z.string().min(1).max(32);
const passkeyName = z.string().trim().min(1).max(100);

export function mfaRoutes(mfa: MfaService): ApiRoute[] {
  if (mfa.mode === 'off') return [];
  return [
    route({
      method: 'get', path: '/mfa', tag: 'mfa', scope: 'read', summary: 'Second factors of the account and how many recovery codes are left',
      handler: async ({ principal }) => {
        const factors = await mfa.factorsOf(principal.accountId!);
        return { required: mfa.mode === 'required', totp: factors.totp ?? null, passkeys: factors.passkeys, remainingRecoveryCodes: factors.remainingRecoveryCodes };
      },
    }),

    route({
      method: 'post', path: '/mfa/totp', tag: 'mfa', scope: 'write', status: 201,
      summary: 'Start enrolling an authenticator app: secret, otpauth URI and QR code (active after /mfa/totp/confirm)',
      handler: async ({ principal }) => {
        const { accountId } = requireRecentSignIn(principal);
        const { secret, otpauthUri, qrCodeDataUrl } = await mfa.startTotpEnrolment(accountId);
        return { secret, otpauthUri, qrCodeDataUrl };
      },
    }),
    route({
      method: 'post', path: '/mfa/totp/confirm', tag: 'mfa', scope: 'write',
      summary: 'Activate the app with a code from it; the first factor comes with ten recovery codes (shown once)',
      body: z.object({ code }).strict(),
      handler: ({ principal, body }) => mfa.confirmTotp(requireRecentSignIn(principal).accountId, body.code),
    }),
    route({
      method: 'delete', path: '/mfa/totp', tag: 'mfa', scope: 'write', summary: 'Remove the authenticator app',
      handler: async ({ principal }) => { await mfa.removeTotp(requireRecentSignIn(principal).accountId); },
    }),

    route({
      method: 'post', path: '/mfa/passkeys/options', tag: 'mfa', scope: 'write', summary: 'WebAuthn registration options for a new passkey',
      handler: async ({ principal }) => {
        const { accountId, binding } = requireRecentSignIn(principal);
        return mfa.passkeyOptionsForAccount(accountId, binding);
      },
    }),
    route({
      method: 'post', path: '/mfa/passkeys', tag: 'mfa', scope: 'write', status: 201,
      summary: 'Register the passkey the browser created; the first factor comes with ten recovery codes',
      body: z.object({ response: z.record(z.string(), z.unknown()), name: passkeyName.default('Passkey') }).strict(),
      handler: ({ principal, body }) => {
        const { accountId, binding } = requireRecentSignIn(principal);
        return mfa.addPasskey(accountId, binding, body.response, body.name);
      },
    }),
    route({
      method: 'patch', path: '/mfa/passkeys/:passkeyId', tag: 'mfa', scope: 'write', summary: 'Rename a passkey',
      body: z.object({ name: passkeyName }).strict(),
      handler: async ({ principal, params, body }) => { await mfa.renamePasskey(requireRecentSignIn(principal).accountId, params.passkeyId!, body.name); },
    }),
    route({
      method: 'delete', path: '/mfa/passkeys/:passkeyId', tag: 'mfa', scope: 'write', summary: 'Remove a passkey',
      handler: async ({ principal, params }) => { await mfa.removePasskey(requireRecentSignIn(principal).accountId, params.passkeyId!); },
    }),

    route({
      method: 'post', path: '/mfa/recovery-codes', tag: 'mfa', scope: 'write', summary: 'Replace the recovery codes with ten new ones (shown once)',
      handler: ({ principal }) => mfa.regenerateRecoveryCodes(requireRecentSignIn(principal).accountId),
    }),
  ];
}
