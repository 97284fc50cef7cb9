// The time range control: a relative range (5m .. 30d) or an absolute from/to entered in the
// browser's zone or UTC. Reads and writes `state`; `onChange` runs the query again.

import { fromInputValue, toInputValue } from './format.js';
import { currentRange, state } from './state.js';

/** The picker over `#range`, `#absolute` (`#from`, `#to`) and `#tz`. */
export class TimeRange {
  constructor({ onChange, onZoneChange }) {
    this.select = document.getElementById('range');
    this.abs = document.getElementById('absolute');
    this.from = document.getElementById('from');
    this.to = document.getElementById('to');
    this.tz = document.getElementById('tz');
    this.select.addEventListener('change', () => {
      if (this.select.value === 'absolute') {
        const { start, end } = currentRange();
        state.range = 'absolute';
        state.from = start;
        state.to = end;
      } else {
        state.range = this.select.value;
        state.from = null;
        state.to = null;
      }
      this.sync();
      onChange();
    });
    const onAbs = () => {
      const f = fromInputValue(this.from.value, state.tz);
      const t = fromInputValue(this.to.value, state.tz);
      const bad = !Number.isFinite(f) || !Number.isFinite(t) || f >= t;
      this.from.setCustomValidity(bad ? 'From must be before To' : '');
      this.to.setCustomValidity(bad ? 'From must be before To' : '');
      this.from.setAttribute('aria-invalid', String(bad));
      this.to.setAttribute('aria-invalid', String(bad));
      if (bad) return;
      state.from = f;
      state.to = t;
      onChange();
    };
    this.from.addEventListener('change', onAbs);
    this.to.addEventListener('change', onAbs);
    this.tz.addEventListener('change', () => {
      state.tz = this.tz.value;
      this.sync();
      onZoneChange();
    });
  }

  /** Sets an absolute range (a zoom) and shows it. */
  setAbsolute(start, end) {
    state.range = 'absolute';
    state.from = Math.round(start);
    state.to = Math.round(end);
    this.sync();
  }

  /** Shows `state` in the controls. */
  sync() {
    this.select.value = state.range;
    this.tz.value = state.tz;
    this.abs.hidden = state.range !== 'absolute';
    if (state.range === 'absolute') {
      this.from.value = toInputValue(state.from, state.tz);
      this.to.value = toInputValue(state.to, state.tz);
    }
    const zone = state.tz === 'utc' ? 'UTC' : Intl.DateTimeFormat().resolvedOptions().timeZone || 'browser time';
    this.from.title = `From (${zone})`;
    this.to.title = `To (${zone})`;
  }
}
