// The app: decides which screen shows, keeps the status bar on every signed-in screen, and
// tells the core about user activity (so the idle lock measures the user, not the polling).
import type { AppInfo } from "./bindings/AppInfo";
import type { SyncState } from "./bindings/SyncState";
import { h, replace } from "./dom";
import { call } from "./ipc";
import { conflictsScreen } from "./screens/conflicts";
import { createScreen, detailScreen } from "./screens/detail";
import { historyScreen } from "./screens/history";
import { patientList } from "./screens/patients";
import { lockScreen, signInScreen } from "./screens/signin";
import { statusBar } from "./screens/statusbar";

const root = document.getElementById("app") as HTMLElement;
let info: AppInfo;
let shell: { main: HTMLElement; bar: HTMLElement } | null = null;
let lastQuery = "";

async function start(): Promise<void> {
  info = await call("app_info", null);
  if (info.unlocked) {
    showApp();
  } else if (info.profile) {
    shell = null;
    replace(root, lockScreen(info, () => void start(), signOut));
  } else {
    showSignIn();
  }
}

function showSignIn(): void {
  shell = null;
  replace(root, signInScreen(info, () => void start()));
}

async function signOut(): Promise<void> {
  try {
    await call("sign_out", null);
  } finally {
    info = await call("app_info", null);
    showSignIn();
  }
}

function onState(state: SyncState): void {
  if (state.local && !state.local.unlocked && shell) {
    void start();
  }
}

function showApp(): void {
  const main = h("main", { id: "main" });
  const bar = statusBar(onState, () => void showConflicts());
  const header = h(
    "header",
    { class: "top" },
    h("strong", {}, "Outpost"),
    h("span", { class: "muted", id: "who" }, `${info.profile?.full_name ?? ""} · ${info.profile?.role ?? ""} · ${info.profile?.tenant ?? ""}`),
    h(
      "nav",
      { "aria-label": "Main" },
      h("button", { class: "link", onclick: () => showList() }, "Patients"),
      h("button", { class: "link", onclick: () => void showConflicts() }, "Conflicts"),
      h("button", { class: "link", id: "lock-button", onclick: () => void call("lock", null).then(start) }, "Lock"),
      h("button", { class: "link", id: "sign-out", onclick: () => void signOut() }, "Sign out"),
    ),
  );
  shell = { main, bar };
  replace(root, header, main, bar);
  showList();
}

function show(screen: HTMLElement): void {
  if (shell) replace(shell.main, screen);
}

function showList(): void {
  const list = patientList(
    (id) => void showDetail(id),
    () => show(createScreen(canSeeClinical(), (id) => void showDetail(id), showList)),
    lastQuery,
  );
  list.querySelector("#patient-search")?.addEventListener("input", (e) => {
    lastQuery = (e.target as HTMLInputElement).value;
  });
  show(list);
}

function canSeeClinical(): boolean {
  return info.profile?.permissions.includes("patient.read_clinical") ?? false;
}

async function showDetail(id: string): Promise<void> {
  try {
    const detail = await call("patient", { id });
    show(
      detailScreen(
        detail,
        showList,
        () => void showHistory(id, `${detail.patient.given_name} ${detail.patient.family_name}`),
        () => void showDetail(id),
      ),
    );
  } catch (err) {
    show(h("section", { class: "card" }, h("p", { role: "alert" }, (err as { message: string }).message)));
  }
}

async function showHistory(id: string, name: string): Promise<void> {
  const history = await call("history", { id });
  show(historyScreen(name, history.entries, info.profile?.user_id ?? null, history.pending, () => void showDetail(id)));
}

async function showConflicts(): Promise<void> {
  const conflicts = await call("conflicts", null);
  show(conflictsScreen(conflicts, () => void showConflicts(), showList));
}

let lastTouch = 0;
for (const kind of ["keydown", "pointerdown"]) {
  window.addEventListener(kind, () => {
    const now = Date.now();
    if (shell && now - lastTouch > 5000) {
      lastTouch = now;
      void call("touch", null);
    }
  });
}

void start();
