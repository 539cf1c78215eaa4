import { X509Certificate } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, type Config } from '../config.js';
import { printable } from '../printable.js';
import { readRegularFile } from '../regular-file.js';

/** A CA bundle is a few certificates; a file far larger is not one. */
const maxCaFileBytes = 1024 * 1024;

const pemCertificate = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle. Node takes anything as `ca` without a word (text that holds
 * no certificate, a private key) and then trusts no server: every connection would fail with
 * an error naming the certificate, not the file. So the file is refused at start instead.
 */
function certificates(text: string): string[] {
  const found = text.match(pemCertificate) ?? [];
  if (found.length === 0) throw new Error('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  for (const [index, pem] of found.entries()) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new Error(`certificate ${index + 1} is not one: ${(error as Error).message}`, { cause: error });
    }
  }
  return found;
}

/**
 * The TLS options of the service's Redis connections: undefined for plain TCP, or where a
 * `rediss://` REDIS_URL asks for TLS with the default trust; otherwise the CAs of
 * REDIS_TLS_CA_FILE, in place of Node's, when it is set.
 */
export async function redisTlsFromConfig(config: Config): Promise<ConnectionOptions | undefined> {
  const path = config.REDIS_TLS_CA_FILE;
  if (path === undefined) return config.REDIS_TLS === 'true' ? {} : undefined;
  try {
    return { ca: certificates((await readRegularFile(path, maxCaFileBytes)).toString('utf8')) };
  } catch (error) {
    throw new ConfigError(printable(`REDIS_TLS_CA_FILE: ${path}: ${(error as Error).message}`), { cause: error });
  }
}
