// A small element builder: the UI is plain DOM, with no framework to ship or trust.
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | number | ((event: Event) => void) | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") {
      el.addEventListener(key.replace(/^on/, "").toLowerCase(), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** A labelled input: the label names the field for screen readers and for tests. */
export function field(id: string, label: string, input: HTMLElement, error?: string): HTMLElement {
  input.id = id;
  if (error) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${id}-error`);
  }
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    error ? h("div", { class: "field-error", id: `${id}-error`, role: "alert" }, error) : null,
  );
}

export function replace(target: HTMLElement, ...children: Child[]): void {
  target.replaceChildren();
  for (const child of children) {
    if (child) target.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
}
