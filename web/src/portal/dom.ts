// A tiny DOM builder for the portal pages. Text is always set as text, never parsed as HTML, so
// subjects, names and URLs that users typed cannot inject markup.

export type Child = Node | string | number | null | undefined | false;
/** Children nest in arrays to any depth; they are flattened in order. */
export type Children = Child | readonly Children[];

/**
 * Attribute values: `on*` functions become listeners, `testid` becomes `data-testid`, `value`
 * and `checked` are set as properties, `true` sets a boolean attribute, and `false`, `null` and
 * `undefined` leave the attribute out.
 */
export type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Children[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value as EventListener);
    } else if (key === 'testid') {
      el.dataset.testid = String(value);
    } else if (key === 'value' || key === 'checked') {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: readonly Children[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces `el`'s children. */
export function fill(el: Element, ...children: Children[]): void {
  el.replaceChildren();
  append(el, children);
}
