// Arrow keys in a list of results: the selection moves by one and stays inside the list.

/** The new selected index after `key`, or null when the key does not move the selection. */
export function moveSelection(selected: number, count: number, key: string): number | null {
  if (key !== "ArrowDown" && key !== "ArrowUp") return null;
  return Math.max(0, Math.min(count - 1, selected + (key === "ArrowDown" ? 1 : -1)));
}
