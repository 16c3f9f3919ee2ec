// The update offer's panel: what it says, and whether it may install now.

export interface InstallView {
  message: string;
  canInstall: boolean;
}

/**
 * `waiting`: why the update cannot install yet (changes waiting to sync), or null;
 * `failure`: why the last attempt failed, if one did.
 */
export function installView(waiting: string | null, installing: boolean, failure: string | null): InstallView {
  if (installing) return { message: "Downloading and installing…", canInstall: false };
  return { message: waiting ?? failure ?? "Outpost restarts to finish installing.", canInstall: waiting === null };
}
