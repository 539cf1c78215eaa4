import { resolve } from 'node:path';

/** The interop fixture: Todo, API gateway and search/IdP scenarios side by side. */
export const interopDir = resolve(import.meta.dirname, '../fixtures/authzen-interop');

/** The AuthZEN 1.0 certification fixture. */
export const certificationDir = resolve(import.meta.dirname, '../fixtures/authzen-certification');

/** Todo scenario users: PID (their entity id) and email (an alias). */
export const todoUsers = {
  rick: { pid: 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs', email: 'rick@the-citadel.com' },
  morty: { pid: 'CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs', email: 'morty@the-citadel.com' },
  beth: { pid: 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs', email: 'beth@the-smiths.com' },
} as const;
