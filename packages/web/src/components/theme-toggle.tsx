import { useEffect, useState } from 'react';
import { applyTheme, effectiveTheme, storedTheme } from '../theme';

/** One button: switches between light and dark (the first press leaves "follow the system"). */
export function ThemeToggle() {
  const [theme, setTheme] = useState(effectiveTheme());
  useEffect(() => {
    const on = () => setTheme(effectiveTheme());
    window.addEventListener('corral-theme', on);
    return () => window.removeEventListener('corral-theme', on);
  }, []);
  const nextTheme = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      type="button"
      className="icon-button"
      onClick={() => applyTheme(nextTheme)}
      aria-label={`Switch to ${nextTheme} theme`}
      title={`${storedTheme() === 'system' ? 'Following the system; ' : ''}switch to ${nextTheme} theme`}
      data-testid="theme-toggle"
    >
      {theme === 'dark' ? '☀' : '☾'}
    </button>
  );
}
