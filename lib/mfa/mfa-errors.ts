import { LatchError } from '../http/errors.js';

/** A refused second factor, with a message safe to show on a page or in the API. */
export class MfaError extends LatchError {
  /** the account a refused passkey belonged to, when known (so the failure can be counted) */
  accountId?: string;

  constructor(code: string, message: string, status = 400) {
    super(code, message, status);
  }

  static passkeyFailed(accountId?: string) {
    const err = new MfaError('passkey_failed', 'That passkey could not be verified. Try again, or use another way to sign in.');
    err.accountId = accountId;
    return err;
  }

  static invalidCode() {
    return new MfaError('invalid_code', 'That code is not valid. Check it and try again.');
  }

  static expired() {
    return new MfaError('sign_in_expired', 'This sign-in has expired. Start again.');
  }
}
