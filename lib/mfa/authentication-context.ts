import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * How a person authenticated, as the ID token tells it: `amr` (RFC 8176 values) and `acr`.
 *
 *   password only                       amr [pwd]              acr urn:latch:acr:pwd
 *   password + authenticator app        amr [pwd, otp, mfa]    acr urn:latch:acr:mfa
 *   password + recovery code            amr [pwd, otp, mfa]    (a one-time code, too)
 *   password + passkey/security key     amr [pwd, hwk|swk, mfa]
 *   passkey alone, user verified        amr [hwk|swk, mfa]     (possession + PIN/biometric)
 *   another identity provider           amr [fed]              acr urn:latch:acr:pwd
 *   … + a second factor                 amr [fed, otp, mfa]    acr urn:latch:acr:mfa
 *
 * `hwk` is a device-bound key, `swk` a synced passkey (backup eligible).
 */
export const ACR = { password: 'urn:latch:acr:pwd', multiFactor: 'urn:latch:acr:mfa' } as const;
export const ACR_VALUES: string[] = [ACR.password, ACR.multiFactor];
const LEVEL: Record<string, number> = { [ACR.password]: 1, [ACR.multiFactor]: 2 };

export type SecondFactorMethod = 'otp' | 'hwk' | 'swk';
export type LoginContext = { amr: string[]; acr: string };

export function passwordOnly(): LoginContext {
  return { amr: ['pwd'], acr: ACR.password };
}

/** Signed in through an upstream provider: one factor, whatever that provider asked for. */
export function upstreamOnly(): LoginContext {
  return { amr: ['fed'], acr: ACR.password };
}

export function withSecondFactor(firstFactors: string[], method: SecondFactorMethod): LoginContext {
  return { amr: [...new Set([...firstFactors, method]), 'mfa'], acr: ACR.multiFactor };
}

export function passkeyAlone(method: SecondFactorMethod): LoginContext {
  return { amr: [method, 'mfa'], acr: ACR.multiFactor };
}

/**
 * The level an `acr_values` request asks for: values are alternatives, so the lowest one Latch
 * knows is enough; values Latch does not know are ignored (acr_values is a voluntary claim).
 */
export function requestedLevel(acrValues: unknown): number {
  if (typeof acrValues !== 'string') return 0;
  const levels = acrValues.split(' ').map((v) => LEVEL[v]).filter((l): l is number => l !== undefined);
  return levels.length ? Math.min(...levels) : 0;
}

export const levelOf = (acr: unknown) => (typeof acr === 'string' ? (LEVEL[acr] ?? 0) : 0);
export const MULTI_FACTOR_LEVEL = LEVEL[ACR.multiFactor]!;

/**
 * oidc-provider's interaction policy plus two reasons to ask for sign-in again:
 * - the request's acr_values asks for more than the session has (step-up);
 * - LATCH_MFA=required and the session has no second factor (e.g. it began before the policy),
 *   so no code or token is issued on a password alone.
 * max_age is oidc-provider's own check.
 */
export function createInteractionPolicy(options: { mfa: 'optional' | 'required' | 'off' }) {
  const { Check, base } = interactionPolicy;
  const policy = base();
  const login = policy.get('login')!;

  // a session whose account was disabled or deleted signs in again (findAccount no longer
  // returns it), instead of going on to consent with no account behind it
  login.checks.add(
    new Check('account_unavailable', 'the signed-in account is no longer available', 'login_required', (ctx: KoaContextWithOIDC) => {
      const { session, result } = ctx.oidc;
      if (!session?.accountId || result?.login) return Check.NO_NEED_TO_PROMPT;
      return ctx.oidc.account ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );

  login.checks.add(
    new Check('acr_values', 'the requested authentication context needs a stronger sign-in', (ctx: KoaContextWithOIDC) => {
      const { session, params, result } = ctx.oidc;
      // just signed in: what was achieved is what the ID token says (no loop when it cannot be met)
      if (!session?.accountId || result?.login) return Check.NO_NEED_TO_PROMPT;
      return levelOf(session.acr) < requestedLevel(params?.acr_values) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );

  if (options.mfa === 'required') {
    login.checks.add(
      new Check('mfa_required', 'a second factor is required', (ctx: KoaContextWithOIDC) => {
        const { session } = ctx.oidc;
        if (!session?.accountId) return Check.NO_NEED_TO_PROMPT; // no_session asks already
        return levelOf(session.acr) < MULTI_FACTOR_LEVEL ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    );
  }
  return policy;
}
