import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const ivBytes = 12;
const tagBytes = 16;

/**
 * Seals the cursors a search hands out (AES-256-GCM, a fresh 96-bit IV each): a sealed cursor
 * reads as noise, so it shows no candidate the caller was not given (a page can end on a
 * denied one), and one changed in any way does not open, so a page resumes only where a page
 * of this service ended.
 */
export class CursorSeal {
  readonly #key: Buffer;

  /**
   * `secret`: what every process whose cursors must open in the others derives its key from
   * (replicas, a restarted process). Without it the key is random: good for this process only.
   */
  constructor(secret?: string) {
    this.#key = secret === undefined ? randomBytes(32) : Buffer.from(hkdfSync('sha256', secret, '', 'invoice-pdp search cursor', 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const sealed = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return sealed.toString('base64url');
  }

  /** What `seal` was given, or undefined for anything `seal` with this key did not make. */
  open(sealed: string): string | undefined {
    const bytes = Buffer.from(sealed, 'base64url');
    // Node's base64url decoder skips what is not base64url: only its own spelling of the bytes counts.
    if (bytes.length < ivBytes + tagBytes || bytes.toString('base64url') !== sealed) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, ivBytes));
    decipher.setAuthTag(bytes.subarray(bytes.length - tagBytes));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(ivBytes, bytes.length - tagBytes)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
