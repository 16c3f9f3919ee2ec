// One patient: demographics (clinical fields only for roles that may see them), edit with
// inline validation, delete with confirmation; and the form that registers a new patient.
import type { IpcError } from "../bindings/IpcError";
import type { PatientDetail } from "../bindings/PatientDetail";
import type { PatientFields } from "../bindings/PatientFields";
import { h, field, replace } from "../dom";
import { call } from "../ipc";
import { diffForm, formatField, visibleFields, type FieldSpec } from "../logic/fields";

function input(spec: FieldSpec, value: string): HTMLElement {
  if (spec.kind === "select" || spec.kind === "bool") {
    const options = spec.kind === "bool" ? ["yes", "no"] : (spec.options ?? []);
    const select = h("select", { name: spec.name }, h("option", { value: "" }, "—"));
    for (const option of options) {
      select.append(h("option", { value: option, selected: option === value }, option.replace(/_/g, " ")));
    }
    return select;
  }
  return h("input", {
    name: spec.name,
    type: spec.kind === "date" ? "date" : "text",
    inputmode: spec.kind === "number" ? "decimal" : undefined,
    value,
    required: spec.required,
  });
}

/** The patient form; `save` gets the changed fields and answers with an error to show, if any. */
function patientForm(
  specs: FieldSpec[],
  current: Record<string, unknown> | null,
  save: (changes: Record<string, unknown>) => Promise<IpcError | null>,
  cancel: () => void,
): HTMLElement {
  const form = h("form", { class: "patient-form", novalidate: true });
  const render = (texts: Record<string, string>, errors: Record<string, string>, general = "") => {
    replace(
      form,
      h(
        "div",
        { class: "grid" },
        ...specs.map((spec) => field(`field-${spec.name}`, spec.label, input(spec, texts[spec.name] ?? ""), errors[spec.name])),
      ),
      general ? h("div", { class: "form-error", role: "alert" }, general) : null,
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "primary", id: "patient-save" }, "Save"),
        h("button", { type: "button", onclick: cancel }, "Cancel"),
      ),
    );
  };
  const texts = () => {
    const out: Record<string, string> = {};
    for (const spec of specs) {
      const el = form.querySelector(`[name="${spec.name}"]`) as HTMLInputElement | HTMLSelectElement | null;
      out[spec.name] = el?.value ?? "";
    }
    return out;
  };
  render(Object.fromEntries(specs.map((s) => [s.name, formatField(s, current?.[s.name])])), {});
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const now = texts();
    const { changes, errors } = diffForm(specs, now, current);
    if (Object.keys(errors).length > 0) {
      render(now, errors);
      return;
    }
    const err = await save(changes);
    if (err) {
      render(now, err.field ? { [err.field]: err.message } : {}, err.field ? "" : err.message);
    }
  });
  return form;
}

export function detailScreen(
  detail: PatientDetail,
  back: () => void,
  showHistory: () => void,
  reload: () => void,
): HTMLElement {
  const p = detail.patient;
  const specs = visibleFields(detail.clinical);
  const body = h("div", {});
  const view = () =>
    replace(
      body,
      h(
        "dl",
        { class: "facts" },
        ...specs.flatMap((spec) => [
          h("dt", {}, spec.label),
          h("dd", { id: `value-${spec.name}` }, formatField(spec, (p as Record<string, unknown>)[spec.name]) || "—"),
        ]),
      ),
      h(
        "div",
        { class: "row" },
        detail.can_edit ? h("button", { class: "primary", id: "patient-edit", onclick: edit }, "Edit") : null,
        h("button", { id: "patient-history", onclick: showHistory }, "History"),
        detail.can_delete ? h("button", { class: "danger", id: "patient-delete", onclick: remove }, "Delete") : null,
      ),
    );
  const edit = () =>
    replace(
      body,
      patientForm(
        specs,
        p as unknown as Record<string, unknown>,
        async (changes) => {
          if (Object.keys(changes).length === 0) {
            view();
            return null;
          }
          try {
            await call("edit_patient", { id: p.id, changes });
            reload();
            return null;
          } catch (err) {
            return err as IpcError;
          }
        },
        view,
      ),
    );
  const remove = () =>
    replace(
      body,
      h(
        "div",
        { class: "confirm", role: "alertdialog", "aria-labelledby": "confirm-title" },
        h("p", { id: "confirm-title" }, `Delete ${p.given_name} ${p.family_name}? History and audit are kept.`),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            {
              class: "danger",
              id: "patient-delete-confirm",
              onclick: async () => {
                await call("delete_patient", { id: p.id });
                back();
              },
            },
            "Delete",
          ),
          h("button", { onclick: view }, "Keep"),
        ),
      ),
    );
  view();
  return h(
    "section",
    { class: "card detail", "aria-labelledby": "detail-title" },
    h("button", { class: "link", onclick: back }, "← Patients"),
    h("h1", { id: "detail-title" }, `${p.family_name}, ${p.given_name}`),
    h(
      "p",
      { class: "muted" },
      `Version ${p.version}`,
      detail.pending ? h("span", { class: "badge pending", id: "detail-pending" }, "Not yet synced") : null,
      detail.conflict ? h("span", { class: "badge conflict" }, "Conflict") : null,
    ),
    body,
  );
}

export function createScreen(clinical: boolean, created: (id: string) => void, cancel: () => void): HTMLElement {
  const specs = visibleFields(clinical);
  return h(
    "section",
    { class: "card detail", "aria-labelledby": "create-title" },
    h("h1", { id: "create-title" }, "New patient"),
    patientForm(
      specs,
      null,
      async (changes) => {
        try {
          const patient = await call("create_patient", { sex: "unknown", ...changes } as unknown as PatientFields);
          created(patient.id);
          return null;
        } catch (err) {
          return err as IpcError;
        }
      },
      cancel,
    ),
  );
}
