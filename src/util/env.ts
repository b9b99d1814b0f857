// Environment variables where there is an environment: the engine also runs in browsers (src/browser/), which have no
// `process`.

/** process.env[name], or undefined where there is no process (a browser). */
export function envVar(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name];
}
