/**
 * UTF-16 strings for Win32 calls: what the W functions take and give, code unit by code unit, so
 * text in any language (and lone surrogates) goes through unchanged.
 * @module
 */

/** A NUL-terminated UTF-16LE copy of `text`, code unit by code unit (lone surrogates too). */
export function wide(text: string): Uint8Array<ArrayBuffer> {
  const units = new Uint16Array(text.length + 1);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  return new Uint8Array(units.buffer);
}

/** The NUL-terminated UTF-16 string at `pointer`, code unit by code unit. */
export function readWide(pointer: Deno.PointerObject, maxUnits = 1 << 20): string {
  const view = new Deno.UnsafePointerView(pointer);
  let text = "";
  for (let i = 0; i < maxUnits; i++) {
    const unit = view.getUint16(i * 2);
    if (unit === 0) break;
    text += String.fromCharCode(unit);
  }
  return text;
}
