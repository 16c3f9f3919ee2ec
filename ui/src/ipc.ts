// The one way the UI talks to the core: typed by the generated `Commands` contract. Errors
// arrive as `{code, message, field}`; callers decide by `code`.
import { invoke } from "@tauri-apps/api/core";
import type { Commands } from "./bindings/Commands";
import type { IpcError } from "./bindings/IpcError";

export type Command = keyof Commands & string;
export type Request<K extends Command> = Commands[K][0];
export type Response<K extends Command> = Commands[K][1];

export function isIpcError(value: unknown): value is IpcError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as IpcError).code === "string" &&
    typeof (value as IpcError).message === "string"
  );
}

export async function call<K extends Command>(command: K, req: Request<K>): Promise<Response<K>> {
  try {
    return (await invoke(command, { req })) as Response<K>;
  } catch (err) {
    if (isIpcError(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw { code: "local", message, field: null } satisfies IpcError;
  }
}
