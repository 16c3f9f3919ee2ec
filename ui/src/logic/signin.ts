// What the sign-in and unlock forms say when the core refuses: chosen by error code.
import type { IpcError } from "../bindings/IpcError";

export function messageFor(err: IpcError): string {
  switch (err.code) {
    case "offline":
      return "The hub cannot be reached, and this computer has no data for this sign-in yet.";
    case "wrong_password":
      return "The password is not correct.";
    case "offline_grant_expired":
      return "Offline access has expired: connect to the hub to sign in.";
    case "tls_untrusted":
      return "The hub's certificate is not trusted by this computer. If your organisation runs its own certificate authority, enter the path of its certificate file (PEM, from your IT department) below and sign in again.";
    case "insecure_hub_url":
      return "Use the hub's https:// address: plain http:// is only for a hub on this computer.";
    default:
      return err.message;
  }
}
