// The patient form: which fields exist, which are clinical, and how form text becomes the
// values the core expects (and back).
import type { PatientFields } from "../bindings/PatientFields";

export type FieldKind = "text" | "date" | "select" | "bool" | "number";

export interface FieldSpec {
  name: keyof PatientFields & string;
  label: string;
  kind: FieldKind;
  required?: boolean;
  clinical?: boolean;
  options?: string[];
}

export const FIELDS: FieldSpec[] = [
  { name: "mrn", label: "MRN", kind: "text", required: true },
  { name: "given_name", label: "Given name", kind: "text", required: true },
  { name: "family_name", label: "Family name", kind: "text", required: true },
  { name: "birth_date", label: "Birth date", kind: "date", required: true },
  { name: "sex", label: "Sex", kind: "select", options: ["female", "male", "other", "unknown"] },
  { name: "phone", label: "Phone", kind: "text" },
  { name: "email", label: "Email", kind: "text" },
  { name: "address", label: "Address", kind: "text" },
  { name: "hypertension", label: "Hypertension", kind: "bool", clinical: true },
  { name: "heart_disease", label: "Heart disease", kind: "bool", clinical: true },
  { name: "ever_married", label: "Ever married", kind: "bool", clinical: true },
  {
    name: "work_type",
    label: "Work type",
    kind: "select",
    clinical: true,
    options: ["private", "self_employed", "govt_job", "children", "never_worked"],
  },
  { name: "residence_type", label: "Residence", kind: "select", clinical: true, options: ["urban", "rural"] },
  { name: "avg_glucose_level", label: "Avg. glucose (mg/dL)", kind: "number", clinical: true },
  { name: "bmi", label: "BMI", kind: "number", clinical: true },
  {
    name: "smoking_status",
    label: "Smoking",
    kind: "select",
    clinical: true,
    options: ["never_smoked", "formerly_smoked", "smokes", "unknown"],
  },
  { name: "stroke", label: "Stroke", kind: "bool", clinical: true },
];

export function visibleFields(clinical: boolean): FieldSpec[] {
  return FIELDS.filter((f) => clinical || !f.clinical);
}

export type JsonValue = string | number | boolean | null;

/** Form text → value; `{error}` when it cannot be one (shown next to the field). */
export function parseField(spec: FieldSpec, text: string): { value: JsonValue } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") {
    return spec.required ? { error: `${spec.label} is required` } : { value: null };
  }
  switch (spec.kind) {
    case "number": {
      const n = Number(trimmed);
      return Number.isFinite(n) ? { value: n } : { error: `${spec.label} must be a number` };
    }
    case "bool":
      if (trimmed === "yes") return { value: true };
      if (trimmed === "no") return { value: false };
      return { error: `${spec.label} must be yes or no` };
    case "date":
      return /^\d{4}-\d{2}-\d{2}$/.test(trimmed)
        ? { value: trimmed }
        : { error: `${spec.label} must be a date (YYYY-MM-DD)` };
    default:
      return { value: trimmed };
  }
}

/** Value → form text. */
export function formatField(spec: FieldSpec, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (spec.kind === "bool") return value ? "yes" : "no";
  return String(value);
}

/** The fields whose parsed value differs from the record's, or the errors by field. */
export function diffForm(
  specs: FieldSpec[],
  texts: Record<string, string>,
  current: Partial<Record<string, unknown>> | null,
): { changes: Record<string, JsonValue>; errors: Record<string, string> } {
  const changes: Record<string, JsonValue> = {};
  const errors: Record<string, string> = {};
  for (const spec of specs) {
    const parsed = parseField(spec, texts[spec.name] ?? "");
    if ("error" in parsed) {
      errors[spec.name] = parsed.error;
      continue;
    }
    const before = current?.[spec.name] ?? null;
    if (current === null ? parsed.value !== null : parsed.value !== before) {
      changes[spec.name] = parsed.value;
    }
  }
  return { changes, errors };
}
