/** A throw-away self-signed certificate for the bed's STARTTLS servers, made with openssl. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir, removeTempDir } from './process.js';

const run = promisify(execFile);

export interface CertPem {
  key: string;
  cert: string;
}

/** A fresh key and certificate for `hostname`, as PEM text. EC, because RSA keygen is slow. */
export async function selfSignedCert(hostname: string): Promise<CertPem> {
  const dir = await makeTempDir('cert');
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await run('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '3650'],
      ...['-subj', `/CN=${hostname}`, '-addext', `subjectAltName=DNS:${hostname}`],
    ]);
    return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
  } finally {
    await removeTempDir(dir);
  }
}
