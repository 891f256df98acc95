// bind.js - the page's one binder between its state and its controls: each property state.js's PROPS gives a
// control (CONTROLS: the element's id and the property's kind and limits) is written to its element and read
// back from it the same way. A text or pick is the element's value, a flag its checkbox, an int or num the
// number typed (taken only within the property's limits; an int is rounded), a list the boxes ticked inside
// the element (taken only where one is).
import { CONTROLS } from './state.js';

const el = (name) => document.getElementById(CONTROLS[name].id);
const boxes = (name) => [...el(name).querySelectorAll('input[type=checkbox]')];

// a control's value as its property takes it, or undefined where the property cannot take it
export function readControl(name) {
  const { kind, lim } = CONTROLS[name], e = el(name);
  if (kind === 'flag') return e.checked;
  if (kind === 'list') { const v = boxes(name).filter((b) => b.checked).map((b) => b.value); return v.length ? v : undefined; }
  if (kind === 'int' || kind === 'num') {
    const v = kind === 'int' ? Math.round(Number(e.value)) : Number(e.value);
    return v >= lim[0] && v <= lim[1] ? v : undefined;
  }
  return kind === 'pick' && !lim.includes(e.value) ? undefined : e.value;
}

// state -> controls: names (default: every control) from s
export function syncControls(s, names = Object.keys(CONTROLS)) {
  for (const name of names) {
    const { kind } = CONTROLS[name], e = el(name), v = s[name];
    if (kind === 'flag') e.checked = v;
    else if (kind === 'list') for (const b of boxes(name)) b.checked = v.includes(b.value);
    else e.value = String(v);
  }
}

// controls -> state: each of names whose control holds a value its property takes; the others keep theirs
export function readControls(s, names) {
  for (const name of names) {
    const v = readControl(name);
    if (v !== undefined) s[name] = v;
  }
}

// listens to names' controls (on `event`): a value the property takes is handed to onChange as a patch
// ({ name: value }) for the page to apply (state, URL, render); another is replaced by the state's (state())
export function bindControls(names, { state, event = 'change' }, onChange) {
  for (const name of names) {
    el(name).addEventListener(event, () => {
      const v = readControl(name);
      if (v === undefined) syncControls(state(), [name]); else onChange({ [name]: v }, name);
    });
  }
}
