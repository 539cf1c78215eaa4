/**
 * Bounds on the names and ids of a decision request, in code points, as zod's `.max()` counts them.
 * `/decide` holds its bodies to them, and `pdp check` and policy test cases their requests, so
 * nothing is decided offline that the server would refuse.
 */
export const requestLimits = Object.freeze({
  /** Longest subject type, action name or resource type. */
  maxName: 256,
  /** Longest subject or resource id. */
  maxId: 1024,
});
