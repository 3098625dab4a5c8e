/**
 * A small authoritative DNS server on loopback UDP, for CLI and daemon tests that need a name to
 * exist or not: names it knows get their A and MX records (no record of a type: an empty answer),
 * every other name NXDOMAIN. Zones with SERVFAIL, delegations and timeouts are the test bed's
 * (real Unbound, test/support/testbed).
 */
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';

export interface TinyZone {
  [name: string]: { A?: string[]; MX?: { exchange: string; preference: number }[] };
}

export interface TinyDns {
  /** `127.0.0.1:PORT`, as `--dns` and `dns.servers` take it. */
  server: string;
  close(): Promise<void>;
}

export function startTinyDns(zone: TinyZone): Promise<TinyDns> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const records = zone[name];
    const answers: dnsPacket.Answer[] = [];
    if (records && question.type === 'A')
      for (const ip of records.A ?? []) answers.push({ type: 'A', name: question.name, ttl: 60, data: ip });
    if (records && question.type === 'MX')
      for (const mx of records.MX ?? []) answers.push({ type: 'MX', name: question.name, ttl: 60, data: mx });
    const reply = dnsPacket.encode({
      id: query.id,
      type: 'response',
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (records ? 0 : 3), // rcode 3: NXDOMAIN
      questions: [question],
      answers,
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => {
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      resolve({
        server: `127.0.0.1:${port}`,
        close: () => new Promise((done) => socket.close(() => done())),
      });
    });
  });
}
