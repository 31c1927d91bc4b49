import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A real SMTP server (smtp-server) that keeps what Latch sends through nodemailer. */
export type TestMailbox = {
  url: string;
  messages: ParsedMail[];
  /** Waits for the next message to `to` (after those already read), optionally with a subject, and returns it. */
  next(to: string, timeoutMs?: number, subject?: string): Promise<ParsedMail>;
  linkIn(message: ParsedMail, path: string): string;
  close(): Promise<void>;
};

export async function startMailbox(): Promise<TestMailbox> {
  const messages: ParsedMail[] = [];
  const read = new Set<ParsedMail>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;

  const recipients = (m: ParsedMail) => (Array.isArray(m.to) ? m.to : m.to ? [m.to] : []).flatMap((a) => a.value.map((v) => v.address?.toLowerCase()));

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    async next(to, timeoutMs = 10_000, subject) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find((m) => !read.has(m) && recipients(m).includes(to.toLowerCase()) && (!subject || m.subject === subject));
        if (found) {
          read.add(found);
          return found;
        }
        if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    linkIn(message, path) {
      const match = new RegExp(`https?://[^\\s"<>]+${path.replace(/[/?]/g, '\\$&')}[^\\s"<>]*`).exec(message.text ?? '');
      if (!match) throw new Error(`no ${path} link in: ${message.text}`);
      return match[0];
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
