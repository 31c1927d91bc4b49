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
