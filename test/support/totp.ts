import { generate } from 'otplib';

/** What an authenticator app shows: the code for the step `offsetSteps` away from now. */
export async function totpCode(secret: string, offsetSteps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });
}

/**
 * Waits until the current 30-second step has at least `marginSeconds` left, so a code computed
 * now is judged in the same step by the server (no flaky ±1/±2 checks at a step boundary).
 */
export async function awayFromStepBoundary(marginSeconds = 4) {
  const intoStep = (Date.now() / 1000) % 30;
  if (intoStep > 30 - marginSeconds) await new Promise((r) => setTimeout(r, (30 - intoStep + 0.2) * 1000));
}
