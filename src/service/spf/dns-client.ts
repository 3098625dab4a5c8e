/**
 * A small DNS stub resolver for the SPF check: the same servers, per-query
 * timeout and tries as the rest of cbv (section `dns:`), but it tells what
 * node:dns does not: the TTL of every answer (TXT included, and the SOA
 * minimum of a negative answer, RFC 2308), so an SPF result is cached for as
 * long as its records live. Packets are built and read by `dns-packet`;
 * this file only moves them (UDP with EDNS0, TCP when truncated, RFC 7766).
 *
 * Failures keep node:dns's error codes (ENOTFOUND = NXDOMAIN, ENODATA = no
 * records of the type, ESERVFAIL, EREFUSED, ETIMEOUT, EBADRESP), because that
 * is the resolver contract mailauth reads.
 */
import { createSocket } from 'node:dgram';
import { getServers } from 'node:dns';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';

export type SpfRecordType = 'TXT' | 'A' | 'AAAA' | 'MX' | 'PTR';

export interface DnsAnswer<T> {
  records: T[];
  /** Seconds the answer may be kept: the smallest TTL in it (or the negative TTL). */
  ttl: number;
}

export interface DnsClientOptions {
  /** host, host:port or [v6]:port; empty means the system's resolvers (/etc/resolv.conf). */
  servers: readonly string[];
  queryTimeoutMs: number;
  tries: number;
}

/** A failed lookup, with node:dns's code, and the negative TTL when the failure is a fact (NXDOMAIN, NODATA). */
export class DnsQueryError extends Error {
  constructor(
    readonly code: string,
    readonly qname: string,
    readonly rrtype: string,
    readonly ttl: number | null = null,
  ) {
    super(`${rrtype} ${qname}: ${code}`);
  }
}

interface Server {
  host: string;
  port: number;
}

function parseServer(text: string): Server {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1] ?? '', port: Number(bracketed[2] ?? 53) };
  const colons = text.split(':').length - 1;
  if (colons === 1) {
    const [host = '', port = '53'] = text.split(':');
    return { host, port: Number(port) };
  }
  return { host: text, port: 53 };
}

/** A negative answer may be cached for min(SOA TTL, SOA minimum) (RFC 2308 section 5). */
function negativeTtl(reply: packet.DecodedPacket): number | null {
  for (const a of reply.authorities ?? []) {
    if (a.type === 'SOA') return Math.min(a.ttl ?? 0, a.data.minimum ?? 0);
  }
  return null;
}

function recordsOf(reply: packet.DecodedPacket, rrtype: SpfRecordType): DnsAnswer<unknown> {
  const wanted = (reply.answers ?? []).filter((a) => a.type === rrtype);
  const chain = (reply.answers ?? []).filter((a) => a.type === 'CNAME' || a.type === rrtype);
  const ttl = Math.min(...chain.map((a) => ('ttl' in a ? (a.ttl ?? 0) : 0)));
  const records = wanted.map((a) => {
    switch (a.type) {
      case 'TXT': {
        const data = Array.isArray(a.data) ? a.data : [a.data];
        return data.map((d) => (typeof d === 'string' ? d : d.toString('latin1')));
      }
      case 'MX':
        return { exchange: a.data.exchange, priority: a.data.preference ?? 0 };
      default:
        return 'data' in a ? a.data : null;
    }
  });
  return { records, ttl };
}

export class SpfDnsClient {
  private readonly servers: Server[];

  constructor(private readonly options: DnsClientOptions) {
    const list = options.servers.length > 0 ? options.servers : getServers();
    this.servers = list.map(parseServer);
  }

  /**
   * Records of one type, and how long they may be kept. Throws DnsQueryError;
   * `signal` aborts the lookup (ETIMEOUT), for the caller's overall budget.
   */
  async query(name: string, rrtype: SpfRecordType, signal?: AbortSignal): Promise<DnsAnswer<unknown>> {
    let last: DnsQueryError = new DnsQueryError('ECONNREFUSED', name, rrtype);
    for (let attempt = 0; attempt < this.options.tries; attempt++) {
      for (const server of this.servers) {
        if (signal?.aborted) throw new DnsQueryError('ETIMEOUT', name, rrtype);
        try {
          return this.read(await this.exchange(server, name, rrtype, signal), name, rrtype);
        } catch (error) {
          if (!(error instanceof DnsQueryError)) throw error;
          // A fact about the name is final; a server's failure is worth asking the next one.
          if (error.code === 'ENOTFOUND' || error.code === 'ENODATA') throw error;
          last = error;
        }
      }
    }
    throw last;
  }

