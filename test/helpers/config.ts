import { expect } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** The configuration problems loadConfig finds in `env`, one line each without the heading; [] when it takes it. */
export function configProblems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message.split('\n').slice(1).map((line) => line.trim());
  }
  return [];
}
