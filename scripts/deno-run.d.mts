// Types of scripts/deno-run.mjs, for the TypeScript tests and benchmarks that import it.
export const ROOT: string;
export const CLIS: Record<'flux-dump' | 'flux-restore', string>;
export const RUN_FLAGS: readonly string[];
export function brokerSocket(args: readonly string[], env?: Record<string, string | undefined>): string | undefined;
export function denoPermissions(cli: string, args?: readonly string[], env?: Record<string, string | undefined>, root?: string): string[];
export function denoBinary(root?: string): string;
export function denoCommand(cli: string, args: readonly string[], env?: Record<string, string | undefined>, root?: string): string[];
export function denoEnv(env?: Record<string, string | undefined>): Record<string, string | undefined>;
