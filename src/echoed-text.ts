/**
 * Most characters of a text from a request or a file that a message echoes: a header field is
 * bounded by the header size limit alone, a number in a body or file by its size.
 */
export const echoedLength = 64;

/** `text` as a message echoes it: its first 64 characters and an ellipsis when it is longer. */
export function echoed(text: string): string {
  return text.length <= echoedLength ? text : `${text.slice(0, echoedLength)}…`;
}

/** What a message says after `text` when it echoes it cut (see echoed): its length; nothing otherwise. */
export function cutLength(text: string): string {
  return text.length <= echoedLength ? '' : ` (${text.length} characters)`;
}