  private read(reply: packet.DecodedPacket, name: string, rrtype: SpfRecordType): DnsAnswer<unknown> {
    const rcode = (reply as { rcode?: string }).rcode ?? 'NOERROR';
    switch (rcode) {
      case 'NOERROR': {
        const answer = recordsOf(reply, rrtype);
        if (answer.records.length === 0) throw new DnsQueryError('ENODATA', name, rrtype, negativeTtl(reply));
        return answer;
      }
      case 'NXDOMAIN':
        throw new DnsQueryError('ENOTFOUND', name, rrtype, negativeTtl(reply));
      case 'SERVFAIL':
        throw new DnsQueryError('ESERVFAIL', name, rrtype);
      case 'REFUSED':
        throw new DnsQueryError('EREFUSED', name, rrtype);
      default:
        throw new DnsQueryError('EBADRESP', name, rrtype);
    }
  }

  private async exchange(
    server: Server,
    name: string,
    rrtype: SpfRecordType,
    signal?: AbortSignal,
  ): Promise<packet.DecodedPacket> {
    const id = randomInt(0, 65_536);
    const query: packet.Packet = {
      type: 'query',
      id,
      flags: packet.RECURSION_DESIRED,
      questions: [{ type: rrtype, name, class: 'IN' }],
      additionals: [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: 4096,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ],
    };
    const reply = await this.udp(server, packet.encode(query), id, name, rrtype, signal);
    // Truncated (TC): the whole answer only comes over TCP (RFC 7766).
    return reply.flag_tc ? this.tcp(server, packet.encode(query), id, name, rrtype, signal) : reply;
  }

  private udp(
    server: Server,
    bytes: Buffer,
    id: number,
    name: string,
    rrtype: string,
    signal?: AbortSignal,
  ): Promise<packet.DecodedPacket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
      const done = (error: Error | null, reply?: packet.DecodedPacket): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.close();
        if (error) reject(error);
        else if (reply) resolve(reply);
      };
      const onAbort = (): void => done(new DnsQueryError('ETIMEOUT', name, rrtype));
      const timer = setTimeout(onAbort, this.options.queryTimeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('error', () => done(new DnsQueryError('ECONNREFUSED', name, rrtype)));
      socket.on('message', (message) => {
        let reply: packet.DecodedPacket;
        try {
          reply = packet.decode(message);
        } catch {
          return; // not a DNS message: keep waiting for the real answer
        }
        // An answer to another query (a late or spoofed one) is not ours.
        if (reply.id !== id || reply.type !== 'response') return;
        done(null, reply);
      });
      socket.send(bytes, server.port, server.host);
    });
  }

  private tcp(
    server: Server,
    bytes: Buffer,
    id: number,
    name: string,
    rrtype: string,
    signal?: AbortSignal,
  ): Promise<packet.DecodedPacket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: server.host, port: server.port });
      let received = Buffer.alloc(0);
      const done = (error: Error | null, reply?: packet.DecodedPacket): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        if (error) reject(error);
        else if (reply) resolve(reply);
      };
      const onAbort = (): void => done(new DnsQueryError('ETIMEOUT', name, rrtype));
      const timer = setTimeout(onAbort, this.options.queryTimeoutMs);
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('error', () => done(new DnsQueryError('ECONNREFUSED', name, rrtype)));
      socket.on('connect', () => {
        const length = Buffer.alloc(2);
        length.writeUInt16BE(bytes.length);
        socket.write(Buffer.concat([length, bytes]));
      });
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length > 65_537) return done(new DnsQueryError('EBADRESP', name, rrtype));
        if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
        try {
          const reply = packet.decode(received.subarray(2, 2 + received.readUInt16BE(0)));
          done(reply.id === id ? null : new DnsQueryError('EBADRESP', name, rrtype), reply);
        } catch {
          done(new DnsQueryError('EBADRESP', name, rrtype));
        }
      });
      socket.on('end', () => done(new DnsQueryError('EBADRESP', name, rrtype)));
    });
  }
}
