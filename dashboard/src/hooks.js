import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { explain } from './api.js';

/**
 * Run fn now and every ms milliseconds (while the tab is visible); returns
 * {data, error, reload}. Errors are kept as text; the last data stays.
 */
export function usePoll(fn, ms, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async () => {
    try { setData(await fnRef.current()); setError(null); } catch (e) { setError(explain(e)); }
  }, []);
  useEffect(() => {
    let stop = false;
    let timer;
    const tick = async () => {
      if (stop) return;
      if (!document.hidden) await run();
      if (!stop && ms) timer = setTimeout(tick, ms);
    };
    tick();
    return () => { stop = true; clearTimeout(timer); };
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps
  return { data, error, reload: run };
}
