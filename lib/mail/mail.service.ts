import nodemailer from 'nodemailer';
import type { Logger } from '../log.js';
import type { Renderer } from '../views/renderer.js';

/**
 * Outgoing mail through nodemailer: SMTP when SMTP_URL is set; otherwise each message, links
 * included, is written to the log so a local user can still finish the flow.
 * Each mail has a text and an HTML template in views/mail/.
 */
export type MailTemplate = 'verify-email' | 'reset-password' | 'password-changed' | 'account-exists' | 'invitation';

const SUBJECTS: Record<MailTemplate, string> = {
  'verify-email': 'Confirm your e-mail address',
  'reset-password': 'Reset your password',
  'password-changed': 'Your password was changed',
  'account-exists': 'You already have an account',
  invitation: 'You are invited to an organization',
};

export type MailService = ReturnType<typeof createMailService>;

export function createMailService(deps: { smtpUrl?: string; from: string; renderer: Renderer; log: Logger; issuer: string }) {
  const transport = deps.smtpUrl ? nodemailer.createTransport(deps.smtpUrl) : nodemailer.createTransport({ jsonTransport: true });

  return {
    async send(to: string, template: MailTemplate, data: Record<string, unknown>) {
      const context = { ...data, issuer: deps.issuer, subject: SUBJECTS[template] };
      const message = {
        from: deps.from,
        to,
        subject: SUBJECTS[template],
        text: deps.renderer.render(`mail/${template}-text`, context),
        html: deps.renderer.render(`mail/${template}-html`, context),
      };
      if (!deps.smtpUrl) {
        deps.log.info({ mail: { to, subject: message.subject, text: message.text } }, 'mail (SMTP_URL is not set, so it is logged instead of sent)');
        return;
      }
      await transport.sendMail(message);
    },
  };
}

const SMTP_CHECK_TIMEOUT_MS = 5000;

/**
 * Connects to the SMTP server (and logs in, when the URL carries credentials) without sending
 * anything, for `latch doctor`. Answers in words what is wrong, or undefined when all is well.
 */
export async function smtpProblem(smtpUrl: string): Promise<string | undefined> {
  const url = URL.canParse(smtpUrl) ? new URL(smtpUrl) : undefined;
  if (!url || !['smtp:', 'smtps:'].includes(url.protocol) || !url.hostname) return 'SMTP_URL is not an smtp:// or smtps:// URL';
  const where = `${url.hostname}:${url.port || (url.protocol === 'smtps:' ? 465 : 587)}`;
  const transport = nodemailer.createTransport({
    url: smtpUrl,
    connectionTimeout: SMTP_CHECK_TIMEOUT_MS,
    greetingTimeout: SMTP_CHECK_TIMEOUT_MS,
    socketTimeout: SMTP_CHECK_TIMEOUT_MS,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    await transport.verify();
    return undefined;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // nodemailer wraps socket errors as ESOCKET; the system error's code is in the message
    const systemCode = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b/.exec(e.message ?? '')?.[1];
    switch (systemCode ?? e.code) {
      case 'ECONNREFUSED':
        return `nothing accepts connections at ${where}: is the mail server running, and is the port right?`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
      case 'EDNS':
        return `the host name ${url.hostname} does not resolve`;
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
      case 'ETIMEOUT':
      case 'ECONNECTION':
        return `no answer from ${where} within ${SMTP_CHECK_TIMEOUT_MS / 1000} s (a firewall, or the wrong host or port?)`;
      case 'EAUTH':
        return `${where} refused the user name or password in SMTP_URL`;
      case 'ESOCKET':
      case 'ETLS':
        return `could not set up a secure connection with ${where} (smtps:// needs a TLS port such as 465): ${e.message ?? ''}`.trim();
      default:
        return `cannot use the mail server at ${where}: ${e.message ?? 'unknown error'}`;
    }
  } finally {
    transport.close();
  }
}
