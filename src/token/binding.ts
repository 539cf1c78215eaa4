import type { Claims } from './claims.js';

/**
 * What is done with a sender-constrained token (one with a `cnf` claim: DPoP-bound, RFC 9449, or
 * bound to a TLS client certificate, RFC 8705): `refuse` it, since this service never sees its
 * proof of possession, or take it where the gateway in front checked that proof (`checked-by-gateway`).
 */
export const tokenBindingModes = ['refuse', 'checked-by-gateway'] as const;
export type TokenBinding = (typeof tokenBindingModes)[number];

/** Why claims are refused as a sender-constrained token's, or undefined when they are not. */
export type BindingCheck = (claims: Claims) => string | undefined;

/**
 * Why verified claims cannot be taken, if they are a sender-constrained token's and are refused:
 * by the `tokenBinding` of their issuer's entry (`byIssuer`, by the verified `iss`), else by
 * `fallback` (TOKEN_BINDING). Any `cnf` counts, `{}` too: a binding of an unknown kind is still
 * one, and its proof is no more checked here than a known one's.
 */
export function bindingProblem(fallback: TokenBinding, byIssuer: ReadonlyMap<string, TokenBinding>): BindingCheck {
  return (claims) => {
    if (!Object.hasOwn(claims, 'cnf')) return undefined;
    const iss = claims['iss'];
    const own = typeof iss === 'string' ? byIssuer.get(iss) : undefined;
    if ((own ?? fallback) !== 'refuse') return undefined;
    const setting = own === undefined ? 'TOKEN_BINDING=checked-by-gateway' : 'the issuer\'s "tokenBinding": "checked-by-gateway" in TOKEN_CONFIG_FILE';
    return `the token is sender-constrained (cnf): its proof of possession is not checked here; set ${setting} where the gateway checks it`;
  };
}
