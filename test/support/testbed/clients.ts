/**
 * Real client tools against the bed: dig (DNS) and swaks (SMTP), with their output parsed into
 * the few facts a test asserts on. Both run asynchronously, so servers living inside the test
 * process keep working while a tool waits.
 */
import { execFile } from 'node:child_process';

export interface ToolRun {
  exitCode: number;
  output: string;
}

/** Runs a tool and returns its exit code and stdout+stderr; a non-zero exit is not an error. */
export function runTool(command: string, args: readonly string[], timeoutMs = 30_000): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error === null) return resolve({ exitCode: 0, output });
      if (typeof error.code === 'number') return resolve({ exitCode: error.code, output });
      reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${output}`));
    });
  });
}

export interface DigResult extends ToolRun {
  /** NOERROR, NXDOMAIN, SERVFAIL...; undefined when no reply came. */
  status: string | undefined;
  /** RDATA of each answer record, e.g. "10 mx.ok.test." or "127.0.1.1". */
  answers: string[];
  timedOut: boolean;
  elapsedMs: number;
}

export async function dig(
  server: { host: string; port: number },
  name: string,
  type: string,
  options: { tcp?: boolean; timeoutSeconds?: number } = {},
): Promise<DigResult> {
  const args = [`@${server.host}`, '-p', String(server.port), `+time=${options.timeoutSeconds ?? 2}`];
  args.push('+tries=1', '+noall', '+comments', '+answer', ...(options.tcp ? ['+tcp'] : []), name, type);
  const started = performance.now();
  const run = await runTool('dig', args);
  const answers = run.output
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith(';'))
    .map((line) => line.trim().split(/\s+/).slice(4).join(' '));
  return {
    ...run,
    status: /status: ([A-Z]+)/.exec(run.output)?.[1],
    answers,
    // dig exits 9 when no reply came at all.
    timedOut: run.exitCode === 9 || /timed out|no servers could be reached/.test(run.output),
    elapsedMs: performance.now() - started,
  };
}

export interface SmtpReply {
  /** The command the reply answers (EHLO, MAIL, RCPT, STARTTLS...), or CONNECT for the banner. */
  command: string;
  code: number;
  /** All lines of the reply, without the "250-" / "250 " prefixes. */
  lines: string[];
}

export interface SwaksResult extends ToolRun {
  replies: SmtpReply[];
  /** The reply to the last `command` sent, if it was sent. */
  reply(command: string): SmtpReply | undefined;
  /** Keywords of the last EHLO reply (upper case), e.g. PIPELINING, STARTTLS. */
  ehloKeywords(): string[];
}

/** Parses swaks' transcript: " -> " / " ~> " client lines, "<-  " / "<** " / "<~  " replies. */
export function parseSwaks(output: string): SmtpReply[] {
  const replies: SmtpReply[] = [];
  let command = 'CONNECT';
  let current: SmtpReply | undefined;
  for (const line of output.split('\n')) {
    const sent = /^ [-~]> (\S+)/.exec(line);
    if (sent?.[1]) {
      command = sent[1].replace(/:.*/, '').toUpperCase();
      current = undefined;
      continue;
    }
    const received = /^<(?:-|\*\*|~|~\*) +(\d{3})([- ])(.*)$/.exec(line);
    if (!received?.[1]) continue;
    if (current === undefined) {
      current = { command, code: Number(received[1]), lines: [] };
      replies.push(current);
    }
    current.lines.push(received[3] ?? '');
  }
  return replies;
}

export interface SwaksOptions {
  /** "host:port" */
  server: string;
  to: string;
  /** Envelope sender; default the null sender. */
  from?: string;
  /** Issue STARTTLS before MAIL. */
  tls?: boolean;
  /** Stop after this step (swaks --quit-after); default RCPT. Use "" for a whole message. */
  quitAfter?: string;
  /** Connect from this local address (swaks --local-interface), e.g. to be outside mynetworks. */
  localAddress?: string;
  /** AUTH PLAIN with these credentials. */
  auth?: { user: string; password: string };
  /** Extra header lines of the message, e.g. "X-Test-Id: 42". */
  headers?: readonly string[];
  /** The name to give in EHLO/HELO; default client.test. */
  helo?: string;
}

export async function swaks(options: SwaksOptions): Promise<SwaksResult> {
  const args = ['--server', options.server, '--from', options.from ?? '<>', '--to', options.to];
  args.push('--helo', options.helo ?? 'client.test', '--timeout', '10');
  if (options.tls) args.push('--tls');
  if (options.localAddress !== undefined) args.push('--local-interface', options.localAddress);
  if (options.auth) args.push('--auth', 'PLAIN', '--auth-user', options.auth.user);
  if (options.auth) args.push('--auth-password', options.auth.password);
  for (const header of options.headers ?? []) args.push('--add-header', header);
  const quitAfter = options.quitAfter ?? 'RCPT';
  if (quitAfter !== '') args.push('--quit-after', quitAfter);
  const run = await runTool('swaks', args);
  const replies = parseSwaks(run.output);
  return {
    ...run,
    replies,
    reply: (command) => replies.filter((reply) => reply.command === command.toUpperCase()).at(-1),
    ehloKeywords: () =>
      (
        replies
          .filter((reply) => reply.command === 'EHLO')
          .at(-1)
          ?.lines.slice(1) ?? []
      ).map((line) => line.split(' ')[0]?.toUpperCase() ?? ''),
  };
}
