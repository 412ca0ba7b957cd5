import { useEffect, useRef, type ReactNode } from 'react';
import { Link, useLocation } from 'wouter';
import { isStaff, useMe, useSession } from '../api/session';
import { useApi } from '../api/use-api';
import { ThemeToggle } from './theme-toggle';

interface NavItem {
  href: string;
  label: string;
  staffOnly?: boolean;
}
const NAV: NavItem[] = [
  { href: '/servers', label: 'Servers' },
  { href: '/terminal', label: 'Terminal' },
  { href: '/work-sessions', label: 'Work sessions' },
  { href: '/recordings', label: 'Recordings' },
  { href: '/tokens', label: 'API tokens' },
  { href: '/security', label: 'Security' },
  { href: '/audit', label: 'Audit log', staffOnly: true },
  { href: '/admin', label: 'Administration', staffOnly: true },
];

function NavLink({ item, badge }: { item: NavItem; badge?: number }) {
  const [location] = useLocation();
  const active = location === item.href || location.startsWith(`${item.href}/`);
  return (
    <li>
      <Link href={item.href} aria-current={active ? 'page' : undefined} className={active ? 'active' : undefined}>
        {item.label}
        {badge ? (
          <span className="badge" aria-label={`${badge} waiting for you`}>
            {badge}
          </span>
        ) : null}
      </Link>
    </li>
  );
}

/** The frame of every signed-in page: skip link, header (workspace, theme, sign out), navigation. */
export function Layout({ children }: { children: ReactNode }) {
  const me = useMe();
  const { logout } = useSession();
  const approvals = useApi<{ items: unknown[] }>('/api/v1/approvals', 30_000);
  const waiting = approvals.data?.items.length ?? 0;
  // After a client-side page change, move focus to the content (screen readers announce the new page;
  // keyboard users continue from there, not from the link they pressed).
  const [location] = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [location]);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/servers" className="brand">
          <span className="logo" aria-hidden="true">
            ◆
          </span>{' '}
          Corral
        </Link>
        <span className="workspace" title="Workspace" data-testid="workspace-name">
          {me.workspace.name}
        </span>
        <span className="spacer" />
        <ThemeToggle />
        <span className="whoami" data-testid="whoami">
          {me.user.email} <span className="role">{me.user.role}</span>
        </span>
        <button type="button" onClick={() => void logout()}>
          Sign out
        </button>
      </header>
      <nav className="sidebar" aria-label="Main">
        <ul>
          {NAV.filter((n) => !n.staffOnly || isStaff(me.user.role)).map((n) => (
            <NavLink key={n.href} item={n} badge={n.href === '/work-sessions' ? waiting : undefined} />
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1} className="content">
        {me.enrollmentRequired && (
          <p className="banner error" role="alert">
            This workspace requires a second factor and you have none yet: until you enrol one, this session can only be
            used for enrolment.
          </p>
        )}
        {children}
      </main>
    </div>
  );
}
