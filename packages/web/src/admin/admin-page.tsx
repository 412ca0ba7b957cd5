import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { isStaff, useMe } from '../api/session';
import { UsersSection } from './users';
import { GroupsSection } from './groups';
import { ServerGroupsSection } from './server-groups';
import { GrantsSection } from './grants';
import { PolicySection } from './policy';

/**
 * Authentication features being built elsewhere (MFA policy, SSO, API tokens, applications): routed
 * now, each a clearly marked placeholder until its API lands. Replace the entry's component then.
 */
const COMING: { path: string; title: string; what: string }[] = [
  { path: '/mfa', title: 'MFA policy', what: 'Require a second factor for roles, and enrolment rules.' },
  { path: '/sso', title: 'Single sign-on', what: 'OIDC and SAML identity providers, and group mapping.' },
  { path: '/tokens', title: 'API tokens', what: 'Personal and service tokens with scopes and expiry.' },
  { path: '/applications', title: 'Applications', what: 'OAuth applications that act for users.' },
];

const SECTIONS = [
  { path: '/users', title: 'Users' },
  { path: '/groups', title: 'User groups' },
  { path: '/server-groups', title: 'Server groups' },
  { path: '/grants', title: 'Grants' },
  { path: '/policy', title: 'Approval policy' },
  ...COMING.map((c) => ({ path: c.path, title: c.title, coming: true })),
] as { path: string; title: string; coming?: boolean }[];

function Coming({ title, what }: { title: string; what: string }) {
  return (
    <section className="card placeholder" data-testid="admin-placeholder">
      <h2>
        {title} <span className="chip">not available yet</span>
      </h2>
      <p>{what}</p>
      <p className="muted">
        The gateway does not offer this API yet. This page will manage it once it does; nothing here changes anything
        today.
      </p>
    </section>
  );
}

/** Administration (staff and superusers): nested routes under /admin. */
export default function AdminPage() {
  const me = useMe();
  const [location] = useLocation();
  if (!isStaff(me.user.role))
    return (
      <section>
        <h1>Administration</h1>
        <p className="error-box">Administration is for staff and superusers.</p>
      </section>
    );
  return (
    <section>
      <h1>Administration</h1>
      <nav aria-label="Administration" className="subnav">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.path}>
              <Link
                href={s.path}
                aria-current={location === s.path ? 'page' : undefined}
                className={location === s.path ? 'active' : undefined}
              >
                {s.title}
                {s.coming && <span className="muted small"> (soon)</span>}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <Switch>
        <Route path="/users" component={UsersSection} />
        <Route path="/groups" component={GroupsSection} />
        <Route path="/server-groups" component={ServerGroupsSection} />
        <Route path="/grants" component={GrantsSection} />
        <Route path="/policy" component={PolicySection} />
        {COMING.map((c) => (
          <Route key={c.path} path={c.path}>
            <Coming title={c.title} what={c.what} />
          </Route>
        ))}
        <Route>
          <Redirect to="/users" replace />
        </Route>
      </Switch>
    </section>
  );
}
