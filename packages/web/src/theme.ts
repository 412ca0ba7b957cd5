/** Light/dark theme: the system's preference unless the user picked one (kept in localStorage). */
export type ThemeChoice = 'light' | 'dark' | 'system';
const KEY = 'corral.theme';

export function storedTheme(): ThemeChoice {
  const v = localStorage.getItem(KEY);
  return v === 'light' || v === 'dark' ? v : 'system';
}

export function effectiveTheme(choice: ThemeChoice = storedTheme()): 'light' | 'dark' {
  if (choice !== 'system') return choice;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(choice: ThemeChoice): void {
  if (choice === 'system') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, choice);
  document.documentElement.dataset.theme = effectiveTheme(choice);
  window.dispatchEvent(new Event('corral-theme'));
}

/** Follow the system when no choice was made. */
export function watchSystemTheme(): void {
  document.documentElement.dataset.theme = effectiveTheme();
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    if (storedTheme() === 'system') applyTheme('system');
  });
}
